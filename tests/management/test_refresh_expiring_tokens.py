"""manage.py refresh_expiring_tokens: proactive refresh for cron or a task queue."""

import json
import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from integrations import tokens
from integrations.models import Integration
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    EVERY_TRY,
    alice,
    connected,
    fake,
    make_provider,
    provider,
)
from tests.unreadable import UNREADABLE, spoil


def run(*args):
    """The command's output (``SystemExit`` propagates)."""
    out = StringIO()
    call_command("refresh_expiring_tokens", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_refreshes_only_what_expires_within_the_window(alice, provider, fake):
    soon = connected(alice, provider, expires_in=300, external_account_id="soon")
    later = connected(alice, provider, expires_in=7200, external_account_id="later")
    no_refresh = connected(alice, provider, expires_in=300, refresh=None, external_account_id="nr")
    reauth = connected(alice, provider, expires_in=300, external_account_id="reauth")
    Integration.objects.filter(pk=reauth.pk).update(status="needs_reauth")
    forever, _ = tokens.connect(
        alice, provider, {"access_token": "no-expiry-000001", "refresh_token": "rt-no-expiry-01"}
    )

    output = run("--within", "600")
    assert output.strip() == "1 integration(s) expiring within 600 s — refreshed: 1"
    assert len(fake.refresh_requests()) == 1
    assert Integration.objects.get(pk=soon.pk).access_token.startswith("fake-access-0001")
    for untouched in (later, no_refresh, reauth, forever):
        assert Integration.objects.get(pk=untouched.pk).access_token == untouched.access_token
    assert "fake-" not in output and "stored-" not in output

    assert run("--within", "600") == "0 integration(s) expiring within 600 s\n"


@pytest.mark.django_db
def test_json_counts_and_limit(alice, provider, fake):
    for index in range(3):
        connected(alice, provider, expires_in=60 + index, external_account_id=f"a{index}")
    fake.script("/token", 400, {"error": "invalid_grant"})
    counts = json.loads(run("--within", "600", "--json", "--limit", "2"))
    assert counts["needs_reauth"] == 1 and counts["refreshed"] == 1
    assert len(fake.refresh_requests()) == 2


@pytest.mark.django_db
def test_exits_non_zero_when_a_refresh_failed_for_a_passing_reason(alice, provider, fake):
    connected(alice, provider, expires_in=60)
    fake.script("/token", 503, "down", times=EVERY_TRY)
    with pytest.raises(SystemExit) as info:
        run("--within", "600")
    assert info.value.code == 1
    assert Integration.objects.get().status == "error"


@pytest.mark.django_db
def test_a_row_another_worker_is_refreshing_is_skipped_until_its_lease_expires(
    alice, provider, fake
):
    integration = connected(alice, provider, expires_in=60)
    Integration.objects.filter(pk=integration.pk).update(
        refresh_lease=uuid.uuid4(), refresh_lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    assert json.loads(run("--within", "600", "--json"))["skipped"] == 1
    assert fake.requests == []
    Integration.objects.filter(pk=integration.pk).update(
        refresh_lease_expires_at=timezone.now() - timedelta(seconds=1)
    )  # its worker died
    assert json.loads(run("--within", "600", "--json"))["refreshed"] == 1
    assert len(fake.refresh_requests()) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("args", [("--within", "-1"), ("--limit", "0")])
def test_bad_arguments(args):
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.django_db(transaction=True)
def test_several_processes_at_once_refresh_each_integration_once(alice, fake):
    fake.delay = 0.05  # a provider that takes a moment
    provider = make_provider(fake)
    pks = [
        connected(
            alice,
            provider,
            expires_in=120,
            external_account_id=f"acct-{i}",
            refresh=f"stored-refresh-token-{i:04d}",
        ).pk
        for i in range(6)
    ]
    barrier = threading.Barrier(4)
    outputs, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=30)
            outputs.append(json.loads(run("--within", "600", "--json")))
        except BaseException as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(fake.refresh_requests()) == 6
    assert sum(o["refreshed"] for o in outputs) == 6
    refreshed_tokens = {r["form"]["refresh_token"] for r in fake.refresh_requests()}
    assert len(refreshed_tokens) == 6  # each stored refresh token used exactly once
    cutoff = timezone.now() + timedelta(seconds=3000)
    assert Integration.objects.filter(pk__in=pks, expires_at__gt=cutoff).count() == 6


@pytest.mark.django_db
def test_carries_on_past_unreadable_rows_and_an_absurd_response_and_reports_them(
    alice, provider, fake, canary
):
    """Rows are taken soonest expiry first: the bad ones come before the good one."""
    bad = {}
    for index, how in enumerate(sorted(UNREADABLE)):
        bad[how] = connected(
            alice,
            provider,
            expires_in=60 + index,
            external_account_id=how,
            refresh=f"{canary}-{how}",
        )
        spoil(bad[how], "refresh_token", how, f"{canary}-{how}")
    absurd = connected(
        alice,
        provider,
        expires_in=100,
        external_account_id="absurd",
        refresh="stored-refresh-absurd-01",
    )
    fine = connected(alice, provider, expires_in=200, external_account_id="fine")
    fake.script("/token", 200, {"access_token": "absurd-access-token-01", "expires_in": 10**30})

    out = StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("refresh_expiring_tokens", "--within", "600", "--json", stdout=out)
    assert info.value.code == 1
    report = json.loads(out.getvalue())
    assert report["refreshed"] == 1 and report["unreadable"] == 3
    assert Integration.objects.get(pk=fine.pk).access_token.startswith("fake-access-")
    failures = {f["integration"]: (f["outcome"], f["code"]) for f in report["failures"]}
    assert {failures[str(bad[how].pk)] for how in UNREADABLE} == {
        ("unreadable", code) for code in UNREADABLE.values()
    }
    assert failures[str(absurd.pk)][0] in ("error", "failed")  # an absurd token response
    assert len(failures) == 4
    for how in UNREADABLE:
        assert Integration.objects.get(pk=bad[how].pk).status == "needs_reauth"
    assert canary not in out.getvalue()

    # Readable text output names the failed rows too, and the next run skips the
    # rows that now need the user.
    fake.script("/token", 503, "down", times=EVERY_TRY)
    with pytest.raises(SystemExit):
        text = StringIO()
        call_command("refresh_expiring_tokens", "--within", "600", stdout=text)
    assert f"integration {absurd.pk}: error (http_503)" in text.getvalue()
