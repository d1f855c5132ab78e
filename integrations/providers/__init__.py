"""Provider presets for well-known platforms, and creating a Provider from one.

``PRESETS`` (in :mod:`.presets`) is data: the endpoints, scopes, PKCE mode and
claims mapping of Google, GitHub, Slack, Microsoft and a generic OpenID Connect
provider, and of the OAuth 1.0a ones: Trello, X and a generic OAuth 1.0a
provider. :func:`create_provider_from_preset` turns one into a Provider; the
admin's "create from preset" uses it, so staff only add the client id and secret.
"""

import copy
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from .. import audit, credential_store
from .._typing import User
from ..models import AuditEvent, Provider
from .presets import PRESETS

__all__ = ["PRESETS", "create_provider_from_preset", "get_preset", "preset_choices"]

# Preset keys that are not Provider fields.
_NOT_FIELDS = ("required",)
# Provider fields an override may set.
_OVERRIDABLE = frozenset(
    {
        "slug",
        "name",
        "category",
        "description",
        "icon_url",
        "base_url",
        "request_token_url",
        "authorize_url",
        "token_url",
        "revocation_url",
        "userinfo_url",
        "discovery_url",
        "default_scopes",
        "pkce",
        "signature_method",
        "metadata",
        "status",
    }
)


def preset_choices() -> list[tuple[str, str]]:
    """``[(key, name), …]`` for a form's choice field."""
    return [(key, preset["name"]) for key, preset in PRESETS.items()]


def get_preset(key: str) -> dict[str, Any]:
    """A deep copy of the preset (``KeyError`` names the known ones)."""
    try:
        return copy.deepcopy(PRESETS[key])
    except KeyError:
        raise KeyError(f"unknown provider preset {key!r}; known: {', '.join(PRESETS)}") from None


@sensitive_variables()
@transaction.atomic
def create_provider_from_preset(
    preset: str,
    *,
    client_id: str,
    client_secret: str | None = None,
    actor: User | None = None,
    ip_address: str | None = None,
    **overrides: Any,
) -> Provider:
    """Create and return a Provider from the preset ``preset`` (a key of PRESETS).

    ``client_id`` and ``client_secret`` are what the provider issued (the secret
    is sealed and its setting audited); ``overrides`` replace preset fields, e.g.
    ``slug="google-work"`` for a second Google app or ``discovery_url=...`` for
    the generic OIDC preset. Raises ``ValidationError`` (field names, never the
    secret) when the result is not a valid provider.
    """
    data = get_preset(preset)
    required = data.get("required", [])
    unknown = sorted(set(overrides) - _OVERRIDABLE)
    if unknown:
        raise ValidationError(f"not provider fields: {', '.join(unknown)}")
    metadata = {**data.get("metadata", {}), **overrides.pop("metadata", {})}
    for key in _NOT_FIELDS:
        data.pop(key, None)
    data.update(overrides)
    data["metadata"] = {**metadata, "preset": preset}
    missing = [name for name in required if not data.get(name)]
    if not client_id:
        missing.insert(0, "client_id")
    if missing:
        raise ValidationError({name: "This field is required for this preset." for name in missing})
    data.setdefault("auth_type", Provider.AuthType.OAUTH2)
    provider = Provider(client_id=client_id, **data)
    provider.full_clean(exclude=["client_secret"])
    provider.save()
    audit.record(
        AuditEvent.Action.CREATE,
        actor=actor,
        target=provider,
        detail=f"from preset {preset}",
        ip_address=ip_address,
    )
    if client_secret:
        credential_store.set_client_secret(
            provider, client_secret, actor=actor, ip_address=ip_address
        )
    return provider
