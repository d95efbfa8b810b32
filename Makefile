# Two commands matter: `make run` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := var/.system-packages
# Browser libraries (three.js) and the glTF validator the tests run, from package-lock.json.
NODE_STAMP := node_modules/.installed

export TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/facefit_test
export TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: setup system services run token test test-unit test-integration test-e2e test-faults lint format clean

setup: $(STAMP) $(SYSTEM_STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(SYSTEM_STAMP): tools/setup_system.sh
	bash tools/setup_system.sh
	mkdir -p var && touch $@

$(NODE_STAMP): package.json package-lock.json $(SYSTEM_STAMP)
	npm ci --no-audit --no-fund
	touch $@

services:
	bash tools/ensure_services.sh

# In a process group of its own that holds the terminal: Ctrl-C stops it, make exits 0.
run: setup
	$(BIN)/python tools/foreground.py bash tools/run.sh

# `make token NAME=my-game-server`: a new API token for a game server, printed alone on the
# last line (the embedded database under var/, or DATABASE_URL).
token: setup
	@test -n "$(NAME)" || { echo 'usage: make token NAME=my-game-server' >&2; exit 2; }
	$(BIN)/flask --app web token create "$(NAME)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup services lint
	$(BIN)/pytest tests/unit tests/integration tests/e2e

test-unit: setup
	$(BIN)/pytest tests/unit

test-integration: setup services
	$(BIN)/pytest tests/integration

test-e2e: setup services
	$(BIN)/pytest tests/e2e

# The fault suite stops and restarts PostgreSQL and Redis: it gets private ones on ports of its
# own (tools/private_services.sh), never the shared ones `make services` starts.
test-faults: setup
	bash tools/private_services.sh $(BIN)/pytest tests/faults

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .ruff_cache
