"""The host application's data on an integration: writing it, and finding
integrations by tag.

The host app (its REST clients, a connect session, its own code) attaches its
ids -- a store, a workspace -- as ``host_metadata`` and ``tags``
(:mod:`.metadata_fields` has the limits). They are kept apart from the app's
own ``metadata`` column: :func:`set_host_metadata` writes only its two columns,
so nothing the host sends can change the app's keys. They are not sealed and
must not hold secrets.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from . import audit
from ._typing import User
from .metadata_fields import MAX_TAGS, clean_host_metadata, clean_tag, clean_tags
from .models import AuditEvent, Integration

__all__ = ["filter_by_tags", "set_host_metadata", "validate_host_metadata"]


def validate_host_metadata(
    *, metadata: Mapping[str, Any] | None = None, tags: Iterable[str] | None = None
) -> tuple[dict[str, Any] | None, list[str] | None]:
    """Check ``metadata`` and ``tags`` (either may be ``None``: not given) and
    return them cleaned (tags deduplicated, order kept).

    ``ValidationError`` keyed ``metadata`` / ``tags``, messages never quoting a
    value. For code that takes them now and stores them later (a connect
    session refuses bad ones before its flow starts)."""
    errors: dict[str, list[ValidationError]] = {}
    cleaned_metadata = cleaned_tags = None
    if metadata is not None:
        try:
            cleaned_metadata = clean_host_metadata(metadata)
        except ValidationError as exc:
            errors["metadata"] = [exc]
    if tags is not None:
        try:
            cleaned_tags = clean_tags(tags)
        except ValidationError as exc:
            errors["tags"] = [exc]
    if errors:
        raise ValidationError(errors)
    return cleaned_metadata, cleaned_tags


@transaction.atomic
def set_host_metadata(
    integration: Integration,
    *,
    metadata: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    actor: User | None = None,
    ip_address: str | None = None,
) -> Integration:
    """Replace the integration's host metadata and/or tags (``None``: keep).

    Validated first (``ValidationError`` keyed ``metadata`` / ``tags``); only
    these two columns (and ``updated_at``) are written, under a row lock, so the
    app's own ``metadata`` and a concurrent token refresh are never overwritten.
    A change is audited as ``update`` naming what changed, never the values;
    nothing is recorded when nothing changed. Returns ``integration`` with the
    stored values. No owner check: callers pass an integration they found in
    the owner's scope (the API's queryset, a connect session's user).
    """
    new_metadata, new_tags = validate_host_metadata(metadata=metadata, tags=tags)
    row = (
        Integration.objects.select_for_update(of=("self",))
        .only("pk", "host_metadata", "tags", "updated_at")
        .get(pk=integration.pk)
    )
    changed = []
    if new_metadata is not None and new_metadata != row.host_metadata:
        row.host_metadata = new_metadata
        changed.append("metadata")
    if new_tags is not None and new_tags != row.tags:
        row.tags = new_tags
        changed.append("tags")
    columns = {"metadata": "host_metadata", "tags": "tags"}
    if changed:
        row.save(update_fields=[*(columns[name] for name in changed), "updated_at"])
        integration.updated_at = row.updated_at
        audit.record(
            AuditEvent.Action.UPDATE,
            actor=actor,
            target=integration,
            detail=f"changed: {', '.join(changed)}",
            ip_address=ip_address,
        )
    integration.host_metadata = row.host_metadata
    integration.tags = row.tags
    return integration


def filter_by_tags(queryset: QuerySet[Integration], tags: Iterable[str]) -> QuerySet[Integration]:
    """The integrations of ``queryset`` that carry every tag of ``tags``.

    ``ValidationError`` for a malformed tag or more than ``MAX_TAGS`` of them
    (such a tag matches nothing; refusing it says so)."""
    wanted = list(dict.fromkeys(tags))
    if len(wanted) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags.", code="too_many_tags")
    for tag in wanted:
        clean_tag(tag)
    for tag in wanted:
        queryset = queryset.filter(tags__has_tag=tag)
    return queryset
