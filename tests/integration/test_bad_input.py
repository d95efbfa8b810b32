"""Hostile and broken uploads and requests: each gets its documented 4xx or a failed job's code.

The corpus is generated (`tests/bad_inputs.py`); the photos that pass the upload checks go
through the real worker. Never a 5xx, never a worker crash, nothing written outside the
database.
"""

from __future__ import annotations

import io
import secrets
import tempfile
import urllib.parse
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import Job
from tests.bad_inputs import FACE, corpus
from tests.conftest import ROOT, face_photo, faceless_photo
from tests.outcomes import expected_face_outcome, wait_for_jobs

CASES = {case.name: case for case in corpus()}
MARKER = f"facefit-bad-{secrets.token_hex(4)}"  # in client file names: must never reach a disk
HOSTILE = {
    "sql-quote": "' OR '1'='1",
    "sql-drop": "'; DROP TABLE jobs; --",
    "sql-union": "1 UNION SELECT token_hash FROM api_clients --",
    "traversal": "../../../../etc/passwd",
    "traversal-encoded": "..%2f..%2f..%2fetc%2fpasswd",
    "traversal-windows": "..\\..\\..\\windows\\win.ini",
    "nul": "photo\x00.jpg",
    "script": "<script>alert(document.cookie)</script>",
    "template": "{{7*7}}${7*7}",
    "long": "A" * 8000,
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def token(pg_service) -> str:
    return pg_service.create_token()


@pytest.fixture(scope="module")
def app(pg_service):
    # Many uploads in a minute from one client: the corpus, not the rate limit, is under test.
    return pg_service.create_app(JOBS_PER_MINUTE_PER_CLIENT=10_000)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def var_files(pg_service) -> set[str]:
    return {
        str(path.relative_to(pg_service.var_dir))
        for path in pg_service.var_dir.rglob("*")
        if path.is_file() and not path.name.endswith(".log")
    }


@pytest.fixture(scope="module")
def files_before(pg_service) -> set[str]:
    return var_files(pg_service)


@pytest.fixture(scope="module")
def corpus_answers(client, token, pg_service, files_before):
    """Every corpus photo uploaded once; accepted ones waited for until finished."""
    answers = {}
    for name, case in CASES.items():
        data = {"photo": (io.BytesIO(case.content), f"../../{MARKER}-{case.filename}")}
        response = client.post(
            "/jobs", headers=auth(token), data=data, content_type="multipart/form-data"
        )
        answers[name] = (response.status_code, response.get_json())
    accepted = {name: body["id"] for name, (status, body) in answers.items() if status == 202}
    jobs = wait_for_jobs(pg_service.sessions(), accepted.values(), timeout=240)
    return {
        name: (status, body, jobs.get(body["id"]) if status == 202 else None)
        for name, (status, body) in answers.items()
    }


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 40
    assert {case.status for case in CASES.values()} >= {202, 413, 415, 422}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_upload_gets_its_documented_answer(corpus_answers, pg_service, name):
    case = CASES[name]
    status, body, job = corpus_answers[name]
    assert status == case.status, body
    if status != 202:
        assert body["error"]["code"] == case.code, body
        assert "Traceback" not in body["error"]["message"]
        return
    expected = expected_face_outcome(pg_service.env) if case.code == FACE else ("failed", case.code)
    assert (job.status, job.error_code) == expected, job.error_message
    assert job.attempts == 1
    if job.status == "failed":
        assert job.error_message and job.params is None


def test_refused_uploads_leave_no_job(client, token, pg_service):
    with pg_service.sessions()() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    for case in CASES.values():
        if case.status != 202 and len(case.content) < 2**20:
            data = {"photo": (io.BytesIO(case.content), case.filename)}
            assert client.post("/jobs", headers=auth(token), data=data).status_code == case.status
    with pg_service.sessions()() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


def test_the_worker_survived_the_corpus_and_nothing_reached_the_disk(
    corpus_answers, pg_service, files_before
):
    assert all(status < 500 for status, _, _ in corpus_answers.values())
    assert pg_service.worker.process.poll() is None, pg_service.worker.log()
    log = pg_service.worker.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "INTERNAL_ERROR" not in log
    assert var_files(pg_service) == files_before
    for folder in (ROOT, Path(tempfile.gettempdir()), Path("/etc")):
        assert not list(folder.glob(f"*{MARKER}*")), folder


def _multipart(boundary: str, *parts: bytes, end: bool = True) -> bytes:
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    return body + (f"--{boundary}--\r\n".encode() if end else b"")


PHOTO_PART = (
    b'Content-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
)

# name: (headers beyond the token, body, expected status, expected code)
RAW_REQUESTS = {
    "no-content-type": ({}, b"\xff\xd8\xff raw bytes", 400, "BAD_REQUEST"),
    "json-body": ({"Content-Type": "application/json"}, b'{"photo": "x"}', 400, "BAD_REQUEST"),
    "urlencoded": (
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"photo=%FF%D8%FF",
        400,
        "BAD_REQUEST",
    ),
    "multipart-without-boundary": (
        {"Content-Type": "multipart/form-data"},
        _multipart("b", PHOTO_PART + b"\xff\xd8\xff"),
        400,
        "BAD_REQUEST",
    ),
    "multipart-other-boundary": (
        {"Content-Type": "multipart/form-data; boundary=expected"},
        _multipart("different", PHOTO_PART + b"\xff\xd8\xff"),
        400,
        "BAD_REQUEST",
    ),
    "multipart-never-closed": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        _multipart("b", PHOTO_PART + b"\xff\xd8\xff\xe0", end=False),
        400,
        "BAD_REQUEST",
    ),
    "multipart-part-without-headers": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        b"--b\r\n\xff\xd8\xff\r\n--b--\r\n",
        400,
        "BAD_REQUEST",
    ),
    "multipart-garbage": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        secrets.token_bytes(4096),
        400,
        "BAD_REQUEST",
    ),
    "photo-as-a-text-field": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        _multipart("b", b'Content-Disposition: form-data; name="photo"\r\n\r\n\xff\xd8\xff'),
        400,
        "BAD_REQUEST",
    ),
    "photo-field-missing": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        _multipart("b", PHOTO_PART.replace(b'name="photo"', b'name="picture"') + b"\xff\xd8"),
        400,
        "BAD_REQUEST",
    ),
    "photo-empty-filename": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        _multipart("b", PHOTO_PART.replace(b'filename="a.jpg"', b'filename=""')),
        422,
        "EMPTY_FILE",
    ),
    "body-over-16-MiB": (
        {"Content-Type": "multipart/form-data; boundary=b"},
        _multipart("b", PHOTO_PART + b"\xff\xd8\xff" + b"\0" * (16 * 2**20)),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
}


