"""The credential service: the only code that reads or writes a credential's secret
(and a provider's client secret). Its public face is :mod:`integrations.credentials`,
which adds the provider-call sessions.

Every function that touches a secret takes the acting user and writes an audit
event. Lookups are scoped to the owner: another user's credential is reported as
``Credential.DoesNotExist`` (a view answers 404), and an attempt to read its
secret is recorded as ``reveal_denied``.
"""

import hmac
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from . import audit, provider_quirks
from ._typing import User
from .models import AuditEvent, Credential, Provider
from .redaction import Secret
from .sealed.jsonlimits import JSONLimitError, check_json_value
from .signals import (
    credential_created,
    credential_deleted,
    credential_updated,
    send_credential_on_commit,
)

_P = ParamSpec("_P")
_R = TypeVar("_R")

Action = AuditEvent.Action

# The keys each credential type must carry, all non-empty strings.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    Credential.Type.API_KEY: ("api_key",),
    Credential.Type.BASIC: ("username", "password"),
    Credential.Type.BEARER: ("token",),
    Credential.Type.CUSTOM: (),
}
# The key whose tail may be shown as a hint, and how long it must be for that.
_HINT_KEYS: dict[str, str] = {
    Credential.Type.API_KEY: "api_key",
    Credential.Type.BEARER: "token",
}
# The key of each type's data a credential can be found by (find_by_secret): a
# sealed, searchable copy is kept in Credential.lookup_secret.
SEARCHABLE_KEYS: dict[str, str] = {
    Credential.Type.API_KEY: "api_key",
    Credential.Type.BEARER: "token",
}
_HINT_MIN_LENGTH = 20
_HINT_LENGTH = 4


@sensitive_variables()
def validate_data(
    credential_type: str, data: object, provider: Provider | None = None
) -> dict[str, Any]:
    """Check the shape of secret data; errors name keys, never values. With a
    ``provider`` whose metadata documents the format of what a user enters
    (``credential_fields``), each value must have it; the error names the
    field and the expected shape."""
    if credential_type not in REQUIRED_KEYS:
        raise ValidationError(
            {"credential_type": _("unknown credential type %(type)r") % {"type": credential_type}}
        )
    if not isinstance(data, dict) or not data:
        raise ValidationError({"data": _("must be a non-empty JSON object")})
    try:
        check_json_value(data, allow_nul=True)
    except JSONLimitError as exc:
        raise ValidationError({"data": str(exc)}) from None
    errors = {}
    for key in REQUIRED_KEYS[credential_type]:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            errors[key] = _("this key is required and must be a non-empty string")
    for key in data:
        if not isinstance(key, str) or not key or len(key) > 100:
            errors["data"] = _("keys must be non-empty strings of at most 100 characters")
    if not errors and provider is not None:
        errors = provider_quirks.credential_format_errors(provider, data)
    if errors:
        raise ValidationError({"data": [f"{key}: {message}" for key, message in errors.items()]})
    return data


@sensitive_variables()
def hint_for(credential_type: str, data: dict[str, Any]) -> str:
    """The last characters of a long key, or "" (short secrets get no hint)."""
    key = _HINT_KEYS.get(credential_type)
    value = data.get(key) if key else None
    if isinstance(value, str) and len(value) >= _HINT_MIN_LENGTH:
        return value[-_HINT_LENGTH:]
    return ""


@sensitive_variables()
def lookup_secret_for(credential_type: str, data: dict[str, Any]) -> str | None:
    """The secret a credential of this type and data can be found by, if any."""
    key = SEARCHABLE_KEYS.get(credential_type)
    value = data.get(key) if key else None
    return value if isinstance(value, str) and value else None


_KEEP = object()
NAME_TAKEN = gettext_lazy("You already have a credential with this name.")


def _name_clash_is_a_validation_error(service: Callable[_P, _R]) -> Callable[_P, _R]:
    """Report losing a race for a credential name as the validation error it is.

    ``full_clean`` checks that the name is free, but another request can take
    it between that check and the INSERT or UPDATE; the database's unique
    constraint then refuses the row. Outside the service's transaction (rolled
    back by then), the clash is confirmed and raised as the same ``unique``
    field error the check gives: a 409 in the API, a form error on the pages.
    Any other integrity error propagates unchanged.
    """

    @sensitive_variables()
    @wraps(service)
    def wrapper(user, *args, **kwargs):
        try:
            return service(user, *args, **kwargs)
        except IntegrityError:
            name = kwargs.get("name", _KEEP)
            if name is _KEEP:
                raise
            own_pk = getattr(args[0], "pk", args[0]) if args else None
            clashes = list_credentials(user).filter(name=name)
            if not clashes.exclude(pk=own_pk).exists():  # type: ignore[misc]  # None: a new row
                raise
            raise ValidationError({"name": ValidationError(NAME_TAKEN, code="unique")}) from None

    return cast("Callable[_P, _R]", wrapper)


