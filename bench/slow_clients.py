"""Slow clients against the web service: do `/healthz` and `GET /jobs/<id>` keep answering?

    .venv/bin/python bench/slow_clients.py            # the edge, as `make run` starts everything
    .venv/bin/python bench/slow_clients.py --bare     # gunicorn alone, as before the edge
    .venv/bin/python bench/slow_clients.py --url http://127.0.0.1:8000 --token TOKEN --job ID

Opens --connections slow connections on loopback (200; at most 1000) for --seconds (30; at
most 300): half send a request's header one line every 5 s, half announce a 1 MiB upload and
send 1 KiB of it every 5 s; a connection the server closes is opened again at once. Meanwhile
one client polls `/healthz` and one `GET /jobs/<id>` (a real job, bearer token), each a new
connection, one request after the other. A request not answered within --probe-timeout (5 s)
counts as a failure at that latency. Without --url the script starts the site itself, on
free ports and a temporary var/ (embedded SQLite and filesystem broker), and stops it after.
Results are printed as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACE = ROOT / "tests" / "fixtures" / "faces" / "london_001_neutral.jpg"
BIN = ROOT / ".venv" / "bin"
TRICKLE_EVERY = 5.0
UPLOAD_BYTES = 1024 * 1024


@dataclass
class Site:
    url: str
    token: str
    job_id: str


@dataclass
class Pressure:
    """Counts of the slow connections, shared by their threads."""

    opened: int = 0
    closed_by_server: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def _trickle(host: str, port: int, body: bool, stop: threading.Event, pressure: Pressure) -> None:
    """One slow client, reconnecting whenever the server drops it, until `stop`."""
    number = 0
    while not stop.is_set():
        try:
            connection = socket.create_connection((host, port), timeout=10)
        except OSError:
            pressure.count("refused")
            stop.wait(0.5)
            continue
        pressure.count("opened")
        try:
            if body:
                connection.sendall(
                    b"POST /jobs HTTP/1.1\r\nHost: bench\r\n"
                    b"Content-Type: multipart/form-data; boundary=slow\r\n"
                    + f"Content-Length: {UPLOAD_BYTES}\r\n\r\n".encode()
                )
            else:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
            while not stop.wait(TRICKLE_EVERY):
                number += 1
                connection.sendall(b"x" * 1024 if body else f"X-Slow-{number}: 1\r\n".encode())
        except OSError:
            pressure.count("closed_by_server")
        finally:
            connection.close()


def _probe(url: str, path: str, token: str | None, timeout: float) -> tuple[float, bool]:
    """(seconds, answered 200) of one request on a new connection."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        ok = response.status == 200
    except OSError:
        ok = False
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    return (elapsed if ok else max(elapsed, timeout)), ok


