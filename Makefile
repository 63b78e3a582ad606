# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Demo: the embedded SQLite default, the 获嘉县 demo library, the bot with its web chat.
demo: $(STAMP)
	$(BIN)/ssj init
	$(BIN)/ssj demo-data
	SSJ_WEB_CHAT=1 $(BIN)/ssj serve

# Two processes (pytest-xdist): the suite in about half the time on this 2-core machine.
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2

# The loop while working: pure rules and the service tests on SQLite, without the tests
# marked slow and with an eighth of the property examples (no PostgreSQL, no browser),
# on two processes (pytest-xdist; each builds its own template database).
test-fast: $(STAMP)
	SSJ_HYPOTHESIS_FAST=1 $(BIN)/python -m pytest -q -n 2 -m "not postgres and not slow" tests/unit tests/service

# The gate: ruff (lint and format), mypy, the import layers (docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m tests.layers

# Debian's Chromium for tests/e2e (driven by playwright; never `playwright install`).
# Nothing to do when /usr/bin/chromium is there. The CJK font makes screenshots readable.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "make browser: /usr/bin/chromium is missing and apt-get is unavailable;" \
	         "install Chromium with your package manager (tests/e2e needs it)." >&2; \
	    exit 1; \
	  fi; \
	  apt-get update && apt-get install -y chromium fonts-wqy-microhei; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
