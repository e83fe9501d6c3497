# Everything tracehound needs is installed from here: `make run` and `make test` work on a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install postgres run demo test fuzz lint typecheck check bench bench-quick bench-analytics bench-summary load load-quick clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install tracehound with its dev tools

postgres:  ## Install Debian's PostgreSQL server if missing (the tests start their own throwaway one)
	scripts/ensure-postgres

run: $(STAMP)  ## Start tracehound on SQLite (~/.tracehound) and load the demo data
	$(BIN)/tracehound serve --demo

test: $(STAMP) postgres  ## Run the whole test suite, with lint and type checks
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

FUZZ_EXAMPLES ?= 200
FUZZ_TESTS := tests/test_fuzz_api.py tests/test_fuzz_decode.py tests/test_fuzz_ingest.py tests/test_sql_injection.py

fuzz: $(STAMP) postgres  ## The fuzz tests with a long budget, FUZZ_EXAMPLES=200 per property (many minutes)
	TRACEHOUND_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -n 2 -q --timeout=0 --durations=10 $(FUZZ_TESTS)

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)  ## mypy --strict
	$(BIN)/mypy

# DATABASE_URL=postgresql://... benchmarks that PostgreSQL server (scratch databases beside the
# URL's, dropped after); unset, the benchmark starts a throwaway one. BENCH_ARGS adds options.
# BEFORE=<git revision> also times SQLite served by that revision's code, first, on the same
# bodies, with the ratios now/before (18e2b16 is the code before the storage redesign).
BENCH_DB := $(if $(DATABASE_URL),--database-url '$(DATABASE_URL)')
BENCH_BEFORE := $(if $(BEFORE),--sqlite-before '$(BEFORE)')

bench: $(STAMP) postgres  ## Ingest and reads on 1,000,000 spans, SQLite and PostgreSQL in one run (DATABASE_URL=..., BEFORE=rev)
	$(BIN)/python bench/run.py $(BENCH_DB) $(BENCH_BEFORE) $(BENCH_ARGS)

bench-quick: $(STAMP) postgres  ## The same benchmark on 50,000 spans, both backends
	$(BIN)/python bench/run.py --spans 50000 --requests 50 --baseline-repeats 2 $(BENCH_DB) $(BENCH_BEFORE) $(BENCH_ARGS)

bench-analytics: $(STAMP)  ## /stats, /metrics/timeseries and bottlenecks on 1,000,000 spans
	$(BIN)/python bench/analytics.py

bench-summary: $(STAMP)  ## GET /spans/summary on a 10,000-span thread, against the vLLora way
	$(BIN)/python bench/summary.py

load: $(STAMP)  ## Load test: 8 OTLP exporters for 150 s while API clients query (about 4 minutes)
	$(BIN)/python bench/load.py

load-quick: $(STAMP)  ## The same load test for 20 s
	$(BIN)/python bench/load.py --quick

clean:  ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
