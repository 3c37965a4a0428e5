# Kabuto: `make run` starts a venue on localhost, `make test` runs every test, `make bench` the benchmarks.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test bench run conformance clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/kabuto warmup --clean
	touch $(STAMP)

test: install
	$(BIN)/pytest

conformance: install
	$(BIN)/python ../shared/conformance/check.py $(BIN)/kabuto

bench: install
	$(BIN)/kabuto bench

run: install
	$(BIN)/kabuto serve

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
	find . -name __pycache__ -prune -exec rm -rf {} +
