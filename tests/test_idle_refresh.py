"""REFRESH_IDLE_AFTER_DAYS: the scheduled refresh keeps grants alive that nothing
refreshed for that long, valid or not (refresh tokens that die when unused)."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import close_old_connections
from django.test.utils import override_settings
from django.utils import timezone

from integrations import tokens
from integrations.conf import app_settings
from integrations.models import Integration
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    fake,
    make_provider,
    provider,
)
from tests.settings import INTEGRATIONS

IDLE_30_DAYS = {**INTEGRATIONS, "REFRESH_IDLE_AFTER_DAYS": 30}


def aged(integration, *, refreshed_days_ago=None, connected_days_ago=0):
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(
        last_refreshed_at=None
        if refreshed_days_ago is None
        else now - timedelta(days=refreshed_days_ago),
        created_at=now - timedelta(days=connected_days_ago),
    )
    return integration


def valid_grants(alice, provider):
    """Rows valid for two hours more, idle or not."""

    def row(name, **age):
        return aged(
            connected(
                alice,
                provider,
                expires_in=7200,
                external_account_id=name,
                refresh=f"stored-refresh-{name}",
            ),
            **age,
        )

    return {
        "idle": row("idle", refreshed_days_ago=31, connected_days_ago=90),
        "never_refreshed_old": row("never_refreshed_old", connected_days_ago=40),
        "recent": row("recent", refreshed_days_ago=5, connected_days_ago=90),
        "new": row("new", connected_days_ago=2),
        "no_expiry_idle": aged(
            tokens.connect(
                alice,
                provider,
                {
                    "access_token": "no-expiry-access-01",
                    "refresh_token": "stored-refresh-no_expiry",
                },
                external_account_id="no_expiry",
            )[0],
            refreshed_days_ago=60,
            connected_days_ago=90,
        ),
    }


def refreshed(fake):
    return sorted(request["form"]["refresh_token"] for request in fake.refresh_requests())


@pytest.mark.django_db
def test_the_command_refreshes_idle_grants_once(alice, provider, fake):
    rows = valid_grants(alice, provider)
    needs_user = aged(
        connected(alice, provider, expires_in=7200, external_account_id="gone"),
        refreshed_days_ago=60,
    )
    Integration.objects.filter(pk=needs_user.pk).update(status="needs_reauth")
    with override_settings(INTEGRATIONS=IDLE_30_DAYS):
        out = StringIO()
        call_command("refresh_expiring_tokens", "--within", "600", stdout=out)
        assert "refreshed: 3" in out.getvalue()
        assert refreshed(fake) == [
            "stored-refresh-idle",
            "stored-refresh-never_refreshed_old",
            "stored-refresh-no_expiry",
        ]
        for name in ("idle", "never_refreshed_old", "no_expiry_idle"):
            loaded = Integration.objects.get(pk=rows[name].pk)
            assert loaded.last_refreshed_at > timezone.now() - timedelta(minutes=1)
        # The next run finds them refreshed: no second refresh.
        call_command("refresh_expiring_tokens", "--within", "600", stdout=StringIO())
    assert len(fake.refresh_requests()) == 3


@pytest.mark.django_db
def test_off_by_default(alice, provider, fake):
    assert app_settings.REFRESH_IDLE_AFTER_DAYS is None
    valid_grants(alice, provider)
    assert tokens.refresh_expiring(within=600).counts == {}
    assert fake.refresh_requests() == []


@pytest.mark.django_db
def test_the_task_refreshes_idle_grants_and_expiring_ones(alice, provider, fake):
    tasks = pytest.importorskip("integrations.tasks")
    valid_grants(alice, provider)
    connected(
        alice,
        provider,
        expires_in=60,
        external_account_id="expiring",
        refresh="stored-refresh-expiring",
    )
    with override_settings(INTEGRATIONS=IDLE_30_DAYS):
        assert tasks.refresh_expiring_now(within=600) == {"refreshed": 4}
    assert "stored-refresh-expiring" in refreshed(fake)


@pytest.mark.django_db(transaction=True)
def test_runs_at_once_refresh_each_idle_grant_once(alice, fake):
    fake.delay = 0.2
    provider = make_provider(fake)
    valid_grants(alice, provider)
    errors, reports = [], []

    def run():
        try:
            reports.append(tokens.refresh_expiring(within=600))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()

    with override_settings(INTEGRATIONS=IDLE_30_DAYS):
        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert refreshed(fake) == [
        "stored-refresh-idle",
        "stored-refresh-never_refreshed_old",
        "stored-refresh-no_expiry",
    ]
    assert sum(report.counts.get("refreshed", 0) for report in reports) == 3


@pytest.mark.parametrize("value", [0, -3, "30", 1.5, True])
def test_a_bad_value_is_refused(value):
    with override_settings(INTEGRATIONS={**INTEGRATIONS, "REFRESH_IDLE_AFTER_DAYS": value}):
        with pytest.raises(ImproperlyConfigured):
            app_settings.validate()
