"""The host application's own data on an integration: ``host_metadata`` and ``tags``.

An integration's ``metadata`` column belongs to the app (identity claims, scopes
left out, ...). What the host application attaches -- its store or workspace id,
labels to find a connection by -- lives in two columns of its own, so a host
write can never overwrite or read-modify-write the app's keys:

* ``host_metadata``: a JSON object, replaced whole on every write. At most
  :data:`MAX_METADATA_BYTES` bytes as compact UTF-8 JSON, :data:`MAX_METADATA_KEYS`
  top-level keys (1-:data:`MAX_KEY_LENGTH` characters each), nested at most
  :data:`MAX_METADATA_DEPTH` levels, no NUL characters.
* ``tags``: a JSON list of at most :data:`MAX_TAGS` short slugs matching
  :data:`TAG_PATTERN`, found with the ``has_tag`` lookup
  (``Integration.objects.filter(tags__has_tag="store-42")``), which works on
  SQLite, PostgreSQL and MySQL/MariaDB.

Neither is sealed: they are stored and shown as they are, in the API, the admin
and database dumps. They must never hold a secret (nothing here tries to detect
one). Error messages name the problem and the position, never a value.
"""

import json
import re

from django.core.exceptions import ValidationError
from django.db import NotSupportedError
from django.db.models import Lookup
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _

from .sealed.jsonlimits import JSONLimitError, LimitedJSONField, check_json_value

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_KEYS",
    "MAX_TAGS",
    "TAG_PATTERN",
    "HostMetadataValidator",
    "TagListField",
    "TagsValidator",
    "clean_host_metadata",
    "clean_tag",
    "clean_tags",
]

MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_KEYS = 50
MAX_METADATA_DEPTH = 5  # {"store": {"ids": [1]}} is 3 deep
MAX_KEY_LENGTH = 64
MAX_TAGS = 20
TAG_PATTERN = r"[a-z0-9][a-z0-9_.:-]{0,63}"
_TAG = re.compile(rf"\A{TAG_PATTERN}\Z")


def clean_host_metadata(value):
    """``value`` if it is a JSON object within the limits; ``ValidationError``
    (code ``not_an_object``, ``invalid_key``, ``too_deep``, ``nul``,
    ``too_many_keys``, ``too_large``) otherwise. ``None`` is not accepted: send ``{}`` to clear."""
    if not isinstance(value, dict):
        raise ValidationError(_("Must be a JSON object."), code="not_an_object")
    if len(value) > MAX_METADATA_KEYS:
        raise ValidationError(
            _("At most %(count)d keys.") % {"count": MAX_METADATA_KEYS}, code="too_many_keys"
        )
    for key in value:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ValidationError(
                _("Keys must be 1 to %(length)d characters long.") % {"length": MAX_KEY_LENGTH},
                code="invalid_key",
            )
    try:
        check_json_value(value, max_depth=MAX_METADATA_DEPTH)
    except JSONLimitError as exc:
        raise ValidationError(str(exc), code=exc.code) from None
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(_("Must be a JSON object."), code="not_an_object") from None
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise ValidationError(
            _("At most %(size)d bytes as JSON.") % {"size": MAX_METADATA_BYTES}, code="too_large"
        )
    return value


def clean_tag(value):
    """``value`` if it is one tag (``TAG_PATTERN``); ``ValidationError`` otherwise."""
    if not isinstance(value, str) or not _TAG.match(value):
        raise ValidationError(
            _(
                "A tag is 1 to 64 characters: lowercase letters, digits and _ . : -, "
                "starting with a letter or a digit."
            ),
            code="invalid_tag",
        )
    return value


def clean_tags(value):
    """The tags of ``value`` (a list of strings), duplicates dropped, order kept;
    ``ValidationError`` naming the first bad position otherwise."""
    if not isinstance(value, (list, tuple)):
        raise ValidationError(_("Must be a list of tags."), code="not_a_list")
    tags: list[str] = []
    for index, item in enumerate(value):
        try:
            tag = clean_tag(item)
        except ValidationError as exc:
            raise ValidationError(
                _("Item %(index)d: %(message)s") % {"index": index, "message": exc.messages[0]},
                code="invalid_tag",
            ) from None
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(
            _("At most %(count)d tags.") % {"count": MAX_TAGS}, code="too_many_tags"
        )
    return tags


@deconstructible(path="integrations.metadata_fields.HostMetadataValidator")
class HostMetadataValidator:
    """Model field validator: :func:`clean_host_metadata`'s limits."""

    def __call__(self, value):
        clean_host_metadata(value)

    def __eq__(self, other):
        return isinstance(other, HostMetadataValidator)

    def __hash__(self):
        return hash(HostMetadataValidator)


@deconstructible(path="integrations.metadata_fields.TagsValidator")
class TagsValidator:
    """Model field validator: :func:`clean_tags`'s rules, duplicates refused."""

    def __call__(self, value):
        tags = clean_tags(value)
        if len(tags) != len(value):
            raise ValidationError(_("A tag is listed twice."), code="duplicate_tag")

    def __eq__(self, other):
        return isinstance(other, TagsValidator)

    def __hash__(self):
        return hash(TagsValidator)


class TagListField(LimitedJSONField):
    """A JSON list of tags, with the ``has_tag`` lookup. Migrations see a plain
    ``models.JSONField`` (as for :class:`LimitedJSONField`)."""


@TagListField.register_lookup
class HasTag(Lookup):
    """``tags__has_tag="x"``: the list holds the tag ``x`` (compared exactly).

    PostgreSQL: jsonb containment (``@>``); MySQL/MariaDB: ``JSON_CONTAINS``;
    SQLite: ``json_each``. Chain ``.filter()`` calls to ask for several tags.
    """

    lookup_name = "has_tag"
    prepare_rhs = False
    can_use_none_as_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        tag = self.rhs
        if not isinstance(tag, str):
            raise TypeError("has_tag takes one tag, a string")
        params = [*lhs_params]
        if connection.vendor == "postgresql":
            return f"{lhs} @> %s::jsonb", [*params, json.dumps([tag])]
        if connection.vendor == "mysql":
            return f"JSON_CONTAINS({lhs}, %s)", [*params, json.dumps(tag)]
        if connection.vendor == "sqlite":
            # lhs is the column Django compiled; the tag is a parameter.
            sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) AS tag WHERE tag.value = %s "  # noqa: S608
            return sql + "AND tag.type = 'text')", [*params, tag]
        raise NotSupportedError(f"has_tag is not supported on {connection.vendor}")
