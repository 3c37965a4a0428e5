# Kabuto: `make run` starts a venue on localhost, `make test` runs every test, `make bench` the benchmarks.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-boundscheck bench run conformance clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,evm,bench,adapters]'
	$(BIN)/kabuto warmup --clean
	touch $(STAMP)

# Compiled code runs without bounds checks, so an out-of-range write corrupts memory silently. The
# suites that drive the venue's compiled stages (gateway, journal and recovery) and the kernel's
# halts, call auctions and oracle rules run with numba's bounds checking on: an out-of-range index there is an IndexError naming the line. Checked kernels
# live in their own cache (numba's cache does not tell checked from unchecked code).
CHECKED_SUITES := tests/gateway tests/journal tests/test_halts_auctions.py tests/test_oracle.py
CHECKED_ENV := NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(abspath $(VENV))/numba-boundscheck

# Tests run in two pytest-xdist workers, one per core (a test file stays on one worker, so a module's
# shared venue starts once). The checked kernels compile beside the unchecked suites (minutes saved
# on a fresh machine); test-boundscheck's own warmup then finds them cached. The slowest tests are
# listed at the end of each run.
XDIST := -n 2 --dist loadfile --durations=15
test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(CHECKED_ENV) $(BIN)/kabuto warmup >$(VENV)/warmup-checked.log 2>&1 & warm=$$!; \
	$(BIN)/pytest $(XDIST) $(addprefix --ignore=,$(CHECKED_SUITES)); rc=$$?; \
	wait $$warm || { cat $(VENV)/warmup-checked.log; rc=1; }; exit $$rc
	$(MAKE) test-boundscheck

test-boundscheck: install
	$(CHECKED_ENV) $(BIN)/kabuto warmup
	$(CHECKED_ENV) $(BIN)/pytest $(XDIST) $(CHECKED_SUITES)

conformance: install
	$(BIN)/python ../shared/conformance/check.py $(BIN)/kabuto

bench: install
	$(BIN)/python -m bench

run: install
	$(BIN)/kabuto serve --rest 8080 --fix 9878 --metrics 9100 --dashboard 8000

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
	find . -name __pycache__ -prune -exec rm -rf {} +
