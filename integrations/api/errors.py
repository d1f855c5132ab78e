"""One JSON shape for every API error, and no secret in any of them.

Every error the API answers — validation, 401/403/404/405, 409, 413, 429, 503
(the cache or the database is down: ``service_unavailable`` with ``Retry-After``)
and unexpected 500s — has the body::

    {"error": {"code": "invalid", "message": "Invalid input.",
               "fields": {"data": ["api_key: this key is required ..."]}}}

``code`` is short and machine readable, ``message`` is for people, ``fields``
maps a field (dotted for nested ones) to its messages and is empty unless the
input was invalid. Messages name fields and keys, never submitted values: the
serializers use messages that do not echo input, and as a second lock every
string that was submitted is cut out of the messages before they are sent.

A 500 never carries the exception's text, and its log line carries the
exception's type and stack but not its message (which may quote data).
"""

import logging
import traceback

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from ..outages import ServiceUnavailable, retry_after, unavailable_database
from ..redaction import REDACTED
from ..unavailable import mark_logged

logger = logging.getLogger("integrations.api")

NON_FIELD = "non_field_errors"
# Submitted strings shorter than this are not cut out of messages: removing
# every "a" would garble them and protects nothing.
_MIN_SCRUBBED_LENGTH = 4

# ``code`` is stable English for programs; ``message`` is in the request's language.
_FIXED_MESSAGES = {
    "not_found": _("Not found."),
    "parse_error": _("Malformed request body."),
    "server_error": _("Internal server error."),
}


class Conflict(exceptions.APIException):
    """The request is valid but conflicts with the current state (409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state of the resource.")
    default_code = "conflict"

    def __init__(self, detail=None, code=None, *, fields=None):
        super().__init__(detail, code)
        self.fields = fields or {}


class PayloadTooLarge(exceptions.APIException):
    """The body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django refuses to read it)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


class ReauthorizationRequired(exceptions.APIException):
    """The provider refused the grant (or there is none): connect the account again."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The account must be connected again.")
    default_code = "reauthorization_required"


class ProviderUnavailable(exceptions.APIException):
    """The provider could not be reached or failed; nothing was lost, try again later."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = _("The provider did not complete the request. Try again later.")
    default_code = "provider_unavailable"


class TemporarilyUnavailable(exceptions.APIException):
    """The cache or the database is down (503 with ``Retry-After``): nothing was
    done, try again later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The service is temporarily unavailable. Try again later.")
    default_code = "service_unavailable"

    def __init__(self, wait):
        super().__init__()
        self.wait = wait  # DRF's handler turns it into Retry-After


def _outage(exc):
    """A :class:`TemporarilyUnavailable` when ``exc`` is a cache or database
    outage (:mod:`integrations.outages`), else ``None``."""
    if isinstance(exc, ServiceUnavailable):
        return TemporarilyUnavailable(exc.retry_after)
    if isinstance(exc, (OperationalError, InterfaceError)) and unavailable_database(exc):
        return TemporarilyUnavailable(retry_after())
    return None


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def _submitted_strings(request):
    """Every string value the client sent in the body, longest first. (Keys are
    names, which messages are meant to mention.)"""
    found = set()
    data = getattr(request, "_full_data", None) if request is not None else None

    def walk(value):
        if isinstance(value, str):
            if len(value) >= _MIN_SCRUBBED_LENGTH:
                found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    try:
        walk(data)
        for _key, values in getattr(data, "lists", lambda: [])():
            walk(values)
    except Exception:  # noqa: BLE001, S110 - scrubbing must never break error handling
        pass
    return sorted(found, key=len, reverse=True)


def _scrub(text, submitted):
    text = str(text)
    for value in submitted:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def _flatten(detail, prefix=""):
    """Field path -> list of messages, from DRF's nested error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, (list, tuple)):
        if all(not isinstance(item, (dict, list, tuple)) for item in detail):
            yield prefix or NON_FIELD, [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                yield from _flatten(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix or NON_FIELD, [str(detail)]


def _fields(detail, submitted):
    fields: dict[str, list[str]] = {}
    for path, messages in _flatten(detail):
        # Paths are serializer field names (and list indices): never scrubbed.
        fields.setdefault(path, []).extend(_scrub(message, submitted) for message in messages)
    return fields


def django_error_detail(exc, rename=None):
    """A DRF error detail for a Django ``ValidationError`` (its messages name
    fields and keys; the service layer never quotes values)."""
    rename = rename or {}
    if hasattr(exc, "error_dict"):
        return {
            NON_FIELD if field == "__all__" else rename.get(field, field): list(messages)
            for field, messages in exc.message_dict.items()
        }
    return {NON_FIELD: list(exc.messages)}


def _code(exc):
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    return getattr(exc, "default_code", None) or "error"


def _log_unexpected(exc, request):
    """The type and stack of an unexpected exception, never its message."""
    parts = []
    seen = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(
            f"{type(current).__module__}.{type(current).__qualname__} (message withheld)\n"
            + "".join(traceback.format_tb(current.__traceback__))
        )
        current = current.__cause__ or current.__context__
    method = getattr(request, "method", "?")
    path = getattr(request, "path", "?")
    logger.error(
        "unexpected %s in API %s %s\n%s",
        type(exc).__qualname__,
        method,
        path,
        "\nwhile handling:\n".join(parts),
    )


def exception_handler(exc, context):
    """DRF's ``EXCEPTION_HANDLER``: the JSON error shape for every failure."""
    request = context.get("request") if context else None
    unavailable = _outage(exc)
    if unavailable is not None:
        exc = unavailable
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = Conflict(_("It is still in use and cannot be deleted."))
    elif isinstance(exc, IntegrityError):
        exc = Conflict()

    response = drf_exception_handler(exc, context)
    submitted = _submitted_strings(request)
    if response is None:
        set_rollback()
        _log_unexpected(exc, request)
        return Response(
            error_body("server_error", _FIXED_MESSAGES["server_error"]),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    code = _code(exc)
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail, submitted)
        message = _("Invalid input.")
    else:
        fields = _fields(getattr(exc, "fields", None) or {}, submitted)
        detail = exc.detail if isinstance(exc, exceptions.APIException) else ""
        message = _FIXED_MESSAGES.get(code) or _scrub(detail, submitted) or code
    response.data = error_body(code, message, fields)
    if unavailable is not None:
        mark_logged(response)  # the outage is logged once, not per request
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """The JSON 404 for a path under the API prefix that names no endpoint."""
    return JsonResponse(error_body("not_found", _FIXED_MESSAGES["not_found"]), status=404)
