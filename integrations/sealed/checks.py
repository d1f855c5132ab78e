"""System checks: a missing or broken key configuration stops ``manage.py`` early.

``runserver``, ``migrate`` and ``check --deploy`` all run these, so a deployment
with malformed keys fails at its first command instead of at the first secret.
"""

from collections import defaultdict

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..crypto import KeyringError
from ..crypto.wrapping import is_wrapped
from .conf import app_settings

_KEYRING_IDS = {
    "missing": "integrations.E001",
    "bad_entry": "integrations.E002",
    "bad_version": "integrations.E002",
    "bad_base64": "integrations.E002",
    "bad_length": "integrations.E002",
    "duplicate": "integrations.E003",
    "retired_primary": "integrations.E005",
    "unwrap_failed": "integrations.E030",
    "wrapper_missing": "integrations.E031",
    "bad_wrapper": "integrations.E032",
}
_WRAPPER_CODES = {"unwrap_failed", "wrapper_missing", "bad_wrapper"}
# Speaks to any project: it names the setting, never a variable of the demo's.
KEY_HINT = gettext_lazy(
    "Set INTEGRATIONS['ENCRYPTION_KEYS'] in your settings to a list of entries "
    "'N:<base64 of 32 bytes>', primary first (`manage.py generate_encryption_key` prints one); "
    "read them from an environment variable or your secret store, never from source control."
)
WRAPPER_HINT = gettext_lazy(
    "Wrapped entries 'N:wrapped:<base64url>' are unwrapped by INTEGRATIONS['KEY_WRAPPER'] "
    "(its BACKEND and OPTIONS) when the keyring is built; nothing falls back to plaintext keys. "
    "Check that the KMS or HSM is reachable and the KEK named in the message exists and may "
    "be used, and see the key wrapper how-to guides."
)


@checks.register(checks.Tags.security)
def check_keyring(app_configs=None, **kwargs):
    try:
        app_settings.validate()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="integrations.E004")]
    try:
        app_settings.keyring  # noqa: B018 - builds and validates the keyring
    except KeyringError as exc:
        hint = WRAPPER_HINT if exc.code in _WRAPPER_CODES else KEY_HINT
        return [
            checks.Error(
                str(exc), hint=str(hint), id=_KEYRING_IDS.get(exc.code, "integrations.E002")
            )
        ]
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="integrations.E004")]
    try:
        app_settings.index_keys  # noqa: B018 - blind-index keys (searchable fields)
    except KeyringError as exc:
        return [
            checks.Error(
                f"INTEGRATIONS['INDEX_KEYS']: {exc}",
                hint=_(
                    "Blind-index keys are written like ENCRYPTION_KEYS ('N:<base64 of 32 "
                    "bytes>', primary first); leave INDEX_KEYS unset to derive them from "
                    "the encryption keys."
                ),
                id="integrations.E014",
            )
        ]
    return _plaintext_beside_wrapper()


def _plaintext_beside_wrapper():
    """Plaintext entries left once a wrapper is set: the migration is not finished."""
    if app_settings.KEY_WRAPPER is None or app_settings.KEY_PROVIDER:
        return []
    spec = app_settings.ENCRYPTION_KEYS
    entries = spec.split(",") if isinstance(spec, str) else spec
    plain = [
        entry.partition(":")[0].strip()
        for entry in entries
        if isinstance(entry, str) and entry.strip() and not is_wrapped(entry.partition(":")[2])
    ]
    if not plain:
        return []
    return [
        checks.Warning(
            _(
                "INTEGRATIONS['KEY_WRAPPER'] is set but key version(s) %(versions)s are still "
                "configured in plaintext."
            )
            % {"versions": ", ".join(plain)},
            hint=_(
                "Run `manage.py rewrap_keys` and replace ENCRYPTION_KEYS with the wrapped "
                "entries it prints."
            ),
            id="integrations.W030",
        )
    ]


