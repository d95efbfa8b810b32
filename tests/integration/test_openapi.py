"""`/openapi.json` says what the service does: schemathesis, with all its checks, against it.

The service runs on a live port with real PostgreSQL and Redis and two real API clients (so
that schemathesis's object-level authorization check has a second identity to try). Its
settings are in `schemathesis.toml` beside this file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import LiveServer, forget_queue, http

UNCONSUMED = "test-openapi-" + uuid.uuid4().hex[:8]  # accepted jobs wait here, never fitted
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def live(pg_service, redis_url):
    # Hundreds of submissions in a minute: the schema, not the rate limit, is under test.
    app = pg_service.create_app(FIT_QUEUE=UNCONSUMED, JOBS_PER_MINUTE_PER_CLIENT=100_000)
    server = LiveServer(app)
    yield server
    server.stop()
    forget_queue(redis_url, UNCONSUMED)


@pytest.mark.timeout(240)
def test_the_service_behaves_as_its_openapi_document_says(pg_service, live, tmp_path):
    users = [
        {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for name, token in (("game-a", pg_service.create_token()),
                            ("game-b", pg_service.create_token()))
    ]  # fmt: skip
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auth": users}))
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
         f"{live.url}/openapi.json", "--checks", "all", "--auth-wfc", str(auth),
         "--no-color", "--report", "junit", "--report-dir", str(tmp_path)],
        cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": ""}, capture_output=True,
        text=True, timeout=200,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


def test_a_method_a_route_lacks_is_405_with_allow_and_the_json_error(live):
    for method, path, allowed in [
        ("DELETE", "/jobs", {"POST"}),
        ("PUT", f"/jobs/{uuid.uuid4()}", {"GET", "HEAD"}),
        ("POST", "/healthz", {"GET", "HEAD"}),
    ]:
        status, headers, body = http(method, live.url + path)
        assert status == 405, (method, path)
        assert {m.strip() for m in headers["Allow"].split(",")} >= allowed
        assert json.loads(body)["error"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/no/such/route", None, 404, "NOT_FOUND"),
        ("GET", "/jobs/not-a-uuid", None, 404, "NOT_FOUND"),
        ("POST", "/jobs", b"--x\r\nbroken", 400, "BAD_REQUEST"),
    ],
    ids=["unknown-route", "bad-id", "broken-multipart"],
)
def test_every_error_of_the_app_is_the_json_error_shape(
    pg_service, live, method, path, body, status, code
):
    import urllib.request

    token = pg_service.create_token()
    request = urllib.request.Request(
        live.url + path, data=body, method=method,
        headers={"Authorization": f"Bearer {token}", "Accept": "*/*",
                 "Content-Type": "multipart/form-data; boundary=x"},
    )  # fmt: skip
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("no error")
    except urllib.error.HTTPError as error:
        assert error.code == status
        assert error.headers["Content-Type"] == "application/json"
        assert json.loads(error.read())["error"]["code"] == code
