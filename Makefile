# Every target installs what it needs into .venv first (and Debian's Chromium for the browser
# tests: Playwright drives /usr/bin/chromium; never `playwright install`).
VENV ?= .venv
PY := $(VENV)/bin/python
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run test test-postgres test-all lint format check-rules bench clean \
	bench-intake bench-rules bench-reconcile bench-worker bench-sql bench-onboarding bench-hung \
	bench-memory bench-starvation

$(VENV)/.installed: requirements.txt requirements-dev.txt
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install                 ## the server, worker, both sandboxes and the demo tenant
	$(PY) server.py

test: install                ## the whole suite on SQLite (PostgreSQL-only tests use $(PG_URL))
	$(PY) -m pytest

test-postgres: install       ## the whole suite on PostgreSQL
	DATABASE_URL=$(PG_URL) $(PY) -m pytest

test-all: test test-postgres

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-rules: install         ## check every tenant and rule file
	$(VENV)/bin/flask --app server rules check

bench: install               ## every benchmark (not part of the tests; see README, Benchmark)
	$(PY) -m bench.run

# One benchmark each; BENCH_ARGS passes options, e.g. make bench-worker BENCH_ARGS="--jobs 1000"
bench-intake bench-rules: bench-%: install
	$(PY) -m bench.run --only $* $(BENCH_ARGS)

bench-reconcile bench-worker bench-sql bench-onboarding bench-hung bench-memory bench-starvation: bench-%: install
	$(PY) -m bench.$* $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
