#!/usr/bin/env bash
# `make run`: migrations, then the edge (nginx) on 127.0.0.1:8000 in front of the web app
# (gunicorn on a unix socket under var/run/) and of Flower (127.0.0.1:5555, basic auth on every
# page; Flower itself on a unix socket), a Celery worker (with the lost-job sweep) and a small
# worker sending callbacks.
# Ctrl-C stops everything this script started within 5 s, exit status 0.
# Ports: FACEFIT_PORT (8000), FACEFIT_FLOWER_PORT (5555).
# Embedded defaults (SQLite and a filesystem broker under var/) unless DATABASE_URL / BROKER_URL
# are set, e.g. DATABASE_URL=postgresql://postgres@127.0.0.1/facefit BROKER_URL=redis://127.0.0.1:6379/0
set -euo pipefail
# Job control: every process started below gets a process group of its own, so that a Ctrl-C
# reaches this script alone and each process is told to stop exactly once (a second signal
# makes Celery drop a running fit), and a whole group (gunicorn's workers, Celery's pool) can
# be stopped at once.
set -m
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p "${FACEFIT_VAR_DIR:-var}"
VAR=$(cd "${FACEFIT_VAR_DIR:-var}" && pwd)  # nginx wants absolute paths
PORT=${FACEFIT_PORT:-8000}
FLOWER_PORT=${FACEFIT_FLOWER_PORT:-5555}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)  # /usr/sbin: not on every user's PATH
SOCKETS="$VAR/run"
EDGE="$VAR/nginx"
(umask 077 && mkdir -p "$SOCKETS" "$EDGE/tmp")
chmod 700 "$SOCKETS" "$EDGE"  # only this user reaches the sockets behind the edge

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

# The edge's configuration: deploy/nginx/facefit.conf.template inside a main context that
# keeps every path under var/ and runs in the foreground, logging errors to stderr.
FLOWER_BASIC_AUTH=$FLOWER_BASIC_AUTH bash deploy/nginx/htpasswd.sh "$EDGE/flower.htpasswd"
{
  echo "daemon off;"
  echo "worker_processes 1;"
  echo "pid $EDGE/nginx.pid;"
  echo "error_log stderr warn;"
  # Started as root, nginx would run its workers as nobody, who cannot open var/.
  [[ $(id -u) -eq 0 ]] && echo "user $(id -un) $(id -gn);"
  echo "worker_rlimit_nofile 8192;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  for temp in client_body proxy fastcgi uwsgi scgi; do
    echo "  ${temp}_temp_path $EDGE/tmp/$temp;"
  done
  FACEFIT_EDGE_LISTEN="127.0.0.1:$PORT" FACEFIT_FLOWER_LISTEN="127.0.0.1:$FLOWER_PORT" \
    FACEFIT_WEB_UPSTREAM="unix:$SOCKETS/web.sock" FACEFIT_FLOWER_UPSTREAM="unix:$SOCKETS/flower.sock" \
    FACEFIT_FLOWER_HTPASSWD="$EDGE/flower.htpasswd" FACEFIT_EDGE_ACCESS_LOG=/dev/stdout \
    envsubst '${FACEFIT_EDGE_LISTEN} ${FACEFIT_FLOWER_LISTEN} ${FACEFIT_WEB_UPSTREAM} ${FACEFIT_FLOWER_UPSTREAM} ${FACEFIT_FLOWER_HTPASSWD} ${FACEFIT_EDGE_ACCESS_LOG}' \
    <deploy/nginx/facefit.conf.template
  echo "}"
} >"$EDGE/nginx.conf"
"$NGINX" -e stderr -p "$EDGE/" -c "$EDGE/nginx.conf" -t -q

pids=()
flower=
group_running() {  # a process of group $1 still runs (a zombie only waits for init to reap it)
  local members
  members=$(pgrep -d, -g "$1") || return 1
  ps -o stat= -p "$members" | grep -qv '^Z'
}
stop_all() {
  trap - INT TERM EXIT
  echo "stopping"
  # gunicorn: 2 s for requests in flight; Celery: a warm shutdown (a fit that ends within the
  # time left finishes); nginx at once. Flower keeps nothing (--persistent=False) and would
  # wait seconds on its broker inspections: killed.
  [[ -n $flower ]] && kill -KILL -- "-$flower" 2>/dev/null
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$((${EPOCHREALTIME/./} + 2500000)) alive=1 pid
  while ((alive && ${EPOCHREALTIME/./} < deadline)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) && sleep 0.1
  done
  # Whatever is left after 2.5 s (a fit still running), and every process of each group: the
  # interrupted job stays unacknowledged, so the broker and the lost-job sweep send it again.
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "still running after 2.5 s, killed: $(ps -o args= -p "$pid" | cut -c1-80)" >&2
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  # A killed fit takes a moment to give its memory back; nothing is left when this returns.
  deadline=$((${EPOCHREALTIME/./} + 1500000))
  for pid in "${pids[@]}"; do
    while group_running "$pid" && ((${EPOCHREALTIME/./} < deadline)); do sleep 0.05; done
  done
  wait 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# FACEFIT_PROXY_HOPS=1: the client's address and scheme are the ones the edge saw.
FACEFIT_PROXY_HOPS=1 $BIN/gunicorn -c deploy/gunicorn.conf.py --bind "unix:$SOCKETS/web.sock" \
  "web:create_app()" &
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
# Flower reads FLOWER_BASIC_AUTH from its environment (given to it alone); on a command line,
# `ps` would show it to every user. It checks the same password as the edge in front of it.
FLOWER_BASIC_AUTH=$FLOWER_BASIC_AUTH $BIN/celery -A worker.app flower \
  --unix-socket="$SOCKETS/flower.sock" --persistent=False --loglevel=warning &
flower=$!
pids+=($!)
"$NGINX" -e stderr -p "$EDGE/" -c "$EDGE/nginx.conf" &
pids+=($!)

cat <<MSG

facefit is running (Ctrl-C to stop)
  portal and API  http://127.0.0.1:$PORT      (API token: make token NAME=my-game-server)
  Flower          http://127.0.0.1:$FLOWER_PORT      (basic auth ${FLOWER_BASIC_AUTH%%:*}:${FLOWER_BASIC_AUTH#*:})
  worker queues   $QUEUES

MSG
status=0
wait -n "${pids[@]}" || status=$?
echo "a process of facefit stopped (status $status); stopping the others" >&2
exit 1
