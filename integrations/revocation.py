"""Disconnecting: revoke the tokens at the provider when it can, then erase them."""

import logging
import uuid
from dataclasses import dataclass, field
from typing import cast

from django.core.exceptions import ImproperlyConfigured
from django.db import (
    transaction,
)
from django.views.decorators.debug import sensitive_variables

from . import audit, oauth, oauth1, provider_hooks, provider_quirks, provider_urls, refresh_outbox
from ._typing import User
from .credential_store import read_client_secret
from .models import AuditEvent, Integration, Provider
from .provider_data import (
    TokenResponseError,
    salvage_refresh_token,
)
from .signals import integration_disconnected, send_on_commit
from .token_errors import TokenUnreadable
from .token_store import (
    apply_token_response,
    clear_lease,
    database_alias,
    get_integration,
    integration_row,
    open_token,
)

Action = AuditEvent.Action
logger = logging.getLogger("integrations.tokens")


# -- disconnect: revoke at the provider, then erase ---------------------------------


@dataclass
class Disconnection:
    """What disconnecting did at the provider; codes only, never a token."""

    integration: Integration
    revocation_supported: bool = False
    revoked: list[str] = field(default_factory=list)  # token type hints revoked at the provider
    failed: dict[str, str] = field(default_factory=dict)  # token type hint -> error code
    # How the provider revokes (metadata["revocation"]): rfc7009, bearer, hook, signed, none.
    method: str = "rfc7009"

    @property
    def fully_revoked(self) -> bool:
        return self.revocation_supported and not self.failed


@sensitive_variables()
def _revocable_tokens(row, result, *, actor, ip_address):
    """The stored tokens that can be opened, as ``(hint, value)``; one that cannot
    (tampered, legacy plaintext, unknown key) is skipped and the skip audited."""
    stored = []
    for hint in ("refresh_token", "access_token"):
        try:
            value = open_token(row, hint)
        except TokenUnreadable as exc:
            result.failed[hint] = exc.code
            _record_revocation(row, f"{hint}: not revoked: {exc.code}", actor, ip_address)
            continue
        if value:
            stored.append((hint, value))
    return stored


def _record_revocation(row, detail, actor, ip_address, *, succeeded=False):
    """One ``revoke`` audit event about ``row``; ``detail`` names tokens and codes only."""
    audit.record(
        Action.REVOKE,
        actor=actor,
        target=row,
        outcome=AuditEvent.Outcome.SUCCESS if succeeded else AuditEvent.Outcome.FAILURE,
        detail=detail,
        ip_address=ip_address,
    )


def _revocation_url(row, endpoints, actor, ip_address):
    """The provider's revocation URL, or ``""`` with the reason audited."""
    try:
        url = endpoints(row.provider, provider_urls.connection_values(row)).revocation_url
    except oauth.OAuthFlowError as exc:
        url, failure = "", exc.code
    else:
        failure = "no_revocation_endpoint"
    if not url:
        _record_revocation(row, f"not revoked at the provider: {failure}", actor, ip_address)
    return url


@sensitive_variables()
def _take_unstored_answer(row):
    """Put on ``row`` (in memory) the tokens of a refresh answer that is still
    in the outbox, unstored: they are the live ones, and the ones to revoke."""
    answer = refresh_outbox.pending(row)
    if answer is None:
        return
    try:
        apply_token_response(row, answer)
    except TokenResponseError:
        kept = salvage_refresh_token(answer)
        if kept:
            row.refresh_token = kept
    refresh_outbox.discard(row.pk)


