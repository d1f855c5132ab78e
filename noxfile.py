"""The supported matrix, as CI runs it: ``make matrix`` (or ``nox``).

Each session builds its own virtualenv from the interpreters already on this
machine (PATH, then pyenv's versions): nox never downloads one. The matrix is
the oldest and the newest supported combination on SQLite and on PostgreSQL,
the middle Django on SQLite, the newest without the ``api`` extra (no DRF: the
core must import and work without it), and the browser tests once (in the
newest SQLite session). Python 3.14 joins the newest combinations when an interpreter exists.
"""

import glob
import os
import shutil

import nox

# pyenv's interpreters, for machines where they are not on PATH (never downloaded).
_PYENV = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin")), reverse=True)
os.environ["PATH"] = os.pathsep.join([*_PYENV, os.environ.get("PATH", "")])

# uv builds each session's virtualenv in seconds where pip took a minute and a
# half (five sessions in CI); plain venv where uv is not installed. Neither nox
# nor uv ever downloads an interpreter: they use the ones on this machine.
nox.options.default_venv_backend = "uv|venv"
nox.options.download_python = "never"
os.environ["UV_PYTHON_DOWNLOADS"] = "never"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

POSTGRES_URL = os.environ.get("NOX_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
DJANGO = {"5.2": "Django>=5.2,<5.3", "6.0": "Django>=6.0,<6.1", "6.1": "Django>=6.1,<6.2"}

# (python, django, database, browser tests)
MATRIX = [
    ("3.11", "5.2", "sqlite", False),
    ("3.11", "5.2", "postgres", False),
    ("3.12", "6.0", "sqlite", False),
    ("3.13", "6.1", "sqlite", True),
    ("3.13", "6.1", "postgres", False),
]
if shutil.which("python3.14"):
    MATRIX += [("3.14", "6.1", "sqlite", False)]
# The full suite runs on PostgreSQL with the oldest and the newest stacks; the
# SQLite cells (whose newest is `make test`'s) leave out the live-server flows
# (tests/e2e) and the fault scenarios (tests/faults), which exercise servers and
# processes rather than the Django version. No cell repeats what does not depend
# on the stack: the wheel and venv builds (`slow`) run in `make test` only, and
# the schemathesis run (`fuzz`, deterministic: the same requests every time) in
# `make test` and on the newest PostgreSQL. That keeps CI under 45 minutes on 2 cores.
FULL_SUITE = {("3.11", "5.2", "postgres"), ("3.13", "6.1", "postgres")}
SUBSET = ("--ignore=tests/e2e", "--ignore=tests/faults")
FUZZED = ("3.13", "6.1", "postgres")


def _suite(session, django, database, browser):
    """The whole suite for one combination."""
    session.install("-e", ".[dev]", DJANGO[django])
    env = {"BROWSER_TESTS": "1" if browser else "0", "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    if database == "postgres":
        env["DATABASE_URL"] = POSTGRES_URL
    else:  # explicit, whatever the caller's environment says (tests run in memory)
        env["DATABASE_URL"] = f"sqlite:///{session.create_tmp()}/db.sqlite3"
    session.run(
        "python",
        "-c",
        "import django, sys; print('Python', sys.version.split()[0], "
        "'Django', django.get_version())",
    )
    cell = (session.python, django, database)
    if browser:  # what `make test` runs: everything
        selection = ()
    else:
        subset = () if cell in FULL_SUITE else SUBSET
        selection = (*subset, "-m", "not slow" if cell == FUZZED else "not slow and not fuzz")
    _pytest(session, env, *selection)


def _pytest(session, env, *selection):
    pytest = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    session.run(*pytest, *selection, *session.posargs, env=env)


def _define(python, django, database, browser):
    # One named session per combination, each with its own interpreter. The one
    # with the browser tests is what `make test` runs (newest Python and Django,
    # SQLite), so CI, which runs `make test` first, leaves it out (tag "ci").
    tags = [] if browser else ["ci"]

    @nox.session(python=python, name=f"tests-py{python}-django{django}-{database}", tags=tags)
    def combination(session):
        _suite(session, django, database, browser)

    combination.__doc__ = f"Python {python}, Django {django}, {database}" + (
        ", browser tests" if browser else ""
    )


for _combo in MATRIX:
    _define(*_combo)


@nox.session(python="3.13", name="tests-py3.13-django6.1-sqlite-without-api", tags=["ci"])
def without_api(session):
    """Python 3.13, Django 6.1, sqlite, without the api extra (no DRF): the core works."""
    session.install("-e", ".[test]", DJANGO["6.1"])
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        "sys.exit(importlib.util.find_spec('rest_framework') is not None)",
    )
    env = {"BROWSER_TESTS": "0", "DATABASE_URL": f"sqlite:///{session.create_tmp()}/db.sqlite3"}
    _pytest(session, env, "-m", "not slow")
