# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The current quarter's task id, e.g. 2026Q4.
TASK ?= $(shell date +%Y)Q$(shell echo $$(( ($$(date +%-m) - 1) / 3 + 1 )))

demo: $(STAMP)
	$(BIN)/ssj init
	$(BIN)/ssj demo-data
	$(BIN)/ssj draw show --task $(TASK) >/dev/null 2>&1 || $(BIN)/ssj draw run --task $(TASK)
	$(BIN)/ssj draw verify --task $(TASK)

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
