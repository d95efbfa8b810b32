"""Edits saved as versions (API and portal), the editor's pictures and the character file."""

# ruff: noqa: F811  (pytest fixtures imported from test_api are parameters here)

from __future__ import annotations

import json
import re
import secrets
import uuid

import pytest
from sqlalchemy import select

from db.clients import hash_token
from db.models import Job, ParamVersion, WebhookEvent
from facefit.rig.human.spec import human_spec
from tests.editing import SPEC, average_face, glb_json, store_succeeded_job, validate_glb

# The API tests' fixtures: a token, and an app whose fitting queue no worker reads (so a
# job_updated notice stays there to be seen); the queue is emptied at the end.
from tests.integration.test_api import (  # noqa: F401
    UNCONSUMED,
    app,
    auth,
    client,
    client_for_token,
    token,
    unconsumed_queue,
)


@pytest.fixture
def job_id(pg_service, token) -> uuid.UUID:
    with pg_service.sessions()() as session:
        owner = client_for_token(session, token).id
    return store_succeeded_job(pg_service.sessions(), client_id=owner)


def edit(**continuous) -> dict:
    return {"continuous": continuous}


def stored_versions(pg_service, job_id) -> list[int]:
    with pg_service.sessions()() as session:
        rows = session.scalars(
            select(ParamVersion.version).where(ParamVersion.job_id == job_id).order_by("version")
        )
        return list(rows)


def test_a_fit_is_version_1(client, token, job_id):
    job = client.get(f"/jobs/{job_id}", headers=auth(token)).get_json()
    assert job["version"] == 1
    assert job["params"] == job["fitted_params"] == average_face()


def test_a_saved_edit_is_the_next_version_and_the_fit_is_kept(client, token, job_id, pg_service):
    path = f"/jobs/{job_id}"
    assert client.get(path, headers=auth(token)).get_json()["version"] == 1  # now cached
    body = {"base_version": 1, "params": {**edit(jaw_width=0.8), "discrete": {"hairstyle": "bob"}}}
    saved = client.put(f"{path}/params", headers=auth(token), json=body)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["version"] == 2
    job = client.get(path, headers=auth(token)).get_json()
    assert job["version"] == 2
    assert job["params"]["continuous"]["jaw_width"] == 0.8
    assert job["params"]["discrete"]["hairstyle"] == "bob"
    # names the edit did not mention keep their value; the fit stays as it was
    assert job["params"]["continuous"]["eye_spacing"] == 0.5
    assert job["fitted_params"] == average_face()
    listed = client.get(f"{path}/versions", headers=auth(token)).get_json()["versions"]
    assert [(v["version"], v["author"]) for v in listed] == [(1, "fit"), (2, "client")]
    assert stored_versions(pg_service, job_id) == [1, 2]


def test_a_save_based_on_an_old_version_is_refused(client, token, job_id, pg_service):
    path = f"/jobs/{job_id}/params"
    first = client.put(
        path, headers=auth(token), json={"base_version": 1, "params": edit(nose_width=0.2)}
    )
    assert first.status_code == 200
    stale = client.put(
        path, headers=auth(token), json={"base_version": 1, "params": edit(nose_width=0.9)}
    )
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "VERSION_CONFLICT"
    job = client.get(f"/jobs/{job_id}", headers=auth(token)).get_json()
    assert job["version"] == 2 and job["params"]["continuous"]["nose_width"] == 0.2
    assert stored_versions(pg_service, job_id) == [1, 2]


@pytest.mark.parametrize(
    "params",
    [
        edit(jaw_width=1.5),
        edit(jaw_width=-0.1),
        edit(jaw_width="wide"),
        edit(jaw_width=True),
        edit(third_eye=0.5),
        {"discrete": {"hairstyle": "mohawk"}},
        {"discrete": {"hairstyle": 99}},
        {"discrete": {"wings": "none"}},
        {"continuous": [0.5]},
        {"colour": {}},
        {"rig": "another-game/1.0"},
        "jaw_width=0.8",
    ],
    ids=lambda p: re.sub(r"\W+", "-", str(p))[:40],
)
def test_invalid_values_are_refused_and_nothing_is_stored(
    client, token, job_id, pg_service, params
):
    answer = client.put(
        f"/jobs/{job_id}/params", headers=auth(token), json={"base_version": 1, "params": params}
    )
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["code"] == "INVALID_PARAMS"
    assert stored_versions(pg_service, job_id) == [1]
    assert client.get(f"/jobs/{job_id}", headers=auth(token)).get_json()["version"] == 1


