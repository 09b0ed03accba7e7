# Each thing a user does is one target; `make` lists them.
# With a Docker engine the demos run in compose, without one in local mode (MODE=local|docker forces one).
SHELL := bash
VENV ?= .venv
PY := $(VENV)/bin/python
export MODE

.DEFAULT_GOAL := help
.PHONY: help deps local-deps gateway-demo discovery-demo down restart smoke test test-unit bench lint

help: ## Show these targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

deps: $(VENV)/.installed ## Create the virtualenv with the services' and the tests' packages

$(VENV)/.installed: requirements-dev.txt api-gateway-demo/*/requirements.txt service-discovery/*/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

local-deps: deps ## Install nginx and build Consul (what local mode and the tests need)
	@bash tools/ensure-local-deps.sh

gateway-demo: deps ## Run Solution 1: nginx :80 in front of user-service and order-service
	@[ "$$($(PY) -c 'from localmode.cli import mode; print(mode())')" = docker ] || $(MAKE) --no-print-directory local-deps
	@$(PY) -m localmode up gateway

discovery-demo: deps ## Run Solution 2: Consul :8500 (UI), services :5001 and :5002 find each other
	@[ "$$($(PY) -c 'from localmode.cli import mode; print(mode())')" = docker ] || $(MAKE) --no-print-directory local-deps
	@$(PY) -m localmode up discovery

down: deps ## Stop whichever demo is running
	@$(PY) -m localmode down

restart: deps ## Restart one instance of the local demo (INSTANCE=user-service-2); with NETNS=1 at a new IP
	@$(PY) -m localmode restart $(INSTANCE)

smoke: deps ## Run the README's curl commands against the running demo and compare outputs
	@$(PY) -m localmode smoke

test: deps ## Install what the tests need (first time: apt, Consul, images), then run them all
	bash tools/install-test-deps.sh
	$(PY) -m pytest

test-unit: deps ## Only the fast tests (Flask test client)
	$(PY) -m pytest tests/unit

bench: local-deps ## Measure every path side by side (~20 min); writes docs/bench.md and docs/bench.png
	$(PY) -m bench.run

lint: deps ## ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
