# The two commands: `make run` (set up and serve) and `make test` (the suite).
# Both create or update .venv first, so a fresh clone needs nothing else.

VENV := .venv
PY := $(VENV)/bin/python
# Python >= 3.11: the newest interpreter found on PATH or in pyenv's versions (a
# shim for a version that is not active fails the probe and is skipped), so
# Django 6 is installed where it can be. Probed once, when first needed (a plain
# recursive variable would run the probe, 2 s or so, at every use).
PYTHON_PROBE = $(shell for p in python3.14 python3.13 python3.12 python3.11 python3 \
	$$(ls -d $$HOME/.pyenv/versions/3.1[1-9]*/bin/python3 2>/dev/null); do \
	v=$$("$$p" -c 'import sys; v = sys.version_info; print("%d.%d.%d" % v[:3]) if v >= (3, 11) else sys.exit(1)' 2>/dev/null) \
	&& echo "$$v $$p"; done | sort -rV | head -n 1 | cut -d" " -f2)
PYTHON ?= $(eval PYTHON := $$(PYTHON_PROBE))$(PYTHON)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-wrapped faults scale-test lint matrix bench dist docs catalog-page venv run-venv check migrate superuser clean

# Two installs into the one .venv, each with its stamp. `make run` installs only
# the hosting project (.[project]: the app, the API, the demo provider: ~45
# packages), and lets Python compile on import what it runs; the tests, lint, docs
# and benchmarks need every dev and bench dependency (~180 packages) on top.
venv: $(VENV)/.installed
run-venv: $(VENV)/.installed-run

define new_venv
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
endef

$(VENV)/.installed: pyproject.toml
	$(new_venv)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

$(VENV)/.installed-run: pyproject.toml
	$(new_venv)
	$(PY) -m pip install --quiet --no-compile -e '.[project]'
	@touch $@

# Written once with a fresh key; never overwritten (delete it to start over).
.env: | run-venv
	@echo "Writing .env with a new development key (kept out of git)."
	@{ echo "DEBUG=true"; \
	   echo "SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	   echo "INTEGRATIONS_ENCRYPTION_KEYS=$$(DEBUG=true $(PY) manage.py generate_encryption_key --key-version 1 2>/dev/null)"; \
	 } > .env
	@chmod 600 .env

migrate: run-venv .env
	$(PY) manage.py migrate --no-input

# With DEBUG on, the local demo OAuth provider is installed: register it as the
# "demo" Provider so that "Connect Demo" works with no internet.
# (One Django start: the command is tried, and "Unknown command" means DEBUG is off.)
run: migrate
	@out=$$($(PY) manage.py setup_demo --base-url http://$(HOST):$(PORT) 2>&1); rc=$$?; \
	 case "$$out" in *"Unknown command: 'setup_demo'"*) ;; *) echo "$$out"; exit $$rc ;; esac
	@echo "Serving on http://$(HOST):$(PORT)/ (admin: /admin/; create a user with 'make superuser', see README)."
	DEMO_BASE_URL=http://$(HOST):$(PORT) $(PY) manage.py runserver $(HOST):$(PORT)

# Asks for the username and password at a terminal. Without one (a script, CI,
# an IDE's task runner) it reads DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_EMAIL
# and DJANGO_SUPERUSER_PASSWORD instead, and says so when they are missing.
superuser: migrate
	@if [ -n "$$DJANGO_SUPERUSER_USERNAME" ]; then \
	   $(PY) manage.py createsuperuser --no-input; \
	 elif [ -t 0 ]; then \
	   $(PY) manage.py createsuperuser; \
	 else \
	   echo "No terminal to ask for a password: set DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD, e.g." >&2; \
	   echo "  DJANGO_SUPERUSER_USERNAME=admin DJANGO_SUPERUSER_EMAIL=admin@example.com DJANGO_SUPERUSER_PASSWORD='a long passphrase' make superuser" >&2; \
	   exit 2; \
	 fi

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests that seal and open, with ONLY wrapped keys: the test keys wrapped by a
# KEK in a SoftHSM2 token the run makes itself (tests/softhsm.py). CI runs it.
WRAPPED_TESTS := tests/test_fields.py tests/test_resealing.py tests/crypto tests/test_tokens.py \
	tests/test_credentials.py tests/test_key_wrapper.py tests/management tests/test_refresh.py \
	tests/test_models.py tests/test_checks.py tests/test_admin.py \
	tests/sealed tests/test_find_by_secret.py
test-wrapped: venv
	SEALED_TEST_WRAPPER=pkcs11 BROWSER_TESTS=0 $(PY) -m pytest -q -p no:cacheprovider $(WRAPPED_TESTS) $(PYTEST_ARGS)

# The fault scenarios (tests marked `faults`) against real servers the run starts:
# a private PostgreSQL cluster holding the test database (restarted under the app),
# and the tests' own Redis servers (stopped and started). CI runs it.
faults: venv
	$(PY) tests/faults/run.py -q $(PYTEST_ARGS)

# The multi-host scale bed (benchmarks/scale/, needs root): app hosts as network
# namespaces running gunicorn and Celery, a private PostgreSQL (direct and through
# PgBouncer), Redis and the fake provider; prints its report (scale-report/).
# SCALE=short for the few-minute run CI does; SCALE_ARGS="--scenarios api" picks.
SCALE ?= full
scale-test: venv
	$(PY) -m benchmarks.scale --size $(SCALE) --pgbouncer $(SCALE_ARGS)

# Lint, format check, types and the architecture's import contracts
# ([tool.importlinter] in pyproject.toml): CI runs it first.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy integrations
	$(VENV)/bin/lint-imports --no-cache

# The supported matrix (noxfile.py): what CI runs. NOX_ARGS="-s tests-..." picks sessions.
matrix: venv
	$(PY) -m nox --list
	$(PY) -m nox $(NOX_ARGS)

# The wheel and the sdist (no tests: they need the hosting project), checked as PyPI would.
dist: venv
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

# The provider catalog's documentation page, generated from its data files.
catalog-page: venv
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) -c "import django; django.setup(); \
	from integrations.providers.catalog_page import main; raise SystemExit(main())" \
	> docs/reference/provider-catalog.md

# The documentation site (mkdocs.yml, docs/) into site/; strict: a broken link
# or a page missing from the nav fails the build (tests/test_docs.py does the same).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

bench: venv
	$(PY) benchmarks/run.py $(BENCH_ARGS)

check: venv
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache .nox dist build site
