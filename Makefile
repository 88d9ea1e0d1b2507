# Ratecard: the two commands of the README, and a few helpers.
#   make demo   install, migrate, seed demo data and serve the admin on SQLite with eager Celery
#   make test   install and run the whole suite (ruff, import-linter, mypy, pytest) against PostgreSQL and Redis on 127.0.0.1

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ratecard
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0

# Debian packages the app uses: HarfBuzz's subsetter makes WeasyPrint's invoice PDFs 2x faster.
SYSTEM_PACKAGES ?= libharfbuzz-subset0
# The browser tests (tests/e2e) drive Debian's chromium through Playwright (never Playwright's download).
BROWSER_PACKAGES ?= chromium

.PHONY: install system-deps browser-deps demo test lint typecheck services pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv resolves and installs the same pins about 3x faster than pip (23 s against 75 s from a fresh
# clone on the 2-core CI machine); pip's own constraints file is honoured, and pip takes over if uv fails.
PIP_CONSTRAINT_FILE := $(firstword $(wildcard $(PIP_CONSTRAINT) /etc/xdg/pip/constraints.txt))

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@$(BIN)/python -m pip install -qq uv && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python $(if $(PIP_CONSTRAINT_FILE),--constraint $(PIP_CONSTRAINT_FILE)) -e '.[dev]' \
	  || { echo "uv could not install; falling back to pip"; $(BIN)/python -m pip install --quiet --upgrade pip && $(BIN)/python -m pip install --quiet -e '.[dev]'; }
	touch $@

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; (apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null)) \
	      || { echo "ERROR: could not install$$missing" >&2; exit 1; }; \
	  else echo "note: missing Debian packages$$missing (PDFs render slower without them)"; fi; \
	fi

browser-deps:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(BROWSER_PACKAGES) for the browser tests"; \
	    (apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null)) \
	      || { echo "ERROR: could not install $(BROWSER_PACKAGES) (needed by tests/e2e)" >&2; exit 1; }; \
	  else echo "ERROR: /usr/bin/chromium is missing; install Debian's chromium (apt-get install -y chromium) for tests/e2e" >&2; exit 1; fi; \
	}

# the demo does not issue numbered 0.00 invoices for its free plans (docs/money.md)
DEMO_ENV = env -u DATABASE_URL -u REDIS_URL RATECARD_FINALIZE_ZERO_INVOICES=false

demo: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo --port $(PORT)
	@echo ""
	@echo "Ratecard admin: http://127.0.0.1:$(PORT)/admin/   (API docs: http://127.0.0.1:$(PORT)/api/docs/)"
	@echo ""
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

services:
	@bash .ci/services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy .

pytest: install browser-deps services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test: install lint typecheck pytest

clean:
	rm -rf $(VENV) ratecard.sqlite3 staticfiles .mypy_cache .ruff_cache