def _summary(latencies: list[float], failures: int) -> dict:
    ordered = sorted(latencies)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "requests": len(ordered),
        "failures": failures,
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(at(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def measure(
    site: Site, connections: int, seconds: float, probe_timeout: float = 5.0, ramp: float = 2.0
) -> dict:
    """Latency of `/healthz` and `GET /jobs/<id>` while `connections` slow clients hold on."""
    parts = urllib.parse.urlsplit(site.url)
    if not ipaddress.ip_address(socket.gethostbyname(parts.hostname)).is_loopback:
        raise SystemExit("slow clients are sent to loopback addresses only")
    if not 0 < connections <= 1000 or not 0 < seconds <= 300:
        raise SystemExit("--connections 1..1000 and --seconds 1..300")
    stop = threading.Event()
    pressure = Pressure()
    slow = [
        threading.Thread(
            target=_trickle, args=(parts.hostname, parts.port, n % 2 == 1, stop, pressure)
        )
        for n in range(connections)
    ]
    for thread in slow:
        thread.start()
    time.sleep(ramp)  # every slow connection open before the first probe
    results: dict[str, tuple[list[float], list[int]]] = {}

    def poll(name: str, path: str, token: str | None) -> None:
        latencies, failures = results.setdefault(name, ([], [0]))
        while not stop.is_set():
            elapsed, ok = _probe(site.url, path, token, probe_timeout)
            latencies.append(elapsed)
            failures[0] += not ok
            stop.wait(0.05)

    probes = [
        threading.Thread(target=poll, args=("healthz", "/healthz", None)),
        threading.Thread(target=poll, args=("job", f"/jobs/{site.job_id}", site.token)),
    ]
    for thread in probes:
        thread.start()
    try:
        time.sleep(seconds)
    finally:
        stop.set()
        for thread in probes + slow:
            thread.join(timeout=probe_timeout + 15)
    return {
        "slow_connections": connections,
        "seconds": seconds,
        "opened": pressure.opened,
        "closed_by_server": pressure.closed_by_server,
        "refused": pressure.refused,
        **{name: _summary(lat, fail[0]) for name, (lat, fail) in results.items()},
    }


# --- the site under test ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_env(var_dir: Path) -> dict[str, str]:
    """`make run`'s embedded defaults (SQLite and a filesystem broker) under `var_dir`."""
    env = {**os.environ, "FACEFIT_VAR_DIR": str(var_dir), "FACEFIT_DEVICE": "cpu"}
    env.update(DATABASE_URL="", BROKER_URL="", PYTHONPATH=str(ROOT))
    env.pop("FLOWER_BASIC_AUTH", None)
    return env


def wait_for(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if _probe(url, "/healthz", None, 2.0)[1]:
                return
        time.sleep(0.25)
    raise RuntimeError(f"{url}/healthz did not answer within {timeout} s")


def create_token(env: dict[str, str]) -> str:
    """`flask --app web token create`, as an operator runs it."""
    answer = subprocess.run(
        [str(BIN / "flask"), "--app", "web", "token", "create", f"bench-{secrets.token_hex(4)}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return answer.stdout.strip().splitlines()[-1]


def submit_job(url: str, token: str) -> str:
    """A real job: the face photo uploaded like a game server does."""
    boundary = secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="f.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + FACE.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(
        "POST",
        "/jobs",
        body=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 202, answer
    return answer["id"]


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def started_site(bare: bool) -> Iterator[Site]:
    """The edge and everything behind it as `make run` starts them, or gunicorn alone."""
    with tempfile.TemporaryDirectory(prefix="facefit-slow-") as var:
        env = embedded_env(Path(var))
        port = free_port()
        log = open(Path(var) / "site.log", "w")  # noqa: SIM115  (open as long as the site)
        if bare:
            subprocess.run([str(BIN / "alembic"), "upgrade", "head"], env=env, cwd=ROOT, check=True)
            command = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "--bind",
                       f"127.0.0.1:{port}", "--reuse-port", "web:create_app()"]  # fmt: skip
        else:
            env.update(FACEFIT_PORT=str(port), FACEFIT_FLOWER_PORT=str(free_port()))
            command = [str(BIN / "python"), "tools/foreground.py", "bash", "tools/run.sh"]
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(url)
            token = create_token(env)
            yield Site(url, token, submit_job(url, token))
        finally:
            stop_group(process)
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bare", action="store_true", help="gunicorn alone, no edge")
    parser.add_argument("--url", help="a running site (loopback) instead of starting one")
    parser.add_argument("--token", help="with --url: an API token")
    parser.add_argument("--job", help="with --url: a job id of that token's client")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    args = parser.parse_args()
    if args.url:
        if not (args.token and args.job):
            parser.error("--url needs --token and --job")
        site_context = contextlib.nullcontext(Site(args.url.rstrip("/"), args.token, args.job))
    else:
        site_context = started_site(args.bare)
    with site_context as site:
        result = measure(site, args.connections, args.seconds, args.probe_timeout)
    result["target"] = args.url or ("gunicorn alone" if args.bare else "edge (make run)")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
