#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster and Redis server of its own, on ports
# of their own (the first free ones from 25432 and 26379 unless FAULTS_PG_PORT /
# FAULTS_REDIS_PORT say otherwise), and removes both afterwards. The fault suite stops and
# restarts PostgreSQL and Redis; run this way it can only ever touch these two, never the
# ones on 5432 and 6379 that other work uses.
#   bash tools/private_services.sh .venv/bin/pytest tests/faults
# The command sees TEST_DATABASE_URL and TEST_BROKER_URL pointing at them, and in
# FACEFIT_FAULTS_SERVICES_DIR the scripts that stop and start them (pg-stop, pg-start,
# redis-start).
set -euo pipefail
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Below the kernel's ephemeral range (32768-60999 here): a port in it can be taken at any
# moment as the source port of an outgoing connection, and the server then cannot bind it.
first_free_port() {
  local port=$1
  while listening "$port"; do port=$((port + 1)); done
  echo "$port"
}
PG_PORT=${FAULTS_PG_PORT:-$(first_free_port 25432)}
REDIS_PORT=${FAULTS_REDIS_PORT:-$(first_free_port 26379)}
for port in "$PG_PORT" "$REDIS_PORT"; do
  if [[ $port == 5432 || $port == 6379 ]]; then
    echo "private_services: port $port is the shared services' port; choose another" >&2
    exit 2
  fi
  if listening "$port"; then
    echo "private_services: something already listens on 127.0.0.1:$port" >&2
    exit 2
  fi
done

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PG_BIN/initdb ]] || { echo "private_services: PostgreSQL server binaries not found" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/facefit-services.XXXXXX")
as_postgres=()
if [[ $(id -u) -eq 0 ]]; then
  # initdb and postgres refuse to run as root: the cluster belongs to the postgres user.
  chown postgres "$dir"
  as_postgres=(runuser -u postgres --)
fi

# Scripts the tests call to stop and start exactly these instances.
cat >"$dir/pg-start" <<EOF
#!/usr/bin/env bash
exec ${as_postgres[*]} "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 start \
  -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" >/dev/null
EOF
cat >"$dir/pg-stop" <<EOF
#!/usr/bin/env bash
exec ${as_postgres[*]} "$PG_BIN/pg_ctl" -D "$dir/pg" -m fast -w -t 60 stop >/dev/null
EOF
cat >"$dir/redis-start" <<EOF
#!/usr/bin/env bash
mkdir -p "$dir/redis"
exec redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save "" --appendonly no \
  --dir "$dir/redis" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
EOF
chmod 755 "$dir"/pg-start "$dir"/pg-stop "$dir"/redis-start

stop_all() {
  "$dir/pg-stop" 2>/dev/null || true
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

"${as_postgres[@]}" "$PG_BIN/initdb" -D "$dir/pg" -U postgres -A trust -E UTF8 --no-sync >/dev/null
# A fresh cluster once failed to start for a reason its log no longer held (the directory is
# removed on exit): show the log, then try once more.
if ! "$dir/pg-start"; then
  echo "private_services: PostgreSQL did not start; its log:" >&2
  tail -n 20 "$dir/pg.log" >&2 || true
  sleep 2
  "$dir/pg-start"
fi
"$dir/redis-start"
for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/facefit_test"
export TEST_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/15"
export FACEFIT_FAULTS_SERVICES_DIR="$dir"
echo "private PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (under $dir)"
status=0
"$@" || status=$?
exit "$status"
