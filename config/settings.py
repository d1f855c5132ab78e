"""Settings of the hosting project (development, demo, tests), from the environment.

Every value comes from an environment variable (or `.env`, which `make run`
writes on first use); `.env.example` documents them all. The reusable app reads
only the ``INTEGRATIONS`` dict below.
"""

from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path

import django
import environ

from config.database import database_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    # Real environment variables win over .env (read_env never overwrites).
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else "insecure-dev-only-key")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for local development).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The sealed-values layer (fields, keys, checks, key commands), then the
    # integrations app built on it.
    "integrations.sealed",
    "integrations",
]
# The REST API (integrations.api) comes with the `api` extra: DRF, hashed expiring
# API tokens (knox), filters, OpenAPI + Swagger UI with its assets served from
# static files (no CDN). Without the extra, the project runs without /api/.
API_ENABLED = find_spec("rest_framework") is not None
if API_ENABLED:
    INSTALLED_APPS[-1:-1] = [
        "rest_framework",
        "knox",
        "django_filters",
        "drf_spectacular",
        "drf_spectacular_sidecar",
    ]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the pages and API messages from the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The local demo OAuth providers (config/demo_provider: django-oauth-toolkit for
# OAuth 2 under /o/, Authlib for OAuth 1.0a under /oauth1/) are on when DEBUG is,
# so `make run` can connect an account with no internet. They are authorization
# servers for development and the tests, never for production.
DEMO_PROVIDER = env.bool("DEMO_PROVIDER", default=DEBUG)
if DEMO_PROVIDER:
    from config.demo_provider.keys import signing_key_pem

    INSTALLED_APPS += ["oauth2_provider", "config.demo_provider"]
    # Its pages work in a connect session's popup (see the middleware's docstring).
    MIDDLEWARE.insert(1, "config.demo_provider.middleware.ProviderPagesInPopups")
    OAUTH2_PROVIDER = {
        "PKCE_REQUIRED": True,
        "ROTATE_REFRESH_TOKEN": True,
        # Like oidc-provider and Auth0: a rotated refresh token presented again
        # revokes the whole grant (RFC 9700 §4.14.2).
        "REFRESH_TOKEN_REUSE_PROTECTION": True,
        "REQUEST_APPROVAL_PROMPT": "force",
        # RFC 9207: `iss` in every authorization response, advertised in discovery.
        "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
        # RFC 9700 token storage: the demo server keeps only a SHA-256 checksum of
        # each access and refresh token it issues (DOT's `token` column stays
        # blank), so no dump or admin page holds a live copy of the tokens the
        # Integration keeps sealed. (Needs no refresh-token grace period.)
        "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
        "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("DEMO_ACCESS_TOKEN_SECONDS", default=3600),
        "OIDC_ENABLED": True,
        # An RS256 key kept beside manage.py (created on first use, git-ignored);
        # DEMO_OIDC_KEY_FILE= (empty) keeps it in memory instead.
        "OIDC_RSA_PRIVATE_KEY": signing_key_pem(
            env.str("DEMO_OIDC_KEY_FILE", default=str(BASE_DIR / ".demo_oidc_key.pem"))
        ),
        "OAUTH2_VALIDATOR_CLASS": "config.demo_provider.validators.DemoOAuth2Validator",
        "SCOPES": {
            "openid": "Know who you are",
            "profile": "See your name and username",
            "email": "See your email address",
            "read": "Read your demo data",
            "write": "Change your demo data",
        },
        "DEFAULT_SCOPES": ["read"],
    }

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL: psycopg's connection pool unless DB_POOL=false, and what PgBouncer in
# transaction mode needs with DB_PGBOUNCER=true; SQLite: one connection per thread
# kept DB_CONN_MAX_AGE seconds. config/database.py says why.
DATABASES = {"default": database_settings(env, f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Celery (config/celery.py, with the `celery` extra): the broker, and where task
# results go (none unless set). Beat's schedule is in config/celery.py.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The languages the app ships translations for (integrations/locale, integrations/sealed/locale).
LANGUAGES = [("en", "English"), ("fr", "Français")]
# The demo site's own pages (templates/: home, login, layout) are translated in config/locale.
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INTEGRATIONS = {
    # "2:<base64>,1:<base64>": primary first; every listed key still decrypts.
    "ENCRYPTION_KEYS": env.list("INTEGRATIONS_ENCRYPTION_KEYS", default=[]),
    "ALLOW_PLAINTEXT_READS": env.bool("INTEGRATIONS_ALLOW_PLAINTEXT_READS", default=False),
}


def _demo_origins(base_url):
    """The dev server's origin(s) for the demo's single-page app: ``make run``
    passes ``DEMO_BASE_URL=http://$(HOST):$(PORT)`` (as it passes --base-url to
    setup_demo); 127.0.0.1 and localhost are the same server."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    origins = [f"{parts.scheme}://{parts.netloc}"]
    host, _, port = parts.netloc.rpartition(":") if parts.port else (parts.netloc, "", "")
    twin = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host)
    if twin:
        origins.append(f"{parts.scheme}://{twin}{':' + port if port else ''}")
    return origins


# Where a connect session may send its result (POST /api/connect-sessions/).
# With the demo on, the dev server itself: its "Connect from a single-page app" page.
INTEGRATIONS["CONNECT_ALLOWED_ORIGINS"] = env.list(
    "CONNECT_ALLOWED_ORIGINS",
    default=_demo_origins(env.str("DEMO_BASE_URL", default="http://127.0.0.1:8000"))
    if DEMO_PROVIDER
    else [],
)

# The REST API under /api/ (integrations.api). Its viewsets bring their own
# permissions, JSON parser, pagination, filters and error handler; these are the
# project-wide defaults for any other DRF view. Throttle counts live in the
# default cache: set CACHE_URL to Redis when running several processes.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request gets 401 with WWW-Authenticate.
        "integrations.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # CSRF enforced
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["integrations.api.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "integrations.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "integrations.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "integrations.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "integrations_credentials": env.str("API_THROTTLE_CREDENTIALS", default="120/min"),
        "integrations_refresh": env.str("API_THROTTLE_REFRESH", default="10/min"),
        "integrations_integration_refresh": env.str(
            "API_THROTTLE_INTEGRATION_REFRESH", default="10/min"
        ),
        "integrations_connect_sessions": env.str("API_THROTTLE_CONNECT_SESSIONS", default="30/min"),
        "integrations_connect_refusals": env.str("API_THROTTLE_CONNECT_REFUSALS", default="20/min"),
    },
}
# API tokens (django-rest-knox): stored as SHA-512 digests, shown once when
# created (`manage.py create_api_token <user>`), expiring after this many days.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sealed Integrations API",
    "DESCRIPTION": "Providers, connected integrations, credentials and the audit log. "
    "Secrets are write-only: no response ever carries one.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ProviderStatusEnum": "integrations.models.ProviderStatus",
        "IntegrationStatusEnum": "integrations.models.IntegrationStatus",
        "ProviderCategoryEnum": "integrations.models.ProviderCategory",
        "ProviderAuthTypeEnum": "integrations.models.ProviderAuthType",
        "CredentialTypeEnum": "integrations.models.CredentialType",
        "AuditEventActionEnum": "integrations.models.AuditEventAction",
        "AuditEventOutcomeEnum": "integrations.models.AuditEventOutcome",
        "WebhookEventTypeEnum": "integrations.models.WebhookEventType",
        "WebhookDeliveryStatusEnum": "integrations.models.WebhookDeliveryStatus",
    },
}

# Where e-mail goes (re-authorization notices, error e-mails). Django 6.1's
# MAILERS replaces EMAIL_BACKEND (deprecated there, the only way before).
if django.VERSION >= (6, 1):
    MAILERS = {
        "default": {
            "BACKEND": env.str(
                "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
            )
        }
    }
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
    )

# Debug pages and error e-mails never show a secret, DEBUG on or off: locals of
# our code (and of what it calls) and our views' request data are hidden, the
# rest is scrubbed the same way as log lines.
DEFAULT_EXCEPTION_REPORTER = "integrations.reporting.RedactingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.reporting.ProjectExceptionReporterFilter"

# Every handler gets the redacting filter: it scrubs registered secrets and
# well-known secret shapes from every record, whichever logger it came from.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "integrations.redaction.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {
            "handlers": ["console", "mail_admins"],
            "level": "ERROR",
            "propagate": False,
        },
        # The demo provider's OAuth library logs token values at DEBUG.
        "oauthlib": {"level": "WARNING"},
    },
}