def test_a_save_needs_a_base_version_and_the_owner(client, token, job_id, pg_service):
    path = f"/jobs/{job_id}/params"
    missing = client.put(path, headers=auth(token), json={"params": edit(jaw_width=0.2)})
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "BAD_REQUEST"
    other = pg_service.create_token()
    foreign = client.put(path, headers=auth(other), json={"base_version": 1, "params": {}})
    assert foreign.status_code == 404
    assert stored_versions(pg_service, job_id) == [1]


@pytest.mark.parametrize("broker", ["redis", "no-redis"])
def test_a_save_reaches_every_process_that_cached_the_job(pg_service, token, job_id, broker):
    """Two web apps stand for two gunicorn processes; the second cached version 1 first."""
    config = {} if broker == "redis" else {"BROKER_URL": "filesystem://"}
    reader = pg_service.create_app(**config).test_client()
    writer = pg_service.create_app(**config).test_client()
    path = f"/jobs/{job_id}"
    assert reader.get(path, headers=auth(token)).get_json()["version"] == 1
    assert reader.get(path, headers=auth(token)).get_json()["version"] == 1  # from the cache
    body = {"base_version": 1, "params": edit(mouth_width=0.1)}
    assert writer.put(f"{path}/params", headers=auth(token), json=body).status_code == 200
    job = reader.get(path, headers=auth(token)).get_json()
    assert job["version"] == 2 and job["params"]["continuous"]["mouth_width"] == 0.1


def test_a_save_sends_the_game_server_a_job_updated_callback(pg_service, token, app):
    with pg_service.sessions()() as session:
        owner = client_for_token(session, token).id
    job_id = store_succeeded_job(
        pg_service.sessions(), client_id=owner, callback_url="https://game.example/hook"
    )
    body = {"base_version": 1, "params": edit(lip_color=0.7)}
    assert (
        app.test_client().put(f"/jobs/{job_id}/params", headers=auth(token), json=body).status_code
        == 200
    )
    with pg_service.sessions()() as session:
        events = session.scalars(select(WebhookEvent).where(WebhookEvent.job_id == job_id)).all()
    assert [(e.type, json.loads(e.body)["status"]) for e in events] == [
        ("job.updated", "succeeded")
    ]


def test_the_character_file_is_valid_gltf_with_the_saved_parameters(
    client, token, job_id, tmp_path
):
    body = {"base_version": 1, "params": {**edit(skin_tone=0.9), "discrete": {"hairstyle": "bob"}}}
    assert client.put(f"/jobs/{job_id}/params", headers=auth(token), json=body).status_code == 200
    answer = client.get(f"/jobs/{job_id}/character.glb", headers=auth(token))
    assert answer.status_code == 200 and answer.mimetype == "model/gltf-binary"
    report = validate_glb(answer.get_data(), tmp_path)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    document = glb_json(answer.get_data())
    materials = {m["name"] for m in document["materials"]}
    assert {"skin", "hair", "eyes", "iris", "brows", "lips"} <= materials
    params = document["extras"]["params"]
    assert params["continuous"]["skin_tone"] == 0.9 and params["discrete"]["hairstyle"] == "bob"
    skin = next(m for m in document["materials"] if m["name"] == "skin")
    assert skin["pbrMetallicRoughness"]["baseColorFactor"][0] < 0.2  # dark skin, linear RGB
    assert client.get(f"/jobs/{job_id}/character.glb").status_code == 401


def test_the_character_file_follows_the_rig_switch(
    client, token, pg_service, monkeypatch, tmp_path
):
    monkeypatch.setenv("FACEFIT_RIG", "human")
    spec = human_spec()
    params = spec.decode(spec.encode({"discrete": {"hairstyle": "bob01"}}))
    with pg_service.sessions()() as session:
        owner = client_for_token(session, token).id
    job_id = store_succeeded_job(pg_service.sessions(), params, client_id=owner)
    answer = client.get(f"/jobs/{job_id}/character.glb", headers=auth(token))
    assert answer.status_code == 200 and answer.mimetype == "model/gltf-binary"
    report = validate_glb(answer.get_data(), tmp_path)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    document = glb_json(answer.get_data())
    assert document["extras"]["params"] == params
    materials = {m["name"] for m in document["materials"]}
    assert {"skin", "lips", "eyes", "iris", "lashes", "brows", "hair"} <= materials


