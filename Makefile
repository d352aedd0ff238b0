# sharedseq: every target installs what it needs, so a fresh clone needs only `make run` / `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The replicated log's engine (issue 12): Debian's nats-server (2.9.10 on bookworm), put in by apt-get when
# missing (root on every machine here, CI included); the tests start it as a 3-node JetStream cluster.
NATS_SERVER := $(shell command -v nats-server 2>/dev/null)
# The console's browser test (issue 15): Debian's chromium, driven headless by playwright-core (package.json).
CHROMIUM := $(shell command -v chromium 2>/dev/null)
CONFIG ?= deploy/devnet.toml
# pytest-xdist workers for `make test`: most tests wait on chains, sockets and slot clocks, not the CPU, so
# four workers on two cores finish in about half the serial time; whole files go to one worker (their
# module fixtures start one chain each). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 4

.PHONY: all install nats-server chromium apidoc apidoc-check configdoc configdoc-check run test test-fast lint typecheck proto proto-check contracts contracts-check bench clean

all: test

$(PY_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# anvil (L1 and rollup engines) and solc, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

nats-server:
ifeq ($(NATS_SERVER),)
	apt-get install -y -q nats-server || (apt-get update -q && apt-get install -y -q nats-server)
endif

chromium:
ifeq ($(CHROMIUM),)
	apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)
endif

install: $(PY_STAMP) $(NODE_STAMP) nats-server chromium

## Generated gRPC code lives in sharedseq/v1, regenerated from proto/ by one command.
proto: $(PY_STAMP)
	$(PY) -m sequencer.tools.protogen --out .

proto-check: $(PY_STAMP)
	$(PY) -m sequencer.tools.protogen --check .

## docs/api-reference.md, generated from the protos' comments by one command (checked stale in CI).
apidoc: $(PY_STAMP)
	$(PY) -m sequencer.tools.apidoc . --out

apidoc-check: $(PY_STAMP)
	$(PY) -m sequencer.tools.apidoc . --check

## docs/config-reference.md, from deploy/sequencer.sample.toml checked against the config schema.
configdoc: $(PY_STAMP)
	$(PY) -m sequencer.tools.configdoc . --out

configdoc-check: $(PY_STAMP)
	$(PY) -m sequencer.tools.configdoc . --check

contracts: install
	$(PY) -m contracts.compile

contracts-check: install
	$(PY) -m contracts.compile --check

# RUN_ARGS: extra flags for `sharedseq devnet`, e.g. RUN_ARGS=--free-ports
run: install
	$(BIN)/sharedseq devnet --config $(CONFIG) $(RUN_ARGS)

test: install proto-check contracts-check apidoc-check configdoc-check
	$(BIN)/ruff check .
	$(BIN)/mypy sequencer rollup_adapters rollup_node deploy contracts
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30

# The unit layer alone, in seconds: no process, socket or chain (tests/conftest.py refuses them there),
# and without the long property runs marked `slow` (`make test` runs those). One process: the tests take
# about 10 s of CPU and the rest is importing, which every extra worker would pay again.
test-fast: $(PY_STAMP)
	$(BIN)/pytest -q -n 0 -m "not integration and not slow" tests/unit

lint: $(PY_STAMP)
	$(BIN)/ruff check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy sequencer rollup_adapters rollup_node deploy contracts

# Throughput and latency of the sequencer, then L1 gas per posted block and per batch byte.
# BENCH_ARGS: e.g. --long-soak (10-minute memory soak), --point-s 5, --tiny (see python -m sequencer.bench -h)
# compileall: an installed wheel has its bytecode; a checkout run with PYTHONDONTWRITEBYTECODE=1
# would compile our modules from source on every start the restart figure times.
bench: install
	$(PY) -m compileall -q sequencer rollup_adapters rollup_node sharedseq
	$(PY) -m sequencer.bench $(BENCH_ARGS)
	$(PY) -m deploy.bench_gas

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis var
