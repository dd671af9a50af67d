# Every target installs what it needs into .venv first (and Debian's Chromium for the browser
# tests: Playwright drives /usr/bin/chromium; never `playwright install`).
VENV ?= .venv
PY := $(VENV)/bin/python
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run test test-postgres test-all lint format check-rules bench clean

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

bench: install               ## the benchmark (not part of the tests)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts
