#!/usr/bin/env bash
# `make run`: migrations, then the web app (gunicorn) on 127.0.0.1:8000, a Celery worker (with
# the lost-job sweep), a small worker sending callbacks, and Flower on 127.0.0.1:5555.
# Ctrl-C stops everything this script started.
# Embedded defaults (SQLite and a filesystem broker under var/) unless DATABASE_URL / BROKER_URL
# are set, e.g. DATABASE_URL=postgresql://postgres@127.0.0.1/facefit BROKER_URL=redis://127.0.0.1:6379/0
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR=${FACEFIT_VAR_DIR:-var}
mkdir -p "$VAR"

if [[ -z "${FLOWER_BASIC_AUTH:-}" ]]; then
  # A password kept under var/ so that it survives restarts; printed below.
  [[ -s "$VAR/flower_password" ]] || (umask 077; $BIN/python -c 'import secrets; print(secrets.token_urlsafe(12))' >"$VAR/flower_password")
  FLOWER_BASIC_AUTH="admin:$(cat "$VAR/flower_password")"
fi
QUEUES=${FACEFIT_WORKER_QUEUES:-cpu}
if [[ -z "${FACEFIT_WORKER_QUEUES:-}" && "${FACEFIT_DEVICE:-auto}" != cpu ]] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  QUEUES=gpu,cpu  # a GPU worker also takes CPU-queue jobs
fi

echo "applying database migrations"
$BIN/alembic upgrade head

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# gthread: keep-alive connections and a thread per request waiting on PostgreSQL (see the
# Service section of docs/benchmarks.md: 2.5x the requests per second of sync workers).
# --reuse-port: one listening socket per worker, so that the kernel spreads connections over
# the workers; with one shared socket, a burst of keep-alive connections can all land on one
# worker (one core, by the GIL) while the other idles. A port held by another
# program still fails with "Connection in use"; a second gunicorn of the same user with
# --reuse-port on the same port would share it instead.
$BIN/gunicorn --bind 127.0.0.1:8000 --workers 2 --worker-class gthread --threads 4 --timeout 60 \
  --reuse-port --access-logfile - "web:create_app()" &
pids+=($!)
# One torch thread per fit process unless told otherwise: torch's default (a thread per core)
# in every fit process fights the other fits and the web workers for the same cores (8x slower
# fits with two processes on two cores, and polls queueing behind the fit; docs/benchmarks.md).
export FACEFIT_TORCH_THREADS=${FACEFIT_TORCH_THREADS:-1}
# -B: the worker also runs the beat schedule (the lost-job sweep); one such worker per site.
# nice 10: when polls and a fit compete for the cores, polls (latency) go first, fits (batch
# work, seconds each) take what is left.
nice -n 10 $BIN/celery -A worker.app worker -Q "$QUEUES" --concurrency 1 -E -B \
  --schedule "$VAR/celerybeat-schedule" --loglevel "${FACEFIT_LOG_LEVEL:-INFO}" &
pids+=($!)
# Callbacks to game servers on a queue of their own, so that they never wait behind a fit;
# threads, because a delivery waits on the network, not on a core.
$BIN/celery -A worker.app worker -Q "${FACEFIT_WEBHOOK_QUEUE:-webhooks}" -n webhooks@%h \
  --pool threads --concurrency 4 --loglevel "${FACEFIT_LOG_LEVEL:-INFO}" &
pids+=($!)
$BIN/celery -A worker.app flower --address=127.0.0.1 --port=5555 \
  --basic-auth="$FLOWER_BASIC_AUTH" --persistent=False --loglevel=warning &
pids+=($!)

cat <<MSG

facefit is running (Ctrl-C to stop)
  portal and API  http://127.0.0.1:8000      (API token: .venv/bin/flask --app web token create NAME)
  Flower          http://127.0.0.1:5555      (basic auth ${FLOWER_BASIC_AUTH%%:*}:${FLOWER_BASIC_AUTH#*:})
  worker queues   $QUEUES

MSG
wait -n "${pids[@]}"
