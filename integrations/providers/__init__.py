"""The provider catalog, and creating a Provider from one of its presets.

``PRESETS`` (slug -> entry) is the catalog (:mod:`.catalog`, data files in
``catalog/``) plus the project's own catalog files (``PROVIDER_CATALOG_DIRS``):
each entry is the non-secret part of a Provider, with the quirks its OAuth
client and call sessions read in ``metadata``. :func:`create_provider_from_preset`
turns one into a Provider; the admin's "Add from preset" uses it, so staff only
add what the provider issued (and, for per-tenant providers, their tenant).
Entries that fail the catalog's checks are left out and reported by
``manage.py check`` (``integrations.E040``).
"""

import copy
import difflib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from .. import audit, credential_store
from .._typing import User
from ..conf import app_settings
from ..models import AuditEvent, Provider
from .catalog import CATALOG_DIR, CatalogError, check_url_value, load_catalog

__all__ = [
    "PRESETS",
    "catalog_errors",
    "create_provider_from_preset",
    "get_preset",
    "preset_choices",
]

_CATALOG = load_catalog(CATALOG_DIR, *app_settings.PROVIDER_CATALOG_DIRS)
# Slug -> entry (plain JSON-like data): deep-copy before changing one (get_preset does).
PRESETS: dict[str, dict[str, Any]] = _CATALOG.entries


def catalog_errors() -> list[CatalogError]:
    """What is wrong with the catalog's entries (those entries are not in PRESETS)."""
    return list(_CATALOG.errors)


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
    """``[(key, name), …]`` for a form's choice field, by name."""
    return sorted(
        ((key, preset["name"]) for key, preset in PRESETS.items()), key=lambda c: c[1].lower()
    )


def get_preset(key: str) -> dict[str, Any]:
    """A deep copy of the preset (``KeyError`` names the known ones)."""
    try:
        return copy.deepcopy(PRESETS[key])
    except KeyError:
        close = difflib.get_close_matches(str(key), PRESETS, n=3)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else " (see docs/reference/provider-catalog.md)"
        )
        raise KeyError(f"unknown provider preset {key!r}{hint}") from None


# Auth types whose provider issues the app a client id (the others' users bring keys).
_CLIENT_AUTH_TYPES = (Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1)


def _provider_url_values(params, given):
    """The provider-level placeholder values: given, or the declared default;
    ``ValidationError`` naming each one missing, malformed or not declared."""
    provider_level = {n: s for n, s in params.items() if s.get("level") == "provider"}
    errors = {
        name: "Not a placeholder of this preset." for name in given if name not in provider_level
    }
    values = {}
    for name, spec in provider_level.items():
        value = given.get(name) or spec.get("default")
        problem = check_url_value(name, value, spec)
        if problem:
            errors[name] = problem
        else:
            values[name] = value
    if errors:
        raise ValidationError(errors)
    return values


@sensitive_variables()
@transaction.atomic
def create_provider_from_preset(
    preset: str,
    *,
    client_id: str = "",
    client_secret: str | None = None,
    actor: User | None = None,
    ip_address: str | None = None,
    url_values: dict[str, str] | None = None,
    **overrides: Any,
) -> Provider:
    """Create and return a Provider from the preset ``preset`` (a key of PRESETS).

    ``client_id`` and ``client_secret`` are what the provider issued (the secret
    is sealed and its setting audited); ``overrides`` replace preset fields, e.g.
    ``slug="google-work"`` for a second Google app or ``discovery_url=...`` for
    the generic OIDC preset. ``url_values`` fill the preset's provider-level URL
    placeholders (``{"domain": "acme.okta.com"}``; a declared ``default`` is used
    for one not given). Raises ``ValidationError`` (field names, never the
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
    values = _provider_url_values(metadata.get("url_params") or {}, url_values or {})
    if values:
        metadata["url_values"] = values
    data["metadata"] = {**metadata, "preset": preset}
    missing = [name for name in required if not data.get(name)]
    needs_client = data.get("auth_type", Provider.AuthType.OAUTH2) in _CLIENT_AUTH_TYPES
    if needs_client and not client_id:
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
