"""A third-party project that wants only sealed fields: ``integrations.sealed``
alone, no table of ours, no DRF, no OAuth (tests/test_fields_only.py). Its admin
uses the sealed layer's ``SealedFieldsAdminMixin``."""

import os

SECRET_KEY = "fields-only-tests"
USE_TZ = True
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "integrations.sealed",
    "tests.fieldsonly",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.fieldsonly.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["FIELDS_ONLY_DB"]}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INTEGRATIONS = {"ENCRYPTION_KEYS": os.environ["FIELDS_ONLY_KEYS"].split(",")}