@sensitive_variables()
def _revoke_oauth1(row, result, *, actor, ip_address):
    """OAuth 1.0a has no standard revocation: a signed POST to the revocation URL
    a preset names (X's ``invalidate_token``), with the access token and secret."""
    try:
        token = open_token(row, "access_token")
        secret = open_token(row, "token_secret")
    except TokenUnreadable as exc:
        result.failed["access_token"] = exc.code
        _record_revocation(row, f"access_token: not revoked: {exc.code}", actor, ip_address)
        return
    if not token:
        return
    url = _revocation_url(row, oauth1.endpoints, actor, ip_address)
    if not url:
        return
    result.revocation_supported = True
    try:
        oauth1.revoke_token_request(
            row.provider,
            token,
            secret or "",
            revocation_url=url,
            client_secret=read_client_secret(row.provider, purpose="revoke a token", actor=actor),
        )
    except oauth.OAuthFlowError as exc:
        result.failed["access_token"] = exc.code
        _record_revocation(row, f"access_token: {exc.code}", actor, ip_address)
    else:
        result.revoked.append("access_token")
        _record_revocation(
            row, "access_token revoked at the provider", actor, ip_address, succeeded=True
        )


@sensitive_variables()
def _outcome(row, result, hint, call, *, actor, ip_address):
    """Run one revocation ``call`` for the token ``hint``; record its outcome."""
    try:
        call()
    except oauth.OAuthFlowError as exc:
        result.failed[hint] = exc.code
        _record_revocation(row, f"{hint}: {exc.code}", actor, ip_address)
    else:
        result.revoked.append(hint)
        _record_revocation(
            row, f"{hint} revoked at the provider", actor, ip_address, succeeded=True
        )


@sensitive_variables()
def _revoke_bearer(row, result, rule, *, actor, ip_address):
    """``bearer``: call the revocation URL with the access token as Bearer
    (Dropbox, Slack); the provider ends the grant, refresh token included."""
    stored = dict(_revocable_tokens(row, result, actor=actor, ip_address=ip_address))
    access_token = stored.get("access_token")
    if not access_token:
        if "access_token" not in result.failed:
            _record_revocation(
                row, "not revoked at the provider: no access token", actor, ip_address
            )
        return
    url = _revocation_url(row, oauth.endpoints, actor, ip_address)
    if not url:
        return
    result.revocation_supported = True
    _outcome(
        row,
        result,
        "access_token",
        lambda: provider_hooks.revoke_bearer_request(
            access_token, revocation_url=url, http_method=rule["http_method"]
        ),
        actor=actor,
        ip_address=ip_address,
    )


@sensitive_variables()
def _revoke_by_hook(row, result, rule, *, actor, ip_address):
    """``hook``: a named function of :mod:`.provider_hooks` (GitHub's grant DELETE)."""
    try:
        hook = provider_hooks.revocation_hook(rule["hook"])
    except ImproperlyConfigured:
        # Misconfigured (Provider.clean refuses it): said loudly, never blocking
        # the disconnect, which erases the tokens here all the same.
        logger.error(
            "provider %s names an unknown revocation hook; tokens erased here only",
            row.provider.slug,
        )
        result.failed["access_token"] = "unknown_revocation_hook"  # noqa: S105 - a code
        _record_revocation(
            row, "not revoked at the provider: unknown_revocation_hook", actor, ip_address
        )
        return
    stored = dict(_revocable_tokens(row, result, actor=actor, ip_address=ip_address))
    access_token = stored.get("access_token")
    if not access_token:
        if "access_token" not in result.failed:
            _record_revocation(
                row, "not revoked at the provider: no access token", actor, ip_address
            )
        return
    result.revocation_supported = True
    client_secret = read_client_secret(row.provider, purpose="revoke a token", actor=actor)
    _outcome(
        row,
        result,
        "access_token",
        lambda: hook(
            row.provider,
            access_token=access_token,
            client_secret=client_secret,
            account_id=row.external_account_id,
            url_values=provider_urls.connection_values(row),
        ),
        actor=actor,
        ip_address=ip_address,
    )


@sensitive_variables()
def _revoke_at_provider(row, result, *, actor, ip_address):
    rule = provider_quirks.revocation(row.provider)
    result.method = rule["method"]
    if rule["method"] == "none":
        _record_revocation(
            row,
            "not revoked at the provider: it has no way to revoke by API; tokens erased here only",
            actor,
            ip_address,
        )
        return
    if rule["method"] == "bearer":
        _revoke_bearer(row, result, rule, actor=actor, ip_address=ip_address)
        return
    if rule["method"] == "hook":
        _revoke_by_hook(row, result, rule, actor=actor, ip_address=ip_address)
        return
    if rule["method"] == "signed":
        if row.provider.auth_type == Provider.AuthType.OAUTH1:
            _revoke_oauth1(row, result, actor=actor, ip_address=ip_address)
            return
        # Misconfigured (Provider.clean refuses it): said loudly, never blocking
        # the disconnect, which erases the tokens here all the same.
        logger.error(
            "provider %s names signed revocation but is not OAuth 1.0a; tokens erased here only",
            row.provider.slug,
        )
        result.failed["access_token"] = "revocation_method_invalid"  # noqa: S105 - a code
        _record_revocation(
            row, "not revoked at the provider: revocation_method_invalid", actor, ip_address
        )
        return
    stored = _revocable_tokens(row, result, actor=actor, ip_address=ip_address)
    if not stored:
        return
    url = _revocation_url(row, oauth.endpoints, actor, ip_address)
    if not url:
        return
    result.revocation_supported = True
    client_secret = read_client_secret(row.provider, purpose="revoke a token", actor=actor)
    for hint, value in stored:
        _outcome(
            row,
            result,
            hint,
            lambda value=value, hint=hint: oauth.revoke_token_request(
                row.provider, value, hint, revocation_url=url, client_secret=client_secret
            ),
            actor=actor,
            ip_address=ip_address,
        )


def disconnect(
    user: User,
    integration: Integration | uuid.UUID | str,
    *,
    ip_address: str | None = None,
    actor: User | None = None,
) -> Disconnection:
    """Disconnect the user's integration: revoke its tokens at the provider as
    its ``metadata["revocation"]`` says (RFC 7009 at its endpoint when it has
    one, the default; ``bearer``; a named ``hook``; ``signed``, OAuth 1.0a's
    signed POST, the default for OAuth 1.0a; ``none``: nothing is sent),
    each outcome audited, then mark it ``revoked`` and erase its sealed tokens
    whatever the provider said.

    ``actor`` is who acts, when not the owner (staff in the admin); the audit
    events name them. Returns a :class:`Disconnection`. Another user's
    integration is ``Integration.DoesNotExist``.
    """
    pk = cast("uuid.UUID | str", getattr(integration, "pk", integration))
    get_integration(user, pk)  # ownership
    actor = actor or user
    db = database_alias()
    row = integration_row(db, pk).first()  # no transaction is held while the provider answers
    if row is None:
        raise Integration.DoesNotExist("no such integration for this user")
    result = Disconnection(integration=row)
    _take_unstored_answer(row)
    _revoke_at_provider(row, result, actor=actor, ip_address=ip_address)
    with transaction.atomic(using=db):
        row.access_token = None
        row.refresh_token = None
        row.token_secret = None
        row.expires_at = None
        row.status = Integration.Status.REVOKED
        row.last_error = ""
        clear_lease(row)  # a refresh in flight stores nothing
        row.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "token_secret",
                "expires_at",
                "status",
                "last_error",
                "refresh_lease",
                "refresh_lease_expires_at",
                "updated_at",
            ]
        )
        audit.record(
            Action.DISCONNECT,
            actor=actor,
            target=row,
            ip_address=ip_address,
            detail="revoked at the provider"
            if result.fully_revoked
            else "tokens erased here only: the provider has no way to revoke by API"
            if result.method == "none"
            else "tokens erased; not (fully) revoked at the provider",
        )
        send_on_commit(integration_disconnected, row)
    if isinstance(integration, Integration):
        integration.refresh_from_db()
    return result
