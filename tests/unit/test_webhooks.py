"""Callback signing, retry schedule and destination checks, without a database or a network."""

from __future__ import annotations

import contextlib
import ipaddress
import random
import re
import socket
import ssl
import subprocess
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.destinations import (
    CallbackPolicy,
    CallbackUrlError,
    check_callback_url,
    connect_checked,
    forbidden_reason,
    parse_callback_url,
)
from webhooks.schedule import RetrySchedule, parse_retry_after
from webhooks.sending import Timeouts, post
from webhooks.signing import event_body, new_secret, new_webhook_id, signed_headers

POLICY = CallbackPolicy()


def test_signatures_verify_with_the_standard_webhooks_package():
    secret, webhook_id = new_secret(), new_webhook_id()
    body = event_body("job.succeeded", "5f0c", "succeeded").encode()
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers([secret], webhook_id, now, body)
    assert secret.startswith("whsec_") and headers["webhook-signature"].startswith("v1,")
    payload = Webhook(secret).verify(body, headers)
    assert payload == {"type": "job.succeeded", "job_id": "5f0c", "status": "succeeded"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"succeeded", b"failed"), headers)


def test_during_a_rotation_both_secrets_verify():
    old, new = new_secret(), new_secret()
    body = event_body("job.failed", "5f0c", "failed").encode()
    headers = signed_headers([new, old], new_webhook_id(), int(datetime.now(UTC).timestamp()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


def test_only_the_three_event_types_exist():
    with pytest.raises(ValueError):
        event_body("job.deleted", "x", "failed")


def test_the_standard_schedule_spans_about_a_day_with_jitter():
    schedule = RetrySchedule()
    assert schedule.attempts == 8
    assert 24 * 3600 < sum(schedule.delays) < 30 * 3600
    rng = random.Random(1)
    delays = [schedule.delay_after(3, rng=rng) for _ in range(200)]  # nominally 30 min
    assert min(delays) >= 1620 and max(delays) <= 1980 and len(set(delays)) > 100
    assert schedule.delay_after(8) is None  # the eighth attempt was the last


def test_retry_after_lengthens_a_wait_up_to_its_cap():
    schedule = RetrySchedule(delays=(5.0, 5.0), jitter=0.0, retry_after_max=600.0)
    assert schedule.delay_after(1, retry_after=120) == 120
    assert schedule.delay_after(1, retry_after=1) == 5  # never sooner than the schedule
    assert schedule.delay_after(1, retry_after=10**9) == 600
    assert schedule.delay_after(3, retry_after=1) is None


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_the_schedule_is_a_setting():
    schedule = RetrySchedule.from_env(
        {"FACEFIT_WEBHOOK_RETRY_DELAYS": "1,2", "FACEFIT_WEBHOOK_JITTER": "0"}
    )
    assert (schedule.attempts, schedule.delay_after(2), schedule.delay_after(3)) == (3, 2, None)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://example.com/\r\nX-Injected: 1",
        "http://example.com/\x00",
        "http://example.com/\t",
        "http://éxample.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/",
        "javascript:alert(1)",
        "http:///path-only",
        "//example.com/",
        "http://user:pw@example.com/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://example.com:0/",
        "http://" + "a" * 2000 + ".com/",
    ],
)
def test_malformed_urls_are_invalid(url):
    with pytest.raises(CallbackUrlError) as caught:
        parse_callback_url(url, POLICY)
    assert caught.value.code == "CALLBACK_URL_INVALID"


def test_production_requires_https():
    production = CallbackPolicy.from_env({"FACEFIT_ENV": "production"})
    with pytest.raises(CallbackUrlError) as caught:
        parse_callback_url("http://93.184.215.14/hook", production)
    assert caught.value.code == "CALLBACK_URL_INVALID"
    assert parse_callback_url("https://93.184.215.14/hook?a=1", production).target == "/hook?a=1"


# Every spelling of a forbidden destination; they resolve locally (literals, /etc/hosts).
FORBIDDEN_URLS = [
    "http://127.0.0.1/",
    "http://localhost:8000/",
    "http://2130706433/",  # decimal
    "http://0177.0.0.1/",  # octal
    "http://0x7f.1/",  # hex, short form
    "http://0x7f000001/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:c0a8:101::1]/",  # 6to4 of 192.168.1.1
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space
    "http://192.0.2.1/",  # documentation
    "http://198.18.0.1/",  # benchmarking
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
]


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_non_global_destinations_are_forbidden(url):
    with pytest.raises(CallbackUrlError) as caught:
        check_callback_url(url, POLICY)
    assert caught.value.code == "CALLBACK_URL_FORBIDDEN", caught.value.message


def test_a_public_address_is_allowed():
    assert check_callback_url("https://93.184.215.14/hook", POLICY).port == 443
    assert forbidden_reason(ipaddress.ip_address("2606:4700::1111")) is None