@pytest.mark.parametrize("name", sorted(RAW_REQUESTS))
def test_malformed_request_bodies_are_bad_requests(client, token, pg_service, name):
    headers, body, status, code = RAW_REQUESTS[name]
    with pg_service.sessions()() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    response = client.post("/jobs", headers={**auth(token), **headers}, data=body)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    with pg_service.sessions()() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Bearer " + "A" * 100_000,
        "Bearer ff_" + "\u00e9" * 40,
        "bearer\tff_tab",
        "Basic YWRtaW46YWRtaW4=",
        "Token ff_something",
    ],
    ids=["empty", "scheme-only", "blank-token", "100-kB", "latin-1", "tab", "basic", "other"],
)
def test_bad_authorization_headers_are_unauthorized(client, authorization):
    response = client.get(f"/jobs/{uuid.uuid4()}", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/jobs/42", 404, "NOT_FOUND"),
        ("GET", "/jobs/not-a-uuid", 404, "NOT_FOUND"),
        ("GET", f"/jobs/{uuid.uuid1()}", 404, "NOT_FOUND"),
        ("GET", "/jobs/00000000-0000-0000-0000-000000000000", 404, "NOT_FOUND"),
        ("GET", f"/jobs/{uuid.uuid4()}/preview.png", 404, "NOT_FOUND"),
        ("GET", f"/jobs/{uuid.uuid4()}/../../etc/passwd", 404, "NOT_FOUND"),
        ("POST", f"/jobs/{uuid.uuid4()}", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/jobs", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/jobs", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_invalid_job_ids_and_methods(client, token, method, path, status, code):
    response = client.open(path, method=method, headers=auth(token))
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)


def test_another_clients_job_id_is_not_found(client, token, pg_service):
    job_id = client.post(
        "/jobs", headers=auth(token), data={"photo": (io.BytesIO(faceless_photo()), "p.png")}
    ).get_json()["id"]
    other = pg_service.create_token()
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/preview.png"):
        response = client.get(path, headers=auth(other))
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_strings_in_every_field(client, token, pg_service, value):
    quoted = urllib.parse.quote(value, safe="")
    # As a token, a job id (API and portal), a callback URL: refused, nothing else happens.
    assert client.get(f"/jobs/{uuid.uuid4()}", headers=auth(value)).status_code == 401
    for path in (f"/jobs/{quoted}", f"/jobs/{quoted}/preview.png"):
        response = client.get(path, headers=auth(token))
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "NOT_FOUND")
    for path in (f"/j/{quoted}", f"/j/{quoted}/status.json", f"/j/{quoted}/photo"):
        assert client.get(path).status_code == 404
    response = client.post(
        "/jobs",
        headers=auth(token),
        data={"photo": (io.BytesIO(faceless_photo()), "p.png"), "callback_url": value},
    )
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        400,
        "CALLBACK_URL_INVALID",
    )
    # As a file name, a declared type, an extra field's name and value: ignored, the photo
    # is judged by its content and its job fails with the photo's own code.
    response = client.post(
        "/jobs",
        headers=auth(token),
        data={
            "photo": (io.BytesIO(faceless_photo()), value, "image/png; x=" + quoted),
            value[:200]: value,
        },
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    job = wait_for_jobs(pg_service.sessions(), [job_id], timeout=60)[job_id]
    assert (job.status, job.error_code) == ("failed", "NO_FACE")
    assert job.callback_url is None


def test_a_photo_is_served_back_only_as_the_image_type_its_content_has(pg_service):
    """A JPEG that says it is HTML (name, type, an appended script) is served as image/jpeg."""
    client = pg_service.create_app(WTF_CSRF_ENABLED=False).test_client()
    polyglot = face_photo() + b"<html><script>alert(1)</script></html>"
    response = client.post(
        "/upload",
        data={"photo": (io.BytesIO(polyglot), "x.html", "text/html")},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 303, response.data[:500]
    photo = client.get(f"{response.headers['Location']}/photo")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    assert photo.data == polyglot  # stored as bytes in the database, never as a file
