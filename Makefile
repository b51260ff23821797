# The two commands: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck pytest bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The embedded default: migrate, load the sample Korean KB (identical files are skipped), serve.
run: install
	$(BIN)/ccos db migrate
	$(BIN)/ccos kb ingest examples/kb
	$(BIN)/ccos serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/actionlint .github/workflows/*.yml

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

# Every benchmark, then the README's table rewritten from bench/results/*.json. About 20 minutes;
# run it alone on the machine (the figures are timings).
bench: install
	$(BIN)/python bench/cold_start.py --runs 5
	$(BIN)/python bench/framework_overhead.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/retrieval_eval.py
	$(BIN)/python bench/retrieval_speed.py
	$(BIN)/python bench/chat_load.py
	$(BIN)/python bench/approvals.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/report.py

# The long checks: schemathesis with at least 5,000 cases, and the fault scenarios that take
# over a minute (Supabase Realtime down for 60 s).
fuzz: export CCOS_FUZZ_EXAMPLES := 100
fuzz: export CCOS_FUZZ_MINIMUM_CASES := 5000
fuzz: export CCOS_REALTIME_OUTAGE_SECONDS := 60
fuzz: install
	$(BIN)/pytest tests/e2e/test_fuzz.py tests/e2e/test_realtime_outage.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
