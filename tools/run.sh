#!/usr/bin/env bash
# `make run`: the web app on 127.0.0.1:8000; Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait || true; }
trap cleanup INT TERM EXIT
$BIN/gunicorn --bind 127.0.0.1:8000 --workers 2 "web:create_app()" &
pids+=($!)
echo "facefit web on http://127.0.0.1:8000 (Ctrl-C to stop)"
wait -n
