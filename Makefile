# Ratecard: the two commands of the README, and a few helpers.
#   make demo   install, migrate, seed demo data and serve the admin on SQLite with eager Celery
#   make test   install and run the whole suite (ruff, mypy, pytest) against PostgreSQL and Redis on 127.0.0.1

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ratecard
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: install demo test lint typecheck services pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py migrate --noinput
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "Ratecard admin: http://127.0.0.1:$(PORT)/admin/   (API docs: http://127.0.0.1:$(PORT)/api/docs/)"
	@echo ""
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

services:
	@bash .ci/services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test: install lint typecheck pytest

clean:
	rm -rf $(VENV) ratecard.sqlite3 staticfiles .mypy_cache .ruff_cache
