"""Benchmark the service on loopback: job polling, an upload burst, worker throughput.

Numbers: requests/s and latency of `GET /jobs/<id>`, upload-burst latency, jobs per minute
per worker, seconds per photo by batch size; recorded in docs/benchmarks.md, "Service".

    .venv/bin/python bench/bench_service.py poll --busy-worker   # GET /jobs/<id> with wrk
    .venv/bin/python bench/bench_service.py burst                 # 500 uploads in a minute
    .venv/bin/python bench/bench_service.py worker --jobs 40      # jobs per minute per worker
    .venv/bin/python bench/bench_service.py batch --sizes 1 4 8    # Fitter.fit_photos batching

Each run creates its own PostgreSQL database (dropped at the end) on BENCH_DATABASE_URL
(default postgresql://postgres@127.0.0.1:5432/facefit_bench) and its own Redis queue on
BENCH_BROKER_URL (default redis://127.0.0.1:6379/14), starts gunicorn and Celery workers as
`make run` does, and stops everything it started. Results are printed as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db import clients  # noqa: E402
from db import jobs as job_store  # noqa: E402
from db.models import Job, utcnow  # noqa: E402
from db.session import make_engine, make_session_factory  # noqa: E402
from db.urls import normalize_database_url  # noqa: E402

FACE = ROOT / "tests" / "fixtures" / "faces" / "london_001_neutral.jpg"


@dataclass
class Site:
    """One benchmark deployment: database, queue, environment, token."""

    database_url: str
    env: dict[str, str]
    queue: str
    token: str
    sessions: object


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def site(weights_dir: str | None, max_iters: int | None) -> Iterator[Site]:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    base = make_url(
        normalize_database_url(
            os.environ.get(
                "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/facefit_bench"
            )
        )
    )
    name = f"{base.database}_{secrets.token_hex(4)}"
    admin = create_engine(
        base.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    queue = f"bench-{secrets.token_hex(4)}"
    var_dir = Path(tempfile.mkdtemp(prefix="facefit-bench-"))
    engine = make_engine(url)
    try:
        config = Config(str(ROOT / "alembic.ini"))
        config.attributes["database_url"] = url
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            token = clients.create_client(session, "bench")[1]
        env = {
            "DATABASE_URL": url,
            "BROKER_URL": broker,
            "FACEFIT_FIT_QUEUE": queue,
            "FACEFIT_VAR_DIR": str(var_dir),
            "FACEFIT_LOG_LEVEL": "WARNING",
            "FACEFIT_DEVICE": "cpu",
            "FACEFIT_TORCH_THREADS": os.environ.get("FACEFIT_TORCH_THREADS", "1"),  # as make run
            "SECRET_KEY": secrets.token_hex(32),
        }
        if weights_dir:
            env["FACEFIT_WEIGHTS_DIR"] = weights_dir
        if max_iters:
            env["FACEFIT_FIT_MAX_ITERS"] = str(max_iters)
        yield Site(url, env, queue, token, sessions)
    finally:
        engine.dispose()
        shutil.rmtree(var_dir, ignore_errors=True)
        import redis

        client = redis.Redis.from_url(broker)
        client.delete(queue, *client.scan_iter(match=f"_kombu.binding*{queue}"))
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str], port: int | None = None
) -> Iterator[subprocess.Popen]:
    """A child process in its own group, stopped (TERM, then KILL) on exit.

    Its own process group, but this script's session: with the kernel's autogroup scheduling
    every session is a scheduler group of its own that gets an equal share of the cores
    whatever its processes' nice values, so only in one session does `nice` rank the worker
    below gunicorn as it does under `make run` (one shell, one session).
    """
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (kept open for the child's life)
        prefix="facefit-bench-", suffix=".log", delete=False
    )
    child = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        process_group=0,
    )  # fmt: skip
    try:
        if port is not None:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if child.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(Path(log.name).read_text()[-3000:]) from None
                    time.sleep(0.2)
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # pool processes left behind
        os.unlink(log.name)


def gunicorn(
    env: dict[str, str],
    port: int,
    workers: int,
    worker_class: str,
    threads: int,
    reuse_port: bool = False,
    access_log: bool = False,
    config: str | None = None,
):
    """gunicorn serving the web app; `config`: a settings file read first (the flags win)."""
    command = [
        sys.executable, "-m", "gunicorn", *(["-c", config] if config else []),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", worker_class, "--threads", str(threads), "--timeout", "60",
        *(["--reuse-port"] if reuse_port else []),
        *(["--access-logfile", "-"] if access_log else []),
        "web:create_app()",
    ]  # fmt: skip
    return process(command, env, port)


def celery_worker(site: Site, concurrency: int = 1):
    command = [
        "nice", "-n", "10",  # as make run: polls before fits
        sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q", site.queue,
        "-n", f"{site.queue}@%h", "--concurrency", str(concurrency), "--without-gossip",
        "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    return process(command, site.env)


def upload(port: int, token: str, photo: bytes) -> tuple[int, dict, dict]:
    boundary = secrets.token_hex(8)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", "/jobs", body=body,
            headers={"Authorization": f"Bearer {token}",
                     "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def seed_finished_jobs(site: Site, count: int) -> list[str]:
    """Succeeded jobs shaped like real ones: every rig control, a 300-step loss curve."""
    from facefit.rig.spec import load_spec

    spec = load_spec()
    photo = FACE.read_bytes()
    upload_ = job_store.PhotoUpload(photo, "image/jpeg", 1350, 1350)
    ids = []
    with site.sessions.begin() as session:
        owner = clients.client_for_token(session, site.token).id
        for _ in range(count):
            job = job_store.create_job(session, upload_, client_id=owner)
            job_store.claim_job(session, job.id, "bench", utcnow())
            job_store.complete_job(
                session,
                job.id,
                params={
                    "rig": spec.rig_id,
                    "continuous": {c.name: 0.5 for c in spec.continuous},
                    "discrete": {d.name: d.options[0] for d in spec.discrete},
                },
                fit={"mode": "full", "iterations": 300, "stopped_early": True, "loss": 0.1,
                     "similarity": 0.9, "real_render_loss": 0.12, "seconds": 20.0},
                models={"imitator-lite.pt": "0" * 64, "extractor-lite.pt": "1" * 64},
                rig=spec.rig_id,
                loss_curve=[[i, 1.0 / (i + 1), 0.5] for i in range(300)],
            )  # fmt: skip
            ids.append(str(job.id))
    return ids


WRK_SCRIPT = """
local ids = {%s}
local token = "%s"
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/jobs/" .. ids[(i %% #ids) + 1], {["Authorization"] = "Bearer " .. token})
end
"""


def parse_wrk(output: str) -> dict:
    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency("50"),
        "p90_ms": latency("90"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": bool(re.search(r"Socket errors", output)),
    }


def bench_poll(args) -> dict:
    weights = None
    if args.busy_worker:
        from tests.tiny_weights import tiny_weights_dir

        weights = str(tiny_weights_dir())
    with site(weights, max_iters=400 if args.busy_worker else None) as s:
        ids = seed_finished_jobs(s, args.jobs)
        port = free_port()
        with contextlib.ExitStack() as stack:
            stack.enter_context(
                gunicorn(
                    s.env,
                    port,
                    args.workers,
                    args.worker_class,
                    args.threads,
                    reuse_port=args.reuse_port,
                    access_log=args.access_log,
                )
            )
            if args.busy_worker:
                stack.enter_context(celery_worker(s))
                for _ in range(4):  # long fits: the worker is busy for the whole run
                    assert upload(port, s.token, FACE.read_bytes())[0] == 202
                deadline = time.monotonic() + 60
                while not _running(s):
                    assert time.monotonic() < deadline, "the worker never started a fit"
                    time.sleep(0.5)
            script = Path(tempfile.mkstemp(suffix=".lua")[1])
            script.write_text(WRK_SCRIPT % (",".join(f'"{i}"' for i in ids), s.token))
            try:
                # Every web process keeps its own caches of tokens and finished jobs, and
                # gunicorn may still be starting some: warm up with as many connections, for
                # long enough that each process has served each job once before measuring.
                # --warmup 0: the clients connect while gunicorn starts (a restart under load).
                if args.warmup:
                    warm = [
                        "wrk", "-t1", f"-c{args.connections}", f"-d{args.warmup}s",
                        "-s", str(script), f"http://127.0.0.1:{port}",
                    ]  # fmt: skip
                    subprocess.run(warm, capture_output=True, check=True)
                command = [
                    "wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.seconds}s",
                    "--latency", "-s", str(script), f"http://127.0.0.1:{port}",
                ]  # fmt: skip
                output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                busy = _running(s) if args.busy_worker else None
            finally:
                script.unlink()
    return {
        "bench": "poll",
        "gunicorn": f"{args.workers} x {args.worker_class}"
        + (f" ({args.threads} threads)" if args.worker_class == "gthread" else "")
        + (", reuse-port" if args.reuse_port else "")
        + (", access log" if args.access_log else ""),
        "connections": args.connections,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "busy_worker": args.busy_worker,
        "worker_still_fitting": busy,
        **parse_wrk(output),
    }


def _running(s: Site) -> bool:
    from sqlalchemy import func, select

    with s.sessions() as session:
        return bool(session.scalar(select(func.count()).where(Job.status == "running")))


def _wait_finished(s: Site, ids: list[str], timeout: float) -> dict[str, Job]:
    from sqlalchemy import select

    deadline = time.monotonic() + timeout
    while True:
        with s.sessions() as session:
            jobs = {
                str(j.id): j
                for j in session.scalars(select(Job).where(Job.id.in_([uuid.UUID(i) for i in ids])))
            }
        if all(j.finished for j in jobs.values()) and len(jobs) == len(ids):
            return jobs
        if time.monotonic() > deadline:
            raise RuntimeError(f"{sum(not j.finished for j in jobs.values())} jobs unfinished")
        time.sleep(0.5)


def bench_burst(args) -> dict:
    """`args.uploads` uploads spread over `args.seconds` by `args.clients` game servers."""
    with site(args.weights, max_iters=args.max_iters) as s:
        tokens = [s.token]
        with s.sessions.begin() as session:
            tokens += [
                clients.create_client(session, f"bench-{i}")[1] for i in range(1, args.clients)
            ]
        port = free_port()
        photo = FACE.read_bytes()
        answers: list[tuple[float, int, dict, dict]] = []
        depth: list[int] = []
        import redis

        broker = redis.Redis.from_url(s.env["BROKER_URL"])
        with gunicorn(s.env, port, 2, "sync", 1), contextlib.ExitStack() as stack:
            for _ in range(args.workers):
                stack.enter_context(celery_worker(s))
            start = time.monotonic()
            lock = threading.Lock()

            def send(n: int) -> None:
                time.sleep(max(0.0, start + n * args.seconds / args.uploads - time.monotonic()))
                status, headers, body = upload(port, tokens[n % len(tokens)], photo)
                with lock:
                    answers.append((time.monotonic() - start, status, headers, body))

            stop = threading.Event()

            def watch_queue() -> None:
                while not stop.is_set():
                    depth.append(broker.llen(s.queue))
                    time.sleep(0.5)

            watcher = threading.Thread(target=watch_queue, daemon=True)
            watcher.start()
            threads = [threading.Thread(target=send, args=(n,)) for n in range(args.uploads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent_in = time.monotonic() - start
            accepted = [body["id"] for _, status, _, body in answers if status == 202]
            jobs = _wait_finished(s, accepted, timeout=args.drain_timeout)
            drained_in = time.monotonic() - start
            stop.set()
            watcher.join()
    statuses: dict[int, int] = {}
    for _, status, _, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    refused = [(h, b) for _, status, h, b in answers if status == 429]
    latency = sorted((j.finished_at - j.created_at).total_seconds() for j in jobs.values())
    outcomes: dict[str, int] = {}
    for job in jobs.values():
        key = job.status if job.status == "succeeded" else f"{job.status} {job.error_code}"
        outcomes[key] = outcomes.get(key, 0) + 1
    return {
        "bench": "burst",
        "uploads": args.uploads,
        "clients": args.clients,
        "workers": args.workers,
        "sent_in_s": round(sent_in, 1),
        "statuses": statuses,
        "refusals_clean": all(
            b["error"]["code"] == "RATE_LIMITED" and int(h["Retry-After"]) >= 1 for h, b in refused
        ),
        "accepted_finished": len(jobs),
        "outcomes": outcomes,
        "drained_in_s": round(drained_in, 1),
        "max_queue_depth": max(depth, default=0),
        "job_latency_s": {
            "p50": round(statistics.median(latency), 2) if latency else None,
            "p90": round(latency[int(0.9 * (len(latency) - 1))], 2) if latency else None,
            "max": round(latency[-1], 2) if latency else None,
        },
    }


def bench_worker(args) -> dict:
    """Jobs queued at once, one worker (concurrency 1): jobs per minute once it is warm."""
    with site(args.weights, max_iters=args.max_iters) as s:
        port = free_port()
        photo = FACE.read_bytes()
        # Warm-up job: the worker process loads its networks once.
        with gunicorn(s.env, port, 1, "sync", 1), celery_worker(s):
            first = upload(port, s.token, photo)[2]["id"]
            _wait_finished(s, [first], timeout=300)
            ids = [
                upload(port, s.token, photo + f"#{i}".encode())[2]["id"] for i in range(args.jobs)
            ]
            start = time.monotonic()
            jobs = _wait_finished(s, ids, timeout=args.drain_timeout)
            elapsed = time.monotonic() - start
    outcomes: dict[str, int] = {}
    for job in jobs.values():
        key = job.status if job.status == "succeeded" else f"{job.status} {job.error_code}"
        outcomes[key] = outcomes.get(key, 0) + 1
    run = sorted((j.finished_at - j.started_at).total_seconds() for j in jobs.values())
    return {
        "bench": "worker",
        "weights": args.weights or "weights/ (as installed)",
        "max_iters": args.max_iters,
        "jobs": args.jobs,
        "outcomes": outcomes,
        "seconds": round(elapsed, 1),
        "jobs_per_minute": round(60 * len(jobs) / elapsed, 1),
        "job_run_s_median": round(statistics.median(run), 3),
    }


def bench_batch(args) -> dict:
    """Seconds per photo of `Fitter.fit_photos` for each batch size (one process, no service)."""
    from facefit.fit.fitter import load_fitter
    from facefit.settings import CoreSettings

    weights = args.weights
    if weights == "tiny":
        from tests.tiny_weights import tiny_weights_dir

        weights = str(tiny_weights_dir())
    env = {**os.environ, "FACEFIT_DEVICE": os.environ.get("FACEFIT_DEVICE", "cpu")}
    if weights:
        env["FACEFIT_WEIGHTS_DIR"] = weights
    fitter = load_fitter(CoreSettings.from_env(env))
    faces = sorted((ROOT / "tests" / "fixtures" / "faces").glob("*.jpg"))
    photos = [faces[i % len(faces)].read_bytes() for i in range(max(args.sizes))]
    fitter.fit_photos(photos[:1], max_iters=args.max_iters)  # warm-up: first-call costs
    rows = []
    for size in args.sizes:
        start = time.perf_counter()
        results = fitter.fit_photos(photos[:size], max_iters=args.max_iters)
        elapsed = time.perf_counter() - start
        assert not [r for r in results if isinstance(r, Exception)], results
        rows.append(
            {
                "batch": size,
                "seconds": round(elapsed, 2),
                "seconds_per_photo": round(elapsed / size, 3),
                "photos_per_minute": round(60 * size / elapsed, 1),
            }
        )
    return {
        "bench": "batch",
        "weights": weights or "weights/ (as installed)",
        "max_iters": args.max_iters,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    poll = sub.add_parser("poll", help="GET /jobs/<id> of finished jobs with wrk")
    poll.add_argument("--jobs", type=int, default=200)
    # Defaults: gunicorn as `make run` starts it (tools/run.sh), less the access log.
    poll.add_argument("--workers", type=int, default=2)
    poll.add_argument("--worker-class", default="gthread")
    poll.add_argument("--threads", type=int, default=4)
    poll.add_argument("--reuse-port", action=argparse.BooleanOptionalAction, default=True)
    poll.add_argument("--access-log", action="store_true", help="gunicorn's access log on stdout")
    poll.add_argument("--connections", type=int, default=32)
    poll.add_argument("--wrk-threads", type=int, default=1)
    poll.add_argument("--seconds", type=int, default=15)
    poll.add_argument("--warmup", type=int, default=5, help="seconds of wrk before measuring")
    poll.add_argument("--busy-worker", action="store_true", help="a Celery worker fits meanwhile")
    burst = sub.add_parser("burst", help="uploads spread over a minute")
    burst.add_argument("--uploads", type=int, default=500)
    burst.add_argument("--seconds", type=float, default=60)
    burst.add_argument("--clients", type=int, default=5)
    burst.add_argument("--workers", type=int, default=1)
    burst.add_argument("--weights", default=None, help="FACEFIT_WEIGHTS_DIR for the workers")
    burst.add_argument("--max-iters", type=int, default=None)
    burst.add_argument("--drain-timeout", type=float, default=600)
    worker = sub.add_parser("worker", help="jobs per minute of one worker")
    worker.add_argument("--jobs", type=int, default=40)
    worker.add_argument("--weights", default=None)
    worker.add_argument("--max-iters", type=int, default=None)
    worker.add_argument("--drain-timeout", type=float, default=600)
    batch = sub.add_parser("batch", help="Fitter.fit_photos seconds per photo by batch size")
    batch.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    batch.add_argument("--weights", default=None, help="a weights folder, or `tiny`")
    batch.add_argument("--max-iters", type=int, default=50)
    args = parser.parse_args()
    benches = {
        "poll": bench_poll,
        "burst": bench_burst,
        "worker": bench_worker,
        "batch": bench_batch,
    }
    result = benches[args.bench](args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
