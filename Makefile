# dh-serverless developer commands. `make help` lists them.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELHOUSE ?= wheelhouse

# Every folder with a pyproject.toml is a distribution; a new plugin folder is picked up as is.
DISTS := $(patsubst %/pyproject.toml,%,$(wildcard \
	hookspecs/pyproject.toml core/pyproject.toml \
	plugins/*/pyproject.toml contrib/plugins/*/pyproject.toml))
SRC_DIRS := $(wildcard $(addsuffix /src,$(DISTS)))
empty :=
space := $(empty) $(empty)

# pytest exits 5 when it collects nothing (e.g. `-k` matched no test): not a failure here.
PYTEST := $(BIN)/pytest
NO_TESTS_OK := || test $$? -eq 5
# Parallel test processes (pytest-xdist): two per CPU (at most 16), as most tests spend much of
# their time waiting on a process they started; JOBS=auto is one per CPU, JOBS=0 one process.
# One test file (or test class) per process at a time, so module-scoped peers (Envoy, servers)
# start once; the longest files first, by the last run's durations (dh_serverless.testing.order).
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( 2 * n > 16 ? 16 : 2 * n )))
XDIST := -n $(JOBS) --dist loadscope --no-loadscope-reorder
# The peer venvs (tools/peers.py) the tests use; made once, before the tests start.
TEST_PEERS := dhcore-0.15 dhcore-0.16 mlserver kserve
# The tests that start no process (lanes: conftest.py); `make test-fast` runs them.
FAST := -m "not process and not slow"

.PHONY: help install run test test-fast test-one test-setup test-py310 bench wheels lint mypy fmt clean

help:
	@echo "make install          create $(VENV) with every distribution (editable) and the dev tools"
	@echo "make run              run contrib/examples/hello on http://127.0.0.1:8080/"
	@echo "make test             run every test, in parallel (JOBS=2 per CPU); installs what they need first"
	@echo "make test-fast        only the in-process tests (no servers, peers, browsers, builds): < 1 min"
	@echo "make test-setup       install the system packages (tools/system-packages.txt) and peer venvs"
	@echo "make test-one P=core  run one distribution's tests (P=trigger_http, dh-trigger-cron, ...)"
	@echo "make test-py310       the core and the triggers DH Core launches, on Python 3.10 (.venv310)"
	@echo "make bench            run every benchmark in bench/ (ARGS passed to each run.py)"
	@echo "make wheels           one wheel per distribution into $(WHEELHOUSE)/ (PIP_WHEEL_OPTIONS passed to pip)"
	@echo "make lint | mypy      ruff and mypy | mypy alone, on every distribution's src/"
	@echo "make fmt              ruff fix and format"
	@echo "make clean            remove the venv, caches and build output"

install: $(STAMP)

# Re-runs when a distribution appears or a pyproject/requirements file changes.
$(STAMP): requirements-dev.txt requirements-test.txt $(addsuffix /pyproject.toml,$(DISTS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements-dev.txt $(addprefix -e ./,$(DISTS))
	touch $@

run: install
	@echo
	@echo "  Try:  curl http://127.0.0.1:8080/"
	@echo "        curl -d World http://127.0.0.1:8080/"
	@echo "  Health and metrics on http://127.0.0.1:8082/ (/ready, /live, /metrics); Ctrl-C stops."
	@echo
	$(BIN)/dh-serverless run contrib/examples/hello/function.yaml

# The system packages the tests use (tools/system-packages.txt; apt-get when root on Debian,
# otherwise it stops and prints the command) and the peer venvs (tools/peers.py, in
# $$DH_PEERS_DIR or .peers/). Quick once everything is there.
test-setup:
	@sh tools/system-packages.sh
	@$(PYTHON) tools/peers.py $(TEST_PEERS) >/dev/null

# The tests start a few hundred Python processes and make a dozen venvs: bytecode caches are
# written (even where PYTHONDONTWRITEBYTECODE is set) so each process starts from them, and the
# venvs the tests install skip pip's byte-compiling of every dependency they never import.
TEST_ENV := PYTHONDONTWRITEBYTECODE= PIP_COMPILE=0 PIP_DISABLE_PIP_VERSION_CHECK=1

test: install test-setup
	$(TEST_ENV) $(PYTEST) $(XDIST) $(ARGS) $(NO_TESTS_OK)

test-fast: install
	$(TEST_ENV) $(PYTEST) $(XDIST) $(FAST) $(ARGS) $(NO_TESTS_OK)

test-one: install
	@test -n "$(P)" || { echo "usage: make test-one P=trigger_http"; exit 2; }
	@dir=$$(ls -d $(P)/tests plugins/$(P)/tests contrib/plugins/$(P)/tests 2>/dev/null | head -n1); \
	test -n "$$dir" || { echo "no tests/ folder for '$(P)'"; exit 2; }; \
	echo "$(PYTEST) $$dir $(ARGS)"; $(PYTEST) $$dir $(ARGS) $(NO_TESTS_OK)

# DH Core builds images for Python 3.10 too: the core, hookspecs and the triggers it launches
# (http, job; extproc and openinference import) plus the websocket trigger, tested on 3.10.
# PY310=/path/to/python3.10 picks the interpreter (default: pyenv's, else python3.10 on PATH).
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) $(shell command -v python3.10 2>/dev/null))
PY310_DISTS := hookspecs core plugins/trigger_http plugins/trigger_job plugins/trigger_extproc \
	plugins/trigger_openinference plugins/trigger_websocket
test-py310:
	@test -n "$(PY310)" || { echo "no Python 3.10 here: set PY310=/path/to/python3.10"; exit 2; }
	test -x .venv310/bin/python || $(PY310) -m venv .venv310
	.venv310/bin/python -m pip install --quiet pytest pytest-asyncio pytest-timeout hypothesis \
		nuclio-sdk psutil numpy websockets $(addprefix -e ./,$(PY310_DISTS))
	.venv310/bin/python -m pytest -p no:cacheprovider hookspecs/tests core/tests \
		plugins/trigger_http/tests plugins/trigger_job/tests plugins/trigger_websocket/tests $(ARGS)
	.venv310/bin/python -c "import dh_serverless.triggers.extproc, dh_serverless.triggers.openinference"

bench: install
	@set -e; found=; for run in bench/*/run.py; do \
		test -f "$$run" || continue; found=1; \
		echo "== $$run"; $(BIN)/python "$$run" $(ARGS); \
	done; test -n "$$found" || echo "no benchmarks yet (bench/*/run.py)"

# Our distributions only. Needs just pip (builds are isolated, unless PIP_WHEEL_OPTIONS says
# --no-build-isolation: then hatchling must be installed), so no venv is required.
wheels:
	rm -rf $(WHEELHOUSE)
	PYTHON=$(PYTHON) sh contrib/deploy/wheelhouse.sh . $(WHEELHOUSE) --no-deps $(PIP_WHEEL_OPTIONS)

lint: install mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mypy: install
	MYPYPATH=$(subst $(space),:,$(SRC_DIRS)) $(BIN)/mypy $(SRC_DIRS)

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .venv310 .tox $(WHEELHOUSE) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.egg-info' -type d -prune -exec rm -rf {} +
