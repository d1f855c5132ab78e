"""A third-party project that wants only sealed fields: ``integrations.sealed``
alone, no table of ours, no DRF, no OAuth (tests/test_fields_only.py)."""

import os

SECRET_KEY = "fields-only-tests"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "integrations.sealed",
    "tests.fieldsonly",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["FIELDS_ONLY_DB"]}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INTEGRATIONS = {"ENCRYPTION_KEYS": os.environ["FIELDS_ONLY_KEYS"].split(",")}