def test_the_openapi_document_describes_versions_and_the_character(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "put" in paths["/jobs/{id}/params"]
    assert {"200", "409", "422"} <= set(paths["/jobs/{id}/params"]["put"]["responses"])
    assert "/jobs/{id}/versions" in paths and "/jobs/{id}/character.glb" in paths


# --- the portal's editor -----------------------------------------------------------------


@pytest.fixture
def player(pg_service, client):
    """A browser with a player session that owns one finished job."""
    job_id = store_succeeded_job(pg_service.sessions(), portal_key_hash=browser_key(client))
    return client, job_id


def browser_key(client) -> str:
    """Give the browser a job key, as an upload does; return the digest the job row keeps."""
    key = secrets.token_urlsafe(32)
    with client.session_transaction() as session:
        session["portal_keys"] = [key]
    return hash_token(key)


def csrf_token(client, job_id) -> str:
    page = client.get(f"/j/{job_id}/result").get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', page).group(1)


def test_the_portal_saves_an_edit_with_its_csrf_token(player, pg_service):
    client, job_id = player
    body = {"base_version": 1, "params": edit(brow_height=0.3)}
    refused = client.post(f"/j/{job_id}/params", json=body)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "CSRF_FAILED"
    saved = client.post(
        f"/j/{job_id}/params", json=body, headers={"X-CSRFToken": csrf_token(client, job_id)}
    )
    assert saved.status_code == 200 and saved.get_json()["version"] == 2
    with pg_service.sessions()() as session:
        assert session.get(Job, job_id).params_version == 2
        assert session.get(ParamVersion, (job_id, 2)).author == "player"
    page = client.get(f"/j/{job_id}/result").get_data(as_text=True)
    assert 'data-version="2"' in page and 'data-fitted="500"' in page


def test_the_editor_draws_the_parameters_it_is_given(player):
    client, job_id = player
    n, groups = len(SPEC["continuous"]), len(SPEC["discrete"])
    query = {"c": ",".join(["500"] * n), "d": ",".join(["0"] * groups), "s": 128}
    average = client.get(f"/j/{job_id}/render.jpg", query_string=query)
    assert average.status_code == 200 and average.mimetype == "image/jpeg"
    assert "max-age" in average.headers["Cache-Control"]
    wide = client.get(f"/j/{job_id}/render.jpg", query_string={**query, "c": ",".join(["900"] * n)})
    assert wide.status_code == 200 and wide.get_data() != average.get_data()
    for bad in ({"c": "1,2"}, {"c": ",".join(["1001"] * n)}, {"d": "0,0,99"}, {"s": 4000}):
        answer = client.get(f"/j/{job_id}/render.jpg", query_string={**query, **bad})
        assert answer.status_code == 422, bad
        assert answer.get_json()["error"]["code"] == "INVALID_PARAMS"


def rendered(budget: int, pg_service, sizes: list[int]) -> list[int]:
    """The answers to a new player asking for pictures of `sizes` under a render `budget`."""
    client = pg_service.create_app(RENDER_COST_PER_MINUTE_PER_PLAYER=budget).test_client()
    job_id = store_succeeded_job(pg_service.sessions(), portal_key_hash=browser_key(client))
    query = {"c": ",".join(["500"] * len(SPEC["continuous"])), "d": "0,0,0"}
    return [
        client.get(f"/j/{job_id}/render.jpg", query_string={**query, "s": s}).status_code
        for s in sizes
    ]


def test_the_editor_is_rate_limited_per_player(pg_service, redis_url):
    assert rendered(2, pg_service, [128, 128, 128]) == [200, 200, 429]
    # a large picture spends more of the budget than a thumbnail (its render takes longer)
    assert rendered(5, pg_service, [512, 72, 72]) == [200, 200, 429]


def test_the_portal_character_file_and_three_js_are_served(player, tmp_path):
    client, job_id = player
    answer = client.get(f"/j/{job_id}/character.glb")
    assert answer.status_code == 200
    assert validate_glb(answer.get_data(), tmp_path)["issues"]["numErrors"] == 0
    loader = client.get("/vendor/three/examples/jsm/loaders/GLTFLoader.js")
    assert loader.status_code == 200 and loader.mimetype == "text/javascript"
    text = loader.get_data(as_text=True)
    assert "from 'three'" not in text and "/vendor/three/build/three.module.js" in text
    assert client.get("/vendor/../package.json").status_code == 404
    assert client.get("/vendor/gltf-validator/index.js").status_code == 404
