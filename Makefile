# bkstorages developer commands. The two that matter most:
#   make sandbox   set up and run the demo site on a local bk-repo dev server
#   make test      set up and run lint, types and the whole test suite

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DJANGO_SPEC ?= Django>=5.2,<5.3
STAMP := $(VENV)/.installed

.PHONY: help venv test lint typecheck pytest docs docs-serve system-deps sandbox devserver bench bench-smoke soak test-matrix clean

help:
	@echo "make sandbox     run the demo site against a local bk-repo dev server"
	@echo "make test        lint, type-check and run the test suite (what CI runs)"
	@echo "make devserver   run the bk-repo dev server with default options"
	@echo "make docs        build the documentation into docs/_build/html (warnings are errors)"
	@echo "make docs-serve  build the documentation and serve it on http://127.0.0.1:$(DOCS_PORT)/"
	@echo "make bench       run the benchmarks and write bench/results.md"
	@echo "make soak        a 60 s soak of mixed operations on 32 threads (SOAK_ARGS to change it)"
	@echo "make test-matrix run the tests on every supported Python x Django"

$(BIN)/python:
	@bash scripts/make-venv.sh "$(PYTHON)" "$(VENV)"

# Contributor tools are dependency groups in pyproject.toml (--group needs pip 25.1+).
$(STAMP): $(BIN)/python setup.cfg setup.py pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[contrib,devserver]" --group dev "$(DJANGO_SPEC)"
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The test suite builds the docs too (tests/docs/), so a broken reference fails CI.
test: lint typecheck pytest

# The docs: Sphinx from the "docs" dependency group (part of "dev"). A fresh
# build every time, so warnings of unchanged pages are never hidden.
DOCS_BUILD ?= docs/_build/html
DOCS_PORT ?= 8001

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -n -E -a -q -b html docs $(DOCS_BUILD)
	@echo "Built $(DOCS_BUILD)/index.html"

docs-serve: docs
	@echo "Serving the docs on http://127.0.0.1:$(DOCS_PORT)/ (Ctrl-C stops)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory $(DOCS_BUILD) $(DOCS_PORT)

# The browser test drives Debian's Chromium and the shared URL cache test a
# real Redis; install them when they are missing.
system-deps:
	@bash scripts/system-deps.sh "the browser and Redis tests" \
		/usr/bin/chromium=chromium /usr/bin/chromedriver=chromium-driver redis-server=redis-server

sandbox: $(STAMP)
	@VENV="$(VENV)" bash scripts/sandbox.sh

devserver: $(STAMP)
	$(BIN)/python -m bkstorages_contrib.devserver $(DEVSERVER_ARGS)

# Benchmarks: curl (apt-get when missing), matplotlib (the "bench" group);
# bench/run.py creates bench/.venv-anchor with bkstorages 3.1.0 from PyPI.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	@bash scripts/system-deps.sh "the benchmarks" curl=curl
	$(BIN)/python -m pip install --quiet -e ".[contrib,devserver]" --group bench "$(DJANGO_SPEC)"
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/devserver.py

bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke $(BENCH_ARGS)

# A bounded soak against its own dev server (32 threads, 60 s by default);
# e.g. SOAK_ARGS="--threads 8 --seconds 600 --max-size 65536".
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

test-matrix: $(STAMP) system-deps
	$(BIN)/nox $(NOX_ARGS)

clean:
	rm -rf $(VENV) .nox .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info docs/_build
