# Each thing a user does is one target; `make` lists them with the variables each reads.
# With a Docker engine the demos run in compose, without one in local mode (MODE=local|docker forces one).
SHELL := bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export MODE

.DEFAULT_GOAL := help
.PHONY: help deps dev-deps gateway-demo discovery-demo down restart smoke events test test-unit bench lint lock

help: ## Show these targets and the variables each reads
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F'## ' '{ split($$1, t, ":"); sub(/ +$$/, "", $$2); \
		printf "  make %-15s %s\n", t[1], $$2; if ($$3 != "") printf "  %-20s reads: %s\n", "", $$3 }'

deps: $(VENV)/.runtime ## The virtualenv with the services' packages (what the demos need) ## PYTHON VENV

dev-deps: $(VENV)/.dev ## ... plus the tools for tests, the benchmark and lint ## PYTHON VENV

$(VENV)/.runtime: requirements/runtime.txt communication/synchronous/users.proto
	@bash tools/require.sh python "$(PYTHON)"
	@echo "first run: a virtualenv in $(VENV) with the services' packages (about a minute)..." >&2
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --require-hashes -r requirements/runtime.txt
	@$(PY) -m communication.synchronous.grpc_stubs >/dev/null  # from users.proto; never committed
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	@echo "the test, benchmark and lint tools (a few minutes, once)..." >&2
	@$(PY) -m pip install -q --require-hashes -r requirements/dev.txt
	@touch $@

gateway-demo: deps ## Run Solution 1: nginx :80 in front of user-service and order-service ## MODE NETNS INSTANCES RUN_DIR NOTIFY SAGA SAGA_STEP_SECONDS USER_API GATEWAY_PORT USER_PORT ORDER_PORT NOTIFICATION_PORT NATS_PORT NATS_MONITOR_PORT GRPC_PORT GATEWAY_GRPC_PORT REST_TO_GRPC_PORT GATEWAY_AUTH GATEWAY_SECRET AUTH_SECRET AUTH_CLIENTS GATEWAY_RATE_LIMIT GATEWAY_RATE_BURST GATEWAY_CACHE_SECONDS GATEWAY_RESOLVE GATEWAY_RESOLVE_VALID GATEWAY_READ_TIMEOUT USER_SERVICE_CONNECT_TIMEOUT USER_SERVICE_READ_TIMEOUT USER_SERVICE_RETRIES USER_SERVICE_RETRY_BACKOFF BREAKER_FAILURES BREAKER_RESET_SECONDS DRAIN_SECONDS MAX_DELIVERIES BROKER_START_OVER_SECONDS GRACEFUL_TIMEOUT
	@$(PY) -m localmode up gateway

discovery-demo: deps ## Run Solution 2: Consul :8500 (UI), services :5001 and :5002 find each other ## MODE NETNS CLUSTER INSTANCES RUN_DIR NOTIFY SAGA SAGA_STEP_SECONDS USER_API DISCOVERY CONSUL_LOOKUP USER_PORT ORDER_PORT NOTIFICATION_PORT NATS_PORT NATS_MONITOR_PORT GRPC_PORT CONSUL_PORT LOAD_BALANCER_PORT AUTH AUTH_SECRET AUTH_CLIENTS CONSUL_STALE_SECONDS USER_SERVICE_CONNECT_TIMEOUT USER_SERVICE_READ_TIMEOUT USER_SERVICE_RETRIES USER_SERVICE_RETRY_BACKOFF BREAKER_FAILURES BREAKER_RESET_SECONDS DRAIN_SECONDS MAX_DELIVERIES BROKER_START_OVER_SECONDS GRACEFUL_TIMEOUT CONSUL_CHECK_INTERVAL CONSUL_CHECK_TIMEOUT
	@$(PY) -m localmode up discovery

down: deps ## Stop whichever demo is running (also one still starting) ## MODE
	@$(PY) -m localmode down

restart: deps ## Restart one instance of the local demo; with NETNS=1 at a new IP ## INSTANCE
	@$(PY) -m localmode restart $(INSTANCE)

smoke: deps ## Run the README's curl commands against the running demo and compare outputs ## MODE
	@$(PY) -m localmode smoke

events: deps ## A new subscriber reads the history of the order events (fan-out and replay) ## MODE
	@$(PY) -m localmode events

test: dev-deps ## Install what the tests need (first time: apt, Consul, images), then run them all
	@VENV=$(VENV) bash tools/install-test-deps.sh
	$(PY) -m pytest

test-unit: dev-deps ## Only the fast tests (Flask test client)
	$(PY) -m pytest tests/unit

bench: dev-deps ## Measure every path side by side (~35 min); writes docs/bench.md and docs/bench.png
	@bash tools/ensure-local-deps.sh gateway && bash tools/ensure-local-deps.sh discovery
	$(PY) -m bench.run

lint: dev-deps ## ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

lock: dev-deps ## Pin every Python package, with hashes, in requirements/*.txt from requirements/*.in
	cd requirements && $(abspath $(PY)) -m piptools compile -q --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-find-links --no-emit-index-url --upgrade -o runtime.txt runtime.in
	cd requirements && $(abspath $(PY)) -m piptools compile -q --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-find-links --no-emit-index-url --upgrade -o dev.txt dev.in
