"""The credential service's public face: ``integrations.credentials``.

The service itself is :mod:`.credential_store` (every read and write of a
credential's secret, scoped to its owner and audited); this module gathers its
public names (the stable import path) and adds the provider-call sessions of
:mod:`.provider_calls`, which are built on it. Nothing below the surfaces
imports this module.
"""

from .credential_store import (
    NAME_TAKEN,
    REQUIRED_KEYS,
    SEARCHABLE_KEYS,
    aread_secret,
    create_credential,
    delete_credential,
    find_by_secret,
    get_credential,
    hint_for,
    list_credentials,
    lookup_secret_for,
    read_client_secret,
    read_secret,
    set_client_secret,
    update_credential,
    validate_data,
)
from .models import Credential
from .provider_calls import CredentialSecret, ProviderCallAuth, ProviderCallSession


def session(user, credential, *, purpose, allowed_hosts=None):
    """A ``requests.Session`` whose requests carry the user's credential: an API
    key where the provider's ``metadata["api_key"]`` says (default
    ``Authorization: Bearer``), basic or bearer. Each request reads the secret
    through :func:`read_secret` (audited). See :mod:`integrations.provider_calls`.

    ``allowed_hosts`` (opt-in): ``"provider"`` (the host of the credential's
    provider's ``base_url``) or host names; a request to any other host is
    refused (``HostNotAllowed``, audited) before it is sent."""
    return ProviderCallSession(
        CredentialSecret(user, credential, purpose=purpose, allowed_hosts=allowed_hosts)
    )


def httpx_auth(user, credential, *, purpose, allowed_hosts=None):
    """An ``httpx.Auth`` doing what :func:`session` does (sync and async clients)."""
    return ProviderCallAuth(
        CredentialSecret(user, credential, purpose=purpose, allowed_hosts=allowed_hosts)
    )


__all__ = [
    "NAME_TAKEN",
    "REQUIRED_KEYS",
    "SEARCHABLE_KEYS",
    "Credential",
    "aread_secret",
    "create_credential",
    "delete_credential",
    "find_by_secret",
    "get_credential",
    "hint_for",
    "httpx_auth",
    "list_credentials",
    "lookup_secret_for",
    "read_client_secret",
    "read_secret",
    "session",
    "set_client_secret",
    "update_credential",
    "validate_data",
]
