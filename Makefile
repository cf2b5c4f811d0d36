# Two commands for a newcomer: `make run` (everything, no services) and `make test` (the suite).
# Needs only Python 3.12+ and make: uv is bootstrapped into .tools/ and installs the lock file.

SHELL := /bin/bash
UV_VERSION := 0.13.9
# The first interpreter that is Python 3.12 or newer.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3; do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; \
	done)
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint format typecheck migrations-check checks messages clean

$(UV):
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (python3.12/python3.13 on PATH)."; exit 1; }
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

## make run: migrate, load the demo once, start web + Celery worker + beat on SQLite (Ctrl-C stops).
run: $(VENV)/.synced
	$(VENV)/bin/python manage.py runlocal

## make test: the whole suite (PostgreSQL / Redis when DATABASE_URL / REDIS_URL are set).
test: $(VENV)/.synced
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.synced
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy $$(ls -d apps/*/services.py apps/*/services apps/*/selectors.py apps/*/selectors 2>/dev/null)

migrations-check: $(VENV)/.synced
	DJANGO_SETTINGS_MODULE=cxplatform.settings.test $(VENV)/bin/python manage.py makemigrations --check --dry-run

## make checks: the quality gates CI runs before the tests.
checks: lint migrations-check typecheck

## make messages: refresh and compile the translations (needs GNU gettext).
messages: $(VENV)/.synced
	$(VENV)/bin/python manage.py makemessages -l fi --ignore=.venv --ignore=.tools --ignore=staticfiles --ignore=tests --ignore=node_modules
	$(VENV)/bin/python manage.py compilemessages --ignore=.venv --ignore=.tools --ignore=node_modules

clean:
	rm -rf .tools $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
