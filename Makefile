# The two commands a newcomer needs (README): `make demo` runs the app, `make test` the suite.
# Each sets up what it needs first: the virtualenv, the packages, (for tests) Debian's chromium.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo serve test lint browser install bench screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Runs the offline demo: migrate, demo data, fake providers, django-q2 cluster, web server.
## Ports: make demo PORT=8100 FAKES_PORT=8865 (web server, local fake providers).
PORT       ?= 8000
FAKES_PORT ?= 8765
demo: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py demo --port $(PORT) --fakes-port $(FAKES_PORT)

## Runs the production setup here (docs/deploy.md): DEBUG off, PostgreSQL and Redis on 127.0.0.1,
## migrate, collectstatic, gunicorn and one django-q2 cluster; SERVE_PORT, SERVE_DATABASE_URL.
serve: $(STAMP)
	$(BIN)/python deploy/serve.py

## Runs the whole test suite (SQLite unless DATABASE_URL says otherwise).
test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Retakes the README's screenshots from the demo (own database, free ports): docs/screenshots/.
screenshots: $(STAMP) browser
	$(BIN)/python docs/screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check .

## Runs every benchmark on the local PostgreSQL (docs/benchmarks.md); figures in bench/results.json.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

## Debian's chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: sudo apt-get install chromium (browser tests will be skipped)"; \
	  fi; }
