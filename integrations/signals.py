"""Signals about an integration's tokens. None of them carries a secret.

All are sent with ``sender=Integration`` after the change is committed (through
``transaction.on_commit``), so a receiver that reads the row sees the new state,
and a receiver that fails is logged instead of breaking the caller.

* ``integration_refreshed(integration)`` — new tokens were stored by a refresh.
* ``integration_needs_reauth(integration, reason)`` — the provider refused the
  refresh token (``reason`` is the error code, e.g. ``"invalid_grant"``), or the
  access token expired with no refresh token; the user has to connect again.
* ``integration_recovered(integration, previous_status)`` — an integration that
  was ``error``, ``expired`` or ``needs_reauth`` is ``active`` again (a refresh
  succeeded or the user re-connected).
"""

import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from .models import Integration

logger = logging.getLogger(__name__)

integration_refreshed = Signal()
integration_needs_reauth = Signal()
integration_recovered = Signal()


def send_on_commit(signal: Signal, integration: "Integration", **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (now if there is none)."""
    from .models import Integration

    def send() -> None:
        for receiver, result in signal.send_robust(
            sender=Integration, integration=integration, **kwargs
        ):
            if isinstance(result, Exception):
                logger.error(
                    "integrations signal receiver %s failed for integration %s: %s",
                    getattr(receiver, "__qualname__", receiver),
                    integration.pk,
                    type(result).__name__,
                )

    transaction.on_commit(send)