def list_credentials(user: User) -> QuerySet[Credential]:
    return Credential.objects.filter(owner=user).select_related("provider")


def get_credential(user: User, credential_id: uuid.UUID | str) -> Credential:
    """The user's credential with this id; DoesNotExist for anyone else's."""
    return list_credentials(user).get(pk=credential_id)


@_name_clash_is_a_validation_error
@sensitive_variables()
@transaction.atomic
def create_credential(
    user: User,
    *,
    name: str,
    credential_type: str,
    data: dict[str, Any],
    provider: Provider | None = None,
    plugin: str = "",
    expires_at: datetime | None = None,
    ip_address: str | None = None,
    actor: User | None = None,
) -> Credential:
    """Create a credential owned by ``user``.

    ``actor`` is who acts, when not the owner (staff in the admin); the audit
    event names them.
    """
    validate_data(credential_type, data, provider)
    credential = Credential(
        owner=user,
        name=name,
        credential_type=credential_type,
        provider=provider,
        plugin=plugin,
        data=data,  # type: ignore[misc]  # the sealed field's name (django-stubs sees its attname)
        hint=hint_for(credential_type, data),
        expires_at=expires_at,
        lookup_secret=lookup_secret_for(credential_type, data),
    )
    credential.full_clean(exclude=["data"])
    credential.save()
    audit.record(
        Action.CREATE,
        actor=actor or user,
        target=credential,
        ip_address=ip_address,
        detail=_on_behalf(user, actor),
    )
    send_credential_on_commit(credential_created, credential)
    return credential


@_name_clash_is_a_validation_error
@sensitive_variables()
@transaction.atomic
def update_credential(
    user: User,
    credential: Credential | uuid.UUID | str,
    *,
    name: str | object = _KEEP,
    data: dict[str, Any] | object = _KEEP,
    provider: Provider | None | object = _KEEP,
    plugin: str | object = _KEEP,
    expires_at: datetime | None | object = _KEEP,
    ip_address: str | None = None,
    actor: User | None = None,
) -> Credential:
    """Change fields of the user's credential. Secret data is kept unless given."""
    credential = _owned_for_update(user, credential)
    for attribute, value in (
        ("name", name),
        ("provider", provider),
        ("plugin", plugin),
        ("expires_at", expires_at),
    ):
        if value is not _KEEP:
            setattr(credential, attribute, value)
    detail = ""
    if data is not _KEEP:
        data = validate_data(credential.credential_type, data, credential.provider)
        credential.data = data
        credential.hint = hint_for(credential.credential_type, data)
        credential.lookup_secret = lookup_secret_for(credential.credential_type, data)
        detail = "secret replaced"
    credential.full_clean(exclude=["data"])
    credential.save()
    detail = "; ".join(part for part in (detail, _on_behalf(user, actor)) if part)
    audit.record(
        Action.UPDATE, actor=actor or user, target=credential, detail=detail, ip_address=ip_address
    )
    send_credential_on_commit(credential_updated, credential, secret_replaced=data is not _KEEP)
    return credential


@transaction.atomic
def delete_credential(
    user: User,
    credential: Credential | uuid.UUID | str,
    *,
    ip_address: str | None = None,
    actor: User | None = None,
) -> None:
    credential = _owned_for_update(user, credential)
    audit.record(
        Action.DELETE,
        actor=actor or user,
        target=credential,
        ip_address=ip_address,
        detail=_on_behalf(user, actor),
    )
    credential_id = credential.pk
    send_credential_on_commit(credential_deleted, credential, credential_id=credential_id)
    credential.delete()


