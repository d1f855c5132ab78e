"""Refreshing every integration that expires soon, for cron or a task queue."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import BooleanField, Case, F, Q, When
from django.utils import timezone

from ._typing import User
from .conf import app_settings
from .db_failures import typed_database_failures
from .models import AuditEvent, Integration, Provider
from .token_errors import (
    DatabaseUnavailable,
    ReauthorizationRequired,
    RefreshFailed,
    TokenUnreadable,
)
from .token_refresh import refresh_integration
from .token_store import database_alias

Action = AuditEvent.Action
logger = logging.getLogger("integrations.tokens")


@dataclass
class RefreshReport:
    """What ``refresh_expiring`` did: ``counts`` per outcome, and each row that
    failed as ``(integration id, outcome, code)`` (codes only, never a secret)."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, outcome: str, pk: object = None, code: str | None = None) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if code is not None:
            self.failures.append((str(pk), outcome, code))


def refresh_expiring(
    *, within: float, limit: int | None = None, actor: User | None = None
) -> RefreshReport:
    """Refresh every active integration whose token expires within ``within``
    seconds (for cron or a task queue). Safe in several processes at once: a row
    another process is refreshing is skipped, and one refreshed meanwhile is
    found fresh. One row's failure, whatever it is, never stops the others.

    Returns a :class:`RefreshReport`; outcomes are ``refreshed``, ``fresh``,
    ``skipped``, the status a failure left (``needs_reauth``, ``expired``,
    ``error``), ``unreadable`` (a stored token cannot be opened; the row is
    marked ``needs_reauth``) and ``failed`` (an unexpected error; logged by type).

    With ``REFRESH_IDLE_AFTER_DAYS`` set, grants not refreshed (nor connected)
    for that many days are refreshed too, valid or not: some providers let an
    unused refresh token die.
    """
    now = timezone.now()
    due = Q(expires_at__isnull=False, expires_at__lte=now + timedelta(seconds=within))
    idle_days = app_settings.REFRESH_IDLE_AFTER_DAYS
    idle = Q(pk__in=[])
    if idle_days:
        idle_since = now - timedelta(days=idle_days)
        idle = Q(last_refreshed_at__lte=idle_since) | Q(
            last_refreshed_at__isnull=True, created_at__lte=idle_since
        )
    candidates = (
        Integration.objects.filter(
            due | idle,
            status__in=[Integration.Status.ACTIVE, Integration.Status.ERROR],
            refresh_token__isnull=False,
        )
        # OAuth 1.0a tokens never expire and have nothing to refresh.
        .exclude(provider__auth_type=Provider.AuthType.OAUTH1)
        .annotate(
            idle=Case(When(~due & idle, then=True), default=False, output_field=BooleanField())
        )
        .order_by(F("expires_at").asc(nulls_last=True))
        .values_list("pk", "updated_at", "idle")
    )
    if limit:
        candidates = candidates[:limit]
    report = RefreshReport()
    try:
        with typed_database_failures(database_alias()):
            due_rows = list(candidates)
    except DatabaseUnavailable as exc:
        logger.warning("Scheduled refresh not run: the database is unavailable")
        report.add("database_unavailable", None, exc.code)
        return report
    for pk, seen, force in due_rows:
        try:
            # ``seen`` as selected: a row another worker refreshed since is fresh,
            # even when an idle one is forced.
            report.add(
                refresh_integration(
                    pk, actor=actor, margin=within, skip_busy=True, force=force, _seen=seen
                )
            )
        except TokenUnreadable as exc:
            report.add("unreadable", pk, exc.code)
        except ReauthorizationRequired as exc:
            report.add(exc.status or Integration.Status.NEEDS_REAUTH, pk, exc.code)
        except RefreshFailed as exc:
            report.add(Integration.Status.ERROR, pk, exc.code)
        except DatabaseUnavailable as exc:
            # The rest would fail alike: stop here; the next run takes them up.
            logger.warning(
                "Scheduled refresh stopped after %d of %d integrations: the database is "
                "unavailable",
                sum(report.counts.values()),
                len(due_rows),
            )
            report.add("database_unavailable", pk, exc.code)
            break
        except Integration.DoesNotExist:
            continue  # deleted meanwhile
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the run
            # The type only: an unexpected exception's text may quote a response.
            logger.error("Refreshing integration %s failed: %s", pk, type(exc).__name__)
            report.add("failed", pk, type(exc).__name__)
    return report
