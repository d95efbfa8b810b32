"""Every route that shows a job, against every visitor who must not see it.

Two succeeded jobs with their images: one a browser uploaded through the portal, one a game
server submitted through the API. Each portal route is tried with no cookie, another
player's cookie and a planted (fixated) cookie; each API route with no token and another
client's token; and each job on the other side (API jobs never on the portal, portal jobs
never on the API). The owner's request is tried too, so that a 404 means "not yours" and not
"not there".
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import pytest

from db import jobs as job_store
from db import webhooks as webhook_store
from db.models import Job
from facefit.rig.spec import load_spec
from tests.conftest import face_photo, faceless_photo, forget_queue
from tests.editing import average_face

UNCONSUMED = "test-owners-" + uuid.uuid4().hex[:8]  # no worker touches these jobs
# (method, path after the job's own): every route that shows or changes a job. A route added
# with a job id in its path joins these (test_the_matrix_covers_every_route_of_a_job).
SPEC = load_spec()
RENDER = f"/render.jpg?c={','.join(['500'] * len(SPEC.continuous))}&d=0,0,0&s=128"
PORTAL_ROUTES = [
    ("GET", ""),
    ("GET", "/status.json"),
    ("GET", "/result"),
    ("GET", "/photo"),
    ("GET", "/aligned.png"),
    ("GET", "/preview.png"),
    ("GET", "/params.json"),
    ("POST", "/params"),
    ("GET", RENDER),
    ("GET", "/character.glb"),
]
API_ROUTES = [
    ("GET", ""),
    ("GET", "/preview.png"),
    ("GET", "/deliveries"),
    ("POST", "/deliveries/{webhook_id}/redeliver"),
    ("PUT", "/params"),
    ("GET", "/versions"),
    ("GET", "/character.glb"),
]
# What each route answers its owner, where that is not 200 (a job page sends a succeeded
# job to its result; a redelivery is queued).
PORTAL_OWNER_STATUS = {("GET", ""): 302}
API_OWNER_STATUS = {("POST", "/deliveries/{webhook_id}/redeliver"): 202}
EDIT = {"base_version": 1, "params": {"continuous": {"brow_height": 0.4}}}


def _route_id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1].split('?')[0] or '/'}"


@dataclass
class Jobs:
    app: object
    portal_job: str
    api_job: str
    owner_cookie: str  # the uploading browser's session cookie
    other_player_cookie: str  # a browser that uploaded a photo of its own
    planter_cookie: str  # the cookie an attacker planted in the owner's browser, as kept
    token: str
    other_token: str
    webhook_id: str  # a callback of the API job, for the redeliver route


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _browser(app, cookie: str | None = None):
    client = app.test_client()
    # An address of its own: the per-address upload limit of other tests is not spent here.
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    if cookie is not None:
        client.set_cookie("session", cookie)
    return client


def _portal_upload(client) -> str:
    response = client.post("/upload", data={"photo": (io.BytesIO(face_photo()), "me.jpg")})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def _succeed(pg_service, job_id: str) -> None:
    """Finish the job as the worker would, with both result images."""
    with pg_service.sessions().begin() as session:
        job = uuid.UUID(job_id)
        job_store.store_image(session, job, "aligned", faceless_photo())
        job_store.store_image(session, job, "preview", faceless_photo())
        params = average_face()
        job_store.complete_job(
            session, job, params=params, fit={"iterations": 1, "loss": 0.1, "similarity": 0.9},
            models={}, rig=params["rig"], loss_curve=[],
        )  # fmt: skip


@pytest.fixture(scope="module")
def jobs(pg_service, redis_url):
    app = pg_service.create_app(
        WTF_CSRF_ENABLED=False, FIT_QUEUE=UNCONSUMED, JOBS_PER_MINUTE_PER_IP=1000
    )
    # The attacker uploads once (their session now opens their own job), then plants a copy
    # of that cookie in the victim's browser, which uploads with it.
    attacker = _browser(app)
    _portal_upload(attacker)
    planted = _cookie(attacker)
    owner = _browser(app, planted)
    portal_job = _portal_upload(owner)
    other_player = _browser(app)
    _portal_upload(other_player)

    token, other_token = pg_service.create_token(), pg_service.create_token()
    api_job = (
        app.test_client()
        .post("/jobs", headers=_auth(token), data={"photo": (io.BytesIO(face_photo()), "p.jpg")})
        .get_json()["id"]
    )
    for job_id in (portal_job, api_job):
        _succeed(pg_service, job_id)
    with pg_service.sessions().begin() as session:  # a callback the API job's client can see
        job = session.get_one(Job, uuid.UUID(api_job))
        job.callback_url = "https://game.example/hook"
        webhook_id = webhook_store.record_job_event(session, job, "job.succeeded").id
    yield Jobs(app, portal_job, api_job, _cookie(owner), _cookie(other_player), planted,
               token, other_token, webhook_id)  # fmt: skip
    forget_queue(redis_url, UNCONSUMED)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _portal_request(jobs: Jobs, job_id: str, route: tuple[str, str], cookie: str | None):
    method, path = route
    body = EDIT if method == "POST" else None
    return _browser(jobs.app, cookie).open(
        f"/j/{job_id}{path}", method=method, headers={"Accept": "*/*"}, json=body
    )


def _api_request(jobs: Jobs, job_id: str, route: tuple[str, str], token: str | None):
    method, path = route
    return jobs.app.test_client().open(
        f"/jobs/{job_id}{path.format(webhook_id=jobs.webhook_id)}",
        method=method,
        headers=_auth(token) if token else {},
        json=EDIT if method == "PUT" else None,
    )


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=_route_id)
def test_the_uploading_browser_sees_every_route_of_its_job(jobs, route):
    response = _portal_request(jobs, jobs.portal_job, route, jobs.owner_cookie)
    assert response.status_code == PORTAL_OWNER_STATUS.get(route, 200), route


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=_route_id)
@pytest.mark.parametrize("visitor", ["no-cookie", "another-player", "planted-cookie"])
def test_nobody_else_sees_a_portal_job(jobs, route, visitor):
    cookie = {"no-cookie": None, "another-player": jobs.other_player_cookie,
              "planted-cookie": jobs.planter_cookie}[visitor]  # fmt: skip
    response = _portal_request(jobs, jobs.portal_job, route, cookie)
    assert response.status_code == 404, response.get_data()[:200]
    assert b"NOT_FOUND" in response.get_data()


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=_route_id)
@pytest.mark.parametrize("visitor", ["no-cookie", "a-player"])
def test_an_api_job_is_never_on_the_portal(jobs, route, visitor):
    cookie = None if visitor == "no-cookie" else jobs.owner_cookie
    response = _portal_request(jobs, jobs.api_job, route, cookie)
    assert response.status_code == 404, response.get_data()[:200]


@pytest.mark.parametrize("route", API_ROUTES, ids=_route_id)
def test_the_submitting_client_sees_every_api_route_of_its_job(jobs, route):
    response = _api_request(jobs, jobs.api_job, route, jobs.token)
    assert response.status_code == API_OWNER_STATUS.get(route, 200), route


@pytest.mark.parametrize("route", API_ROUTES, ids=_route_id)
def test_no_token_is_unauthorized_and_another_clients_token_finds_nothing(jobs, route):
    assert _api_request(jobs, jobs.api_job, route, None).status_code == 401
    response = _api_request(jobs, jobs.api_job, route, jobs.other_token)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("route", API_ROUTES, ids=_route_id)
def test_a_portal_job_is_never_on_the_api(jobs, route):
    assert _api_request(jobs, jobs.portal_job, route, jobs.token).status_code == 404
    # The player's own cookie is no API credential either.
    client = _browser(jobs.app, jobs.owner_cookie)
    method, path = route
    assert client.open(f"/jobs/{jobs.portal_job}{path}", method=method).status_code == 401


def test_the_matrix_covers_every_route_of_a_job(jobs):
    """Every route with a job id in its path is tried above, the ones added later too."""
    adapter = jobs.app.url_map.bind("localhost")
    job_id = uuid.uuid4()
    tried = {
        (
            method,
            adapter.match(
                f"{prefix}{job_id}{path.format(webhook_id='w').split('?')[0]}", method=method
            )[0],
        )
        for prefix, routes in (("/j/", PORTAL_ROUTES), ("/jobs/", API_ROUTES))
        for method, path in routes
    }
    routes = {
        (method, rule.endpoint)
        for rule in jobs.app.url_map.iter_rules()
        if "job_id" in rule.arguments
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes <= tried, f"add to the matrix: {sorted(routes - tried)}"


def test_a_browser_keeps_its_recent_jobs_in_a_bounded_cookie(pg_service, jobs):
    from web.portal import KEYS_KEPT

    browser = _browser(jobs.app)
    first = _portal_upload(browser)
    for _ in range(KEYS_KEPT):
        _portal_upload(browser)
    assert len(_cookie(browser)) < 3000  # a browser keeps up to 4 kB per cookie
    assert browser.get(f"/j/{first}/status.json").status_code == 404  # the oldest dropped out
    assert browser.get(f"/j/{_portal_upload(browser)}/status.json").status_code == 200