@checks.register(checks.Tags.security)
def check_plaintext_reads(app_configs=None, **kwargs):
    try:
        allowed = app_settings.ALLOW_PLAINTEXT_READS
    except ImproperlyConfigured:
        return []  # reported by check_keyring
    if allowed and not settings.DEBUG:
        return [
            checks.Warning(
                _(
                    "INTEGRATIONS['ALLOW_PLAINTEXT_READS'] is on with DEBUG off: unsealed legacy "
                    "values are returned instead of refused."
                ),
                hint=_("Run `manage.py encrypt_legacy`, then turn ALLOW_PLAINTEXT_READS off."),
                id="integrations.W001",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_exception_reporter(app_configs=None, **kwargs):
    """Django's own reporter shows every local and POST value while DEBUG is on."""
    from .reporting import RedactingExceptionReporter

    try:
        reporter = import_string(settings.DEFAULT_EXCEPTION_REPORTER)
    except ImportError:
        reporter = None
    if isinstance(reporter, type) and issubclass(reporter, RedactingExceptionReporter):
        return []
    return [
        checks.Warning(
            _(
                "DEFAULT_EXCEPTION_REPORTER is not "
                "integrations.reporting.RedactingExceptionReporter: error pages and error "
                "e-mails can show tokens, keys and credential data."
            ),
            hint=_(
                "Set DEFAULT_EXCEPTION_REPORTER = "
                '"integrations.reporting.RedactingExceptionReporter".'
            ),
            id="integrations.W002",
        )
    ]


@checks.register(checks.Tags.models)
def check_unique_purposes(app_configs=None, **kwargs):
    """Two sealed columns with one purpose could swap values undetected."""
    from .fields import sealed_fields

    seen = defaultdict(list)
    for model in apps.get_models():
        for field in sealed_fields(model):
            if field.purpose:
                seen[field.purpose].append(f"{model._meta.label}.{field.name}")
    return [
        checks.Error(
            _("sealed fields %(fields)s share the purpose %(purpose)r")
            % {"fields": ", ".join(sorted(where)), "purpose": purpose},
            hint=_(
                "Give every sealed column its own purpose; a shared one lets a value "
                "copied between them decrypt."
            ),
            id="integrations.E011",
        )
        for purpose, where in seen.items()
        if len(where) > 1
    ]


@checks.register(checks.Tags.database)
def check_column_storage(app_configs=None, databases=None, **kwargs):
    """A sealed field's storage (``binary=True`` or text) must match its column.

    Run by ``check --database <alias>`` and ``migrate``. A warning, not an error:
    ``migrate`` runs it before applying the very migration that fixes it. A binary
    field over a text column (``binary=True`` added without moving the column,
    see the how-to) fails every read; a text field over a binary column too.
    """
    from django.db import DatabaseError, connections, router

    from .fields import sealed_fields

    problems = []
    for alias in databases or ():
        connection = connections[alias]
        try:
            with connection.cursor() as cursor:
                tables = set(connection.introspection.table_names(cursor))
                for model in apps.get_models():
                    if model._meta.db_table not in tables or not router.allow_migrate_model(
                        alias, model
                    ):
                        continue
                    fields = sealed_fields(model)
                    if not fields:
                        continue
                    columns = {
                        column.name: column
                        for column in connection.introspection.get_table_description(
                            cursor, model._meta.db_table
                        )
                    }
                    for field in fields:
                        column = columns.get(field.column)
                        if column is None:
                            continue
                        found = connection.introspection.get_field_type(column.type_code, column)
                        if (found == "BinaryField") != field.binary:
                            problems.append(_storage_warning(model, field, found, alias))
        except DatabaseError:
            continue  # an unreachable database is another check's job
    return problems


def _storage_warning(model, field, found, alias):
    expected = _("a binary column") if field.binary else _("a text column")
    return checks.Warning(
        _(
            "%(field)s (binary=%(binary)s) needs %(expected)s but the column in database "
            "%(alias)r is %(found)s."
        )
        % {
            "field": f"{model._meta.label}.{field.name}",
            "binary": field.binary,
            "expected": expected,
            "alias": alias,
            "found": found,
        },
        hint=_(
            "Apply the migration that moves the column (see the how-to 'Move a sealed "
            "column to binary storage'); changing binary= alone does not convert stored values."
        ),
        obj=field,
        id="integrations.W040",
    )
