"""The whole service on its embedded defaults: SQLite under var/ and the filesystem broker."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

import pytest

from db.urls import database_url
from tests.conftest import (
    LiveServer,
    Service,
    assert_fit_outcome,
    face_photo,
    faceless_photo,
    http,
    http_json,
    migrate,
    service_env,
    start_worker,
    stop_worker,
    wait_for_job,
)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("embedded-var")
    queue = f"test-{secrets.token_hex(4)}"
    # DATABASE_URL and BROKER_URL empty: the defaults a fresh checkout runs on.
    env = service_env("", "", var_dir, queue) | {"BROKER_URL": ""}
    migrate(database_url(None, var_dir))
    worker = start_worker(env, queue, var_dir / "worker.log")
    service = Service(
        env=env, database_url=database_url(None, var_dir), queue=queue, var_dir=var_dir
    )
    server = LiveServer(service.create_app())
    try:
        yield service, server
    finally:
        server.stop()
        stop_worker(worker)


def test_upload_to_result_on_sqlite_and_the_filesystem_broker(embedded):
    service, server = embedded
    assert service.database_url.startswith("sqlite:///" + str(service.var_dir))
    token = service.create_token()
    status, _, ready = http_json("GET", f"{server.url}/readyz")
    assert status == 200, ready
    for photo, expect in ((face_photo(), "succeeded"), (faceless_photo(), "NO_FACE")):
        status, _, body = http_json(
            "POST", f"{server.url}/jobs", token=token, files={"photo": ("p", photo, "image/jpeg")}
        )
        assert status == 202, body
        job = wait_for_job(server.url, body["id"], token)
        if expect == "NO_FACE":
            assert job["status"] == "failed" and job["error"]["code"] == "NO_FACE"
        else:
            assert_fit_outcome(job)
            fitted = job
    assert (service.var_dir / "broker" / "queue").is_dir()
    # Edits are versions on SQLite too; without Redis the job cache asks the database.
    path = f"{server.url}/jobs/{fitted['id']}"
    edit = {"base_version": 1, "params": {"continuous": {"jaw_width": 0.9}}}
    assert put_json(f"{path}/params", edit, token)[0] == 200
    assert put_json(f"{path}/params", edit, token) == (409, "VERSION_CONFLICT")
    status, _, job = http_json("GET", path, token=token)
    assert job["version"] == 2 and job["params"]["continuous"]["jaw_width"] == 0.9
    assert job["fitted_params"] == fitted["params"]
    status, headers, glb = http("GET", f"{path}/character.glb", token=token)
    assert status == 200 and glb[:4] == b"glTF"


def put_json(url: str, body: dict, token: str) -> tuple[int, str | None]:
    """(status, error code) of a JSON PUT with the client's token."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["error"]["code"]