def test_the_allowlist_admits_exact_host_and_port_only():
    policy = CallbackPolicy.from_env({"FACEFIT_CALLBACK_ALLOW": " 127.0.0.1:9000, [::1]:9001"})
    check_callback_url("http://127.0.0.1:9000/hook", policy)
    check_callback_url("http://[::1]:9001/hook", policy)
    for url in ("http://127.0.0.1:9001/", "http://127.0.0.1/", "http://2130706433:9000/"):
        with pytest.raises(CallbackUrlError):
            check_callback_url(url, policy)


def test_an_unresolvable_host_is_refused():
    with pytest.raises(CallbackUrlError) as caught:
        check_callback_url("http://no-such-host.invalid/", POLICY)
    assert caught.value.code == "CALLBACK_URL_UNRESOLVED"


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    for sock in accepted:
        sock.close()


def test_connect_time_check_refuses_a_name_that_resolves_to_loopback(listener):
    """The worker checks again on the addresses it is about to connect to."""
    destination = parse_callback_url(f"http://localhost:{listener}/hook", POLICY)
    with pytest.raises(CallbackUrlError) as caught:
        connect_checked(destination, POLICY, timeout=2)
    assert caught.value.code == "CALLBACK_URL_FORBIDDEN"
    allowed = CallbackPolicy(allow=frozenset({f"localhost:{listener}"}))
    with connect_checked(destination, allowed, timeout=2) as sock:
        assert sock.getpeername()[:2] == ("127.0.0.1", listener)


def test_secrets_are_fresh_and_ids_unique():
    assert len({new_secret() for _ in range(50)}) == 50
    assert len({new_webhook_id() for _ in range(50)}) == 50


@pytest.fixture(scope="module")
def tls_receiver(tmp_path_factory):
    """An https receiver on 127.0.0.1 whose certificate names only `localhost`."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's naming)
            hosts.append(self.headers["Host"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, cert, hosts
    server.shutdown()


def test_https_goes_to_the_checked_address_with_the_urls_name(tls_receiver, monkeypatch):
    """SNI, certificate and Host name the URL's host; the socket goes to the checked address."""
    port, cert, hosts = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own certificate
    policy = CallbackPolicy(allow=frozenset({f"localhost:{port}", f"127.0.0.1:{port}"}))
    result = post(f"https://localhost:{port}/hook", b"{}", {}, policy)
    assert (result.http_status, result.error) == (204, None) and result.delivered
    assert hosts == [f"localhost:{port}"]
    # The same server by its address: the certificate does not name it, so nothing is sent.
    result = post(f"https://127.0.0.1:{port}/hook", b"{}", {}, policy)
    assert result.http_status is None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert len(hosts) == 1


def test_an_attempt_ends_at_its_total_timeout_however_slow_the_answer(listener):
    """The listener accepts and never answers: the attempt gives up at the total limit."""
    policy = CallbackPolicy(allow=frozenset({f"127.0.0.1:{listener}"}))
    started = time.monotonic()
    result = post(
        f"http://127.0.0.1:{listener}/", b"{}", {}, policy, Timeouts(connect=1, total=1.5)
    )
    assert result.http_status is None and "timed out" in result.error
    assert 1.4 < time.monotonic() - started < 4


def python_blocks(path: str) -> list[str]:
    text = (Path(__file__).resolve().parents[2] / path).read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_documented_verification_snippets_accept_ours_and_refuse_forgeries():
    old, new = new_secret(), new_secret()
    body = event_body("job.succeeded", "5f0c", "succeeded").encode()
    headers = signed_headers([new, old], new_webhook_id(), int(time.time()), body)
    headers = {name.title(): value for name, value in headers.items()}  # as a server sees them
    snippets = python_blocks("docs/webhooks.md")
    assert len(snippets) == 2
    for snippet in snippets:
        namespace: dict = {}
        exec(snippet, namespace)
        for secret in (old, new):
            assert namespace["verified_event"](secret, body, headers)["job_id"] == "5f0c"
        with pytest.raises((ValueError, WebhookVerificationError)):
            namespace["verified_event"](new_secret(), body, headers)
    (readme,) = python_blocks("README.md")
    namespace = {"SECRET": new, "request_body_bytes": body, "request_headers": headers}
    exec(readme, namespace)
    assert namespace["payload"]["type"] == "job.succeeded"


def test_an_endless_answer_body_is_not_read(listener_that_streams):
    """The receiver answers 200 and then streams without end: only a little of it is read."""
    policy = CallbackPolicy(allow=frozenset({f"127.0.0.1:{listener_that_streams}"}))
    started = time.monotonic()
    result = post(f"http://127.0.0.1:{listener_that_streams}/", b"{}", {}, policy)
    assert (result.http_status, result.error) == (200, None)
    assert time.monotonic() - started < 2


@pytest.fixture
def listener_that_streams():
    server = socket.create_server(("127.0.0.1", 0))

    def answer():
        connection, _ = server.accept()
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
            while True:
                connection.sendall(b"x" * 65536)

    threading.Thread(target=answer, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
