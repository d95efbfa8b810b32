"""`make run` as a newcomer starts it, in a terminal: the edge (nginx) in front of gunicorn and
Flower, its limits and JSON errors, slow clients, Flower's password, and Ctrl-C.

The terminal is a pseudo-terminal, so that Ctrl-C is what a person's is: SIGINT to the
terminal's foreground process group. `make -o setup run`: the suite already runs set up (and a
reinstall from here would change the environment the suite runs in).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import shutil
import signal
import socket
import string
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass

import pytest

from bench.slow_clients import (
    Site,
    create_token,
    embedded_env,
    free_port,
    measure,
    started_site,
    submit_job,
    wait_for,
)
from tests.conftest import ROOT


@dataclass
class Terminal:
    """`make run` in a pseudo-terminal, its output collected."""

    process: subprocess.Popen
    master: int
    output: bytearray

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def text(self) -> str:
        return self.output.decode(errors="replace")[-6000:]


def in_terminal(command: list[str], env: dict[str, str]) -> Terminal:
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=controlling_terminal,  # noqa: PLW1509  (no threads between fork and exec here)
    )
    os.close(slave)
    terminal = Terminal(process, master, bytearray())

    def drain() -> None:  # a full terminal buffer would block every process writing to it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            terminal.output.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    return terminal


def session_processes(session: int) -> list[str]:
    """Processes still running in the terminal's session (everything `make run` started).

    Zombies are left out: they have exited, and wait only for init to collect their status.
    """
    listing = subprocess.run(
        ["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split(None, 3) for line in listing.splitlines()]
    return [
        " ".join(row)
        for row in rows
        if len(row) >= 3 and row[1] == str(session) and not row[2].startswith("Z")
    ]


@dataclass
class Running:
    terminal: Terminal
    site: Site
    flower_url: str
    flower_auth: str


@pytest.fixture(scope="module")
def make_run(tmp_path_factory) -> Running:
    var_dir = tmp_path_factory.mktemp("make-run-var")
    env = embedded_env(var_dir)
    port, flower_port = free_port(), free_port()
    env.update(FACEFIT_PORT=str(port), FACEFIT_FLOWER_PORT=str(flower_port), TERM="dumb")
    terminal = in_terminal(["make", "-o", "setup", "run"], env)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(url, timeout=180)
        except RuntimeError as error:
            raise AssertionError(terminal.text()) from error
        token = create_token(env)
        site = Site(url, token, submit_job(url, token))
        password = (var_dir / "flower_password").read_text().strip()
        yield Running(terminal, site, f"http://127.0.0.1:{flower_port}", f"admin:{password}")
    finally:
        if terminal.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(terminal.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                terminal.process.wait(timeout=15)
        for line in session_processes(terminal.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        terminal.process.wait()
        os.close(terminal.master)


def raw_request(url: str, request: bytes) -> tuple[int, bytes]:
    """(status, body) of a hand-written request, for what no HTTP library would send."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < length(answer):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def length(answer: bytes) -> int:
    """Content-Length of a response's head (the connection may be reset after the body)."""
    for line in answer.partition(b"\r\n\r\n")[0].lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def get(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def error_code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


EDGE_ERRORS = [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414, "URI_TOO_LONG"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\nConnection: close\r\n\r\n", 431, "HEADERS_TOO_LARGE"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 3900) for i in range(6)) + b"Connection: close\r\n\r\n", 431, "HEADERS_TOO_LARGE"),
    (b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 16777217\r\nConnection: close\r\n\r\n", 413, "PAYLOAD_TOO_LARGE"),
    (b"NOT HTTP AT ALL\r\n\r\n", 400, "BAD_REQUEST"),
]  # fmt: skip


@pytest.mark.parametrize(("request_bytes", "status", "code"), EDGE_ERRORS)
def test_the_edge_answers_its_own_errors_in_the_json_shape(make_run, request_bytes, status, code):
    answer = raw_request(make_run.site.url, request_bytes)
    assert answer[0] == status and error_code(answer[1]) == code, answer


def test_flower_asks_for_the_password_on_every_page(make_run):
    flower = make_run.flower_url
    for path in ("/", "/metrics", "/healthcheck", "/api/workers", "/tasks"):
        assert get(flower + path) == 401, path
        assert get(flower + path, "admin:wrong") == 401, path
    deadline = time.monotonic() + 60  # Flower may still be starting
    while get(flower + "/metrics", make_run.flower_auth) != 200:
        assert time.monotonic() < deadline, make_run.terminal.text()
        time.sleep(0.5)


def test_the_flower_password_is_on_no_command_line(make_run):
    password = make_run.flower_auth.split(":", 1)[1]
    commands = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "flower" in commands and password not in commands


def test_slow_clients_do_not_stall_the_service(make_run):
    """50 connections trickling headers or upload bodies; polls still answer within a second.

    Against gunicorn alone (`bench/slow_clients.py --bare`) the same polls time out.
    """
    result = measure(make_run.site, connections=50, seconds=12)
    for probe in ("healthz", "job"):
        assert result[probe]["failures"] == 0, result
        assert result[probe]["p99_ms"] < 1000, result


def fit_running(site: Site, job_ids: list[str]) -> bool:
    for job_id in job_ids:
        request = urllib.request.Request(
            f"{site.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {site.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if json.loads(response.read())["status"] == "running":
                return True
    return False


def test_ctrl_c_stops_make_run_within_5_s_with_status_0(make_run):
    """Pressed while a fit runs: the hardest case (Celery's warm shutdown waits for the fit)."""
    terminal, site = make_run.terminal, make_run.site
    assert terminal.process.poll() is None, terminal.text()
    job_ids = [submit_job(site.url, site.token) for _ in range(4)]
    deadline = time.monotonic() + 60
    while not fit_running(site, job_ids):
        assert time.monotonic() < deadline, terminal.text()
        time.sleep(0.2)
    started = time.monotonic()
    terminal.ctrl_c()
    try:
        status = terminal.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        status = None
    elapsed = time.monotonic() - started
    assert status == 0 and elapsed < 5, (status, elapsed, terminal.text())
    assert not session_processes(terminal.process.pid), terminal.text()


def test_the_edge_answers_503_json_while_the_app_is_down(tmp_path):
    """nginx with `make run`'s configuration and no gunicorn behind it (starting, restarting)."""
    port = free_port()
    template = (ROOT / "deploy" / "nginx" / "facefit.conf.template").read_text()
    server = string.Template(template).safe_substitute(
        FACEFIT_EDGE_LISTEN=f"127.0.0.1:{port}",
        FACEFIT_FLOWER_LISTEN=f"127.0.0.1:{free_port()}",
        FACEFIT_WEB_UPSTREAM=f"unix:{tmp_path}/no-app.sock",
        FACEFIT_FLOWER_UPSTREAM=f"unix:{tmp_path}/no-flower.sock",
        FACEFIT_FLOWER_HTPASSWD=str(tmp_path / "htpasswd"),
        FACEFIT_EDGE_ACCESS_LOG="/dev/null",
    )
    user = "user root root;" if os.getuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; pid {tmp_path}/nginx.pid; error_log stderr crit; {user}\n"
        f"events {{}} http {{ client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};\n"
        f"{server}\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen(
        [nginx, "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")]
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = raw_request(
                    f"http://127.0.0.1:{port}",
                    b"GET /jobs/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert answer[0] == 503 and error_code(answer[1]) == "UNAVAILABLE", answer


def test_gunicorn_alone_answers_its_own_limit_errors_in_the_json_shape():
    """Where someone runs gunicorn without the edge, its 414 and 431 are JSON too."""
    with started_site(bare=True) as site:
        line = raw_request(site.url, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        field = raw_request(
            site.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        )
    assert line[0] == 414 and error_code(line[1]) == "URI_TOO_LONG", line
    assert field[0] == 431 and error_code(field[1]) == "HEADERS_TOO_LARGE", field