@sensitive_variables()
def read_secret(
    user: User,
    credential: Credential | uuid.UUID | str,
    *,
    purpose: str,
    ip_address: str | None = None,
) -> Secret:
    """The decrypted data of the user's credential, as a :class:`Secret`.

    ``purpose`` says why (it is recorded), e.g. ``"call the Stripe API"``.
    """
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    credential_id = _pk_of(credential)
    try:
        owned = get_credential(user, credential_id)
    except (Credential.DoesNotExist, ValidationError, ValueError):
        audit.record(
            Action.REVEAL_DENIED,
            actor=user,
            target_type=Credential._meta.label_lower,
            target_id=credential_id,
            purpose=purpose,
            outcome=AuditEvent.Outcome.DENIED,
            ip_address=ip_address,
        )
        raise Credential.DoesNotExist("no such credential for this user") from None
    secret = Secret(owned.data)
    audit.record(Action.USE, actor=user, target=owned, purpose=purpose, ip_address=ip_address)
    return secret


@sensitive_variables()
def find_by_secret(
    user: User,
    secret: str,
    *,
    purpose: str,
    credential_type: str | None = None,
    ip_address: str | None = None,
) -> Credential:
    """The user's credential whose API key (or bearer token) is ``secret``.

    For a key that arrives from outside -- an API client or a webhook sender
    presenting it -- when the application must know which of the user's
    credentials it is. Found through the blind index of ``lookup_secret`` (one
    indexed comparison, no decryption of other rows), then confirmed against the
    sealed copy in constant time. Scoped to ``user``: another user's credential
    with the same key is not found. Audited as ``use`` (with ``purpose``),
    success or failure; the secret is never recorded. Raises
    ``Credential.DoesNotExist`` when nothing matches.
    """
    if not purpose:
        raise ValueError("looking a credential up by its secret needs a stated purpose")
    if not isinstance(secret, str) or not secret:
        raise ValueError("the secret to look up must be a non-empty string")
    candidates = list_credentials(user).filter(lookup_secret=secret)
    if credential_type is not None:
        candidates = candidates.filter(credential_type=credential_type)
    for candidate in candidates.order_by("created_at", "pk"):
        stored = candidate.lookup_secret
        if stored is not None and hmac.compare_digest(
            stored.encode("utf-8", "surrogatepass"), secret.encode("utf-8", "surrogatepass")
        ):
            audit.record(
                Action.USE,
                actor=user,
                target=candidate,
                purpose=purpose,
                detail="found by its secret",
                ip_address=ip_address,
            )
            return candidate
    audit.record(
        Action.USE,
        actor=user,
        target_type=Credential._meta.label_lower,
        purpose=purpose,
        outcome=AuditEvent.Outcome.FAILURE,
        detail="no credential has this secret",
        ip_address=ip_address,
    )
    raise Credential.DoesNotExist("no credential of this user has this secret")


async def aread_secret(user, credential, *, purpose, ip_address=None):
    """:func:`read_secret` for async code (run in Django's thread-sensitive executor)."""
    return await sync_to_async(read_secret, thread_sensitive=True)(
        user, credential, purpose=purpose, ip_address=ip_address
    )


def _on_behalf(owner, actor):
    if actor is None or actor.pk == owner.pk:
        return ""
    return f"on behalf of {owner.get_username()}"[:255]


def _pk_of(credential: Credential | uuid.UUID | str) -> uuid.UUID | str:
    """The primary key of a credential given as an instance or as its key."""
    return cast("uuid.UUID | str", getattr(credential, "pk", credential))


def _owned_for_update(user: User, credential: Credential | uuid.UUID | str) -> Credential:
    credential_id = _pk_of(credential)
    return list_credentials(user).select_for_update(of=("self",)).get(pk=credential_id)


# Provider client secrets are the application's own credentials; staff manage them.


@sensitive_variables()
def set_client_secret(
    provider: Provider,
    secret: str | None,
    *,
    actor: User | None,
    ip_address: str | None = None,
) -> None:
    """Replace (or with ``None`` clear) a provider's OAuth client secret."""
    provider.client_secret = secret or None
    provider.save(update_fields=["client_secret", "updated_at"])
    audit.record(
        Action.UPDATE,
        actor=actor,
        target=provider,
        detail="client secret cleared" if not secret else "client secret replaced",
        ip_address=ip_address,
    )


@sensitive_variables()
def read_client_secret(
    provider: Provider, *, purpose: str, actor: User | None = None
) -> Secret | None:
    if not purpose:
        raise ValueError("reading a secret needs a stated purpose")
    value = Provider.objects.only("client_secret").get(pk=provider.pk).client_secret
    audit.record(Action.USE, actor=actor, target=provider, purpose=purpose)
    return Secret(value) if value is not None else None
