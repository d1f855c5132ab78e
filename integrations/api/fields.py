"""Input fields as strict as the schema they publish.

DRF turns ``0`` into ``"0"`` for a text field and Django reads ``2024-01-01`` as
a date-time; the OpenAPI schema says "string" and "date-time" (RFC 3339), so a
client or fuzzer that trusts it must be refused when it sends anything else.
"""

import re
from datetime import UTC, datetime, timedelta, timezone

from django import forms
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..provider_urls import TemplatedURLValidator

_RFC3339_INVALID = _("Must be an RFC 3339 date-time with an offset, e.g. 2025-01-31T09:30:00Z.")

# RFC 3339 §5.6 date-time ("T"/"Z" in either case, as §5.6 allows).
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d+))?(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(value):
    """An aware ``datetime`` for an RFC 3339 date-time string, else ``None``.

    A leap second (``:60``) is read as ``:59``; values outside Python's range
    (year 0, or past 9999 once the offset is applied) are ``None``.
    """
    if not isinstance(value, str):
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    parts = match.groupdict()
    offset = parts["offset"].upper()
    try:
        year, month, day = map(int, parts["date"].split("-"))
        second = min(int(parts["second"]), 59)
        microsecond = int((parts["fraction"] or "0")[:6].ljust(6, "0"))
        if offset == "Z":
            tz = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                return None
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        parsed = datetime(
            year,
            month,
            day,
            int(parts["hour"]),
            int(parts["minute"]),
            second,
            microsecond,
            tzinfo=tz,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


class StrictCharField(serializers.CharField):
    """Only a JSON string is text (no numbers turned into strings), and its
    length is checked as sent, before surrounding whitespace is trimmed (the
    schema's ``maxLength`` is about what the client sends)."""

    default_error_messages = {"invalid": _("Must be a string.")}

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSlugField(serializers.SlugField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictURLField(serializers.URLField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictTemplatedURLField(StrictCharField):
    """A provider endpoint: a URL that may hold declared ``{name}``
    placeholders (``https://{shop}.myshopify.com/...``), checked as the model
    checks it (each placeholder replaced by an example label)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(TemplatedURLValidator())


class RFC3339DateTimeField(serializers.DateTimeField):
    """A date-time with its offset, as RFC 3339 (and the schema) say."""

    default_error_messages = {
        "invalid": _RFC3339_INVALID,
    }

    def to_internal_value(self, value):
        parsed = parse_rfc3339(value)
        if parsed is None:
            self.fail("invalid")
        return self.enforce_timezone(parsed)


class RFC3339DateTimeFormField(forms.DateTimeField):
    """The same for query parameters (django-filter)."""

    default_error_messages = {
        "invalid": _RFC3339_INVALID,
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = parse_rfc3339(value)
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed
