"""Signals about an integration's tokens and a user's credentials. None of them
carries a secret.

All are sent after the change is committed (through ``transaction.on_commit``),
so a receiver that reads the row sees the new state, and a receiver that fails
is logged instead of breaking the caller. The integration signals are sent with
``sender=Integration``, the credential ones with ``sender=Credential``.

* ``integration_connected(integration, created)`` — a user connected an account
  (``created`` is False when an existing connection was connected again).
* ``integration_refreshed(integration)`` — new tokens were stored by a refresh.
* ``integration_refresh_failed(integration, reason)`` — a refresh failed and the
  failure was stored (``reason`` is the error code, e.g. ``"server_error"``);
  when the user has to connect again, ``integration_needs_reauth`` follows.
* ``integration_needs_reauth(integration, reason)`` — the provider refused the
  refresh token (``reason`` is the error code, e.g. ``"invalid_grant"``), or the
  access token expired with no refresh token; the user has to connect again.
* ``integration_recovered(integration, previous_status)`` — an integration that
  was ``error``, ``expired`` or ``needs_reauth`` is ``active`` again (a refresh
  succeeded or the user re-connected).
* ``integration_disconnected(integration)`` — the user disconnected it: its
  tokens are erased (status ``revoked``).
* ``credential_created(credential)``, ``credential_updated(credential,
  secret_replaced)``, ``credential_deleted(credential, credential_id)`` — a
  credential's row changed (after a deletion ``credential.pk`` is None:
  ``credential_id`` is the id it had).

``change_recorded(change, instance, **arguments)`` is different: it is sent
*inside* the transaction that makes the change, before it commits, for each of
the signals above (``change`` is that signal). A receiver that writes rows there
(the webhooks' outbox, :mod:`integrations.webhooks`) commits or rolls back with
the change; an error it raises rolls the change back, so it writes to the
database and nothing else.
"""

import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from .models import Credential, Integration

logger = logging.getLogger(__name__)

integration_connected = Signal()
integration_refreshed = Signal()
integration_refresh_failed = Signal()
integration_needs_reauth = Signal()
integration_recovered = Signal()
integration_disconnected = Signal()
credential_created = Signal()
credential_updated = Signal()
credential_deleted = Signal()
change_recorded = Signal()


def send_on_commit(signal: Signal, integration: "Integration", **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (now if there is none),
    and :data:`change_recorded` now, inside it."""
    from .models import Integration

    _send(signal, Integration, "integration", integration, kwargs)


def send_credential_on_commit(signal: Signal, credential: "Credential", **kwargs: Any) -> None:
    """:func:`send_on_commit` for a credential's signals."""
    from .models import Credential

    _send(signal, Credential, "credential", credential, kwargs)


def _send(signal: Signal, sender: type, name: str, instance: Any, kwargs: dict[str, Any]) -> None:
    change_recorded.send(sender=sender, change=signal, instance=instance, **kwargs)
    pk = instance.pk if instance.pk is not None else kwargs.get(f"{name}_id")

    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **{name: instance}, **kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "integrations signal receiver %s failed for %s %s: %s",
                    getattr(receiver, "__qualname__", receiver),
                    name,
                    pk,
                    type(result).__name__,
                )

    transaction.on_commit(send)
