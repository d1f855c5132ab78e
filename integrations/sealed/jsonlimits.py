"""What a JSON value from outside must respect before it is stored.

One place for the rules every JSON input shares (the sealed ``EncryptedJSONField``,
its form field, the admin's plain ``JSONField`` inputs, the credential service, and
-- through :class:`JSONLimitsValidator` on the model field -- every plain
``JSONField`` a user or staff can write, whatever the path: model forms, the admin,
the REST API's serializers):

* **Depth.** A value nested deeper than :data:`MAX_JSON_DEPTH` is refused. Deeper
  values are never legitimate configuration, and thousands of levels break
  Python's recursive encoders and decoders (``dumpdata``, ``json.dumps``) and
  PostgreSQL's jsonb parser: refusing them on the way in means no stored value can
  break a backup later.
* **NUL characters** (``\\u0000``) in any string or key are refused where the value
  may reach a PostgreSQL ``jsonb`` column, which cannot store them (the database
  would answer with an error, a 500, instead of a form error).

Errors say what is wrong, never the value. Depth is measured without recursion,
so a hostile value cannot exhaust the stack while being checked.
"""

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

__all__ = [
    "MAX_JSON_DEPTH",
    "JSONLimitError",
    "JSONLimitsValidator",
    "check_json_value",
    "parse_json_text",
]

# Containers inside containers: {"a": {"b": [1]}} is 3 deep, a scalar 0.
MAX_JSON_DEPTH = 100


class JSONLimitError(ValueError):
    """A JSON value (or text) outside the limits; the message never quotes it."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def _too_deep(max_depth):
    return _("JSON nested more than %(depth)d levels deep.") % {"depth": max_depth}


def check_json_value(value, *, allow_nul=False, max_depth=MAX_JSON_DEPTH):
    """Raise :class:`JSONLimitError` if ``value`` is too deep or (unless
    ``allow_nul``) holds a NUL character; return ``value`` otherwise."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not allow_nul and "\x00" in item:
                raise JSONLimitError(
                    _("JSON strings cannot contain NUL characters (\\u0000)."), code="nul"
                )
            continue
        children: list[Any] | tuple[Any, ...]
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        depth += 1
        if depth > max_depth:
            raise JSONLimitError(_too_deep(max_depth), code="too_deep")
        stack.extend((child, depth) for child in children)
    return value


_INVALID_JSON = gettext_lazy("Enter valid JSON.")


def parse_json_text(text, *, decoder=None, allow_nul=False, invalid_message=_INVALID_JSON):
    """Parse submitted JSON text and check it; :class:`JSONLimitError` if it
    is not valid JSON (``invalid_message``) or breaks a limit, never quoting
    the text."""
    try:
        value = json.loads(text, cls=decoder)
    except RecursionError:
        raise JSONLimitError(_too_deep(MAX_JSON_DEPTH), code="too_deep") from None
    except ValueError:
        # Not the parser's message: it quotes the input.
        raise JSONLimitError(invalid_message, code="invalid") from None
    return check_json_value(value, allow_nul=allow_nul)


@deconstructible(path="integrations.sealed.jsonlimits.JSONLimitsValidator")
class JSONLimitsValidator:
    """A model field validator: the value is within :func:`check_json_value`'s limits.

    Put on a plain ``models.JSONField`` (``validators=[JSONLimitsValidator()]``), it
    runs wherever Django validates the field -- ``full_clean()``, so model forms and
    the admin -- and DRF's ``ModelSerializer`` copies it onto the serializer field.
    NUL characters are refused unless ``allow_nul`` (jsonb cannot store them).
    """

    def __init__(self, *, allow_nul=False, max_depth=MAX_JSON_DEPTH):
        self.allow_nul = allow_nul
        self.max_depth = max_depth

    def __call__(self, value):
        try:
            check_json_value(value, allow_nul=self.allow_nul, max_depth=self.max_depth)
        except JSONLimitError as exc:
            raise ValidationError(str(exc), code=exc.code) from None

    def __eq__(self, other):
        return (
            isinstance(other, JSONLimitsValidator)
            and self.allow_nul == other.allow_nul
            and self.max_depth == other.max_depth
        )

    def __hash__(self):
        return hash((JSONLimitsValidator, self.allow_nul, self.max_depth))


class LimitedJSONField(models.JSONField):
    """A plain ``JSONField`` whose limits are checked before anything walks the value.

    Django's ``JSONField.validate`` encodes the value with ``json.dumps`` before
    the field's validators run, so a value nested deeper than the interpreter's
    recursion limit (Python 3.11's C encoder) fails ``full_clean()`` with a
    ``RecursionError`` instead of a validation error. This field runs its
    :class:`JSONLimitsValidator` first (and has one by default). Migrations see a
    plain ``models.JSONField`` with the validator: nothing to migrate, and no
    dependency of a project's migrations on this class.
    """

    def __init__(self, *args, **kwargs):
        validators = list(kwargs.pop("validators", ()))
        if not any(isinstance(validator, JSONLimitsValidator) for validator in validators):
            validators.append(JSONLimitsValidator())
        super().__init__(*args, validators=validators, **kwargs)

    def validate(self, value, model_instance):
        for validator in self.validators:
            if isinstance(validator, JSONLimitsValidator):
                validator(value)
        super().validate(value, model_instance)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
