# Two commands do all the set-up on a fresh machine:  make serve   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PF := $(BIN)/practice-finder
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install index serve search test test-real test-rest test-fast lint typecheck messages clean

# The venv is (re)made when missing or when the dependencies change. --no-compile: pip would compile
# every module of every package to bytecode (torch alone has thousands), about a minute of a fresh
# install here; Python compiles the modules a command imports when it first imports them, and keeps them.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Builds only when the corpus (or model, or schema) changed since the current build.
index: install
	$(PF) ingest

# Serves the web service and JSON API on http://127.0.0.1:8000/ (API docs at /schema/swagger).
serve: index
	$(PF) serve --host 127.0.0.1 --port 8000

# The whole suite (what CI runs): unit tests plus tests on the real models and the real corpus.
# Two pytest processes side by side, one per core: the tests marked `real` (each real index is built
# once, in that process) and the rest. Each part's report is printed whole when it ends.
test: install
	$(MAKE) --no-print-directory -j2 --output-sync=target test-real test-rest

test-real: install
	$(BIN)/python -m pytest -m real

test-rest: install
	$(BIN)/python -m pytest -m "not real"

# The fast lane, about five minutes: every test not marked `real` (no shipped model, no real index;
# the tiny corpus with the deterministic embedder instead).
test-fast: install
	$(BIN)/python -m pytest -m "not real" -n 2

# Lint: ruff's rules, ruff's formatting (`ruff format src tests scripts` fixes it) and the import layers.
lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# After changing the words of a page or a reason: the message template and every catalog brought up
# to date (new and changed messages then need translating; see src/practice_finder/locale/README.md).
LOCALE := src/practice_finder/locale
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output -w 100 \
		--project practice-finder --version 0.1.0 -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) --ignore-obsolete -w 100

clean:
	rm -rf $(VENV) indexes .pytest_cache .mypy_cache
