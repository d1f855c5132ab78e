"""The scale bed's storm and rotation scenarios, what runs without the bed: the
seeded values (sealed as the field seals them), the provider's ledger and the
checks computed from it (benchmarks/scale/seeding.py, checks.py)."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from benchmarks.scale import checks, seeding
from integrations.conf import app_settings
from integrations.crypto import CryptoError
from integrations.crypto.format import read_version
from integrations.models import Credential
from tests.reuse_detection import RevokeOnReuse, digest

# -- the provider's ledger -------------------------------------------------------------


class _Issuer:
    """What RevokeOnReuse needs of a FakeProvider: handlers and numbered tokens."""

    def __init__(self):
        self.handlers = {}
        self._n = itertools.count(1)

    def issue(self, form):
        n = next(self._n)
        return 200, {"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 3600}


def _refresh(strict, token):
    return strict({"grant_type": "refresh_token", "refresh_token": token}, {})


def test_ledger_names_each_grant_by_its_seed_and_follows_its_newest_token():
    strict = RevokeOnReuse(_Issuer())
    _status, first = _refresh(strict, "seed-a")
    _status, second = _refresh(strict, first["refresh_token"])
    _refresh(strict, "seed-b")

    ledger = strict.ledger()

    assert ledger["reused"] == 0
    assert ledger["grants"][digest("seed-a")] == [2, digest(second["refresh_token"]), False]
    assert ledger["grants"][digest("seed-b")][0] == 1
    assert "seed-a" not in str(ledger) and second["refresh_token"] not in str(ledger)


def test_ledger_shows_a_reused_token_revoking_its_grant():
    strict = RevokeOnReuse(_Issuer())
    _refresh(strict, "seed-a")

    status, body = _refresh(strict, "seed-a")

    assert (status, body["error"]) == (400, "invalid_grant")
    ledger = strict.ledger()
    assert ledger["reused"] == 1
    assert ledger["grants"][digest("seed-a")][2] is True


def test_seeding_digests_tokens_as_the_ledger_does():
    token = seeding.seed_refresh_token("t1", 7)
    assert seeding.digest(token) == digest(token)
    assert seeding.number_of(seeding.account_id("t1", 7)) == 7
    assert seeding.seed_refresh_token("t1", 7) != seeding.seed_refresh_token("t2", 7)


# -- storm checks --------------------------------------------------------------------


def _storm(n=3, *, refreshes=1, revoked=False, stored=None, leased=False, status="active"):
    grants, rows = {}, []
    for i in range(n):
        seed = seeding.digest(seeding.seed_refresh_token("t", i))
        grants[seed] = [refreshes, f"newest-{i}", revoked]
        rows.append(
            {
                "seed": seed,
                "stored": stored or f"newest-{i}",
                "status": status,
                "leased": leased,
                "refreshed": 100.0 + i,
            }
        )
    return {"grants": grants, "reused": 1 if revoked else 0}, rows


def _oks(ledger, rows, seconds=10.0, bound=60.0):
    return {c.name: c.ok for c in checks.storm_checks(ledger, rows, seconds=seconds, bound=bound)}


def test_a_clean_storm_passes_every_check():
    assert all(_oks(*_storm()).values())


@pytest.mark.parametrize(
    ("storm", "failing"),
    [
        (dict(refreshes=2), "one provider refresh per grant"),
        (dict(refreshes=0), "one provider refresh per grant"),
        (dict(stored="an-older-token"), "none lost"),
        (dict(revoked=True), "none lost"),
        (dict(status="needs_reauth"), "none lost"),
        (dict(leased=True), "none left leased"),
    ],
)
def test_each_storm_failure_fails_its_check(storm, failing):
    oks = _oks(*_storm(**storm))
    assert oks[failing] is False


def test_an_expired_lease_left_on_a_fresh_row_holds_nothing():
    ledger, rows = _storm()
    rows[0]["stale_lease"] = True  # a killed worker's, expired: "leased" is False

    checks_by_name = {c.name: c for c in checks.storm_checks(ledger, rows, seconds=1.0, bound=60.0)}

    assert checks_by_name["none left leased"].ok
    assert "expired leases left in the columns (a killed worker's, on a row already fresh): 1" in (
        checks_by_name["none left leased"].detail
    )


def test_a_grant_the_provider_never_saw_is_neither_refreshed_once_nor_kept():
    ledger, rows = _storm()
    del ledger["grants"][rows[0]["seed"]]
    oks = _oks(ledger, rows)
    assert not oks["one provider refresh per grant"] and not oks["none lost"]


def test_a_storm_over_its_bound_fails_and_no_rows_fails_too():
    assert _oks(*_storm(), seconds=61)["done within the bound"] is False
    assert _oks({"grants": {}}, [])["one provider refresh per grant"] is False


def test_completed_series_counts_up_to_every_row_done_and_ignores_the_unfinished():
    series = checks.completed_series([10.0, 12.0, None, 11.0], 10.0, buckets=4)
    assert series[0] == (0.0, 0.0)
    assert series[-1] == (2.0, 3.0)
    assert [v for _t, v in series] == sorted(v for _t, v in series)
    assert checks.completed_series([None], 0.0) == [(0.0, 0.0)]
    assert checks.refresh_rate([10.0, 12.0], 10.0) == pytest.approx(1.0)
    assert checks.refresh_rate([], 10.0) == 0.0


# -- rotation checks and the API writes' expectations ---------------------------------------


def test_rotation_checks_want_every_row_under_the_primary_and_no_problem():
    clean = {"rows": 10, "versions": {"3": 10}, "problems": {}}
    assert all(c.ok for c in checks.rotation_checks(clean, expected_rows=10, primary=3, label="x"))
    old = {"rows": 10, "versions": {"3": 9, "2": 1}, "problems": {}}
    assert [c.ok for c in checks.rotation_checks(old, expected_rows=10, primary=3, label="x")] == [
        True,
        False,
    ]
    lost = {"rows": 9, "versions": {"3": 9}, "problems": {}}
    assert not checks.rotation_checks(lost, expected_rows=10, primary=3, label="x")[0].ok
    broken = {"rows": 10, "versions": {"3": 10}, "problems": {"unreadable:DecryptionError": 1}}
    assert not checks.rotation_checks(broken, expected_rows=10, primary=3, label="x")[0].ok
    assert checks.rotation_checks(clean, expected_rows=(9, 11), primary=3, label="x")[0].ok


def test_expected_writes_keep_what_an_unknown_outcome_may_have_left():
    writes = seeding.ExpectedWrites()
    writes.settle("a", "v1", 201, success=201)
    writes.settle("a", "v2", 200, success=200)  # an update that succeeded
    writes.settle("a", "v3", 429, success=200)  # refused: nothing written
    writes.settle("b", "w1", 503, success=201)  # unknown: maybe created
    writes.settle("c", "x1", "ConnectionError", success=201)
    writes.settle("d", "y1", 400, success=201)  # refused: no row

    assert writes.as_json() == {"a": ["v2"], "b": [None, "w1"], "c": [None, "x1"], "d": [None]}
    assert checks.expected_api_rows(writes.as_json()) == (1, 4)


# -- seeded rows are sealed as the field seals them ---------------------------------------


def test_seeded_row_names_and_values_round_trip():
    assert seeding.is_row_name(seeding.row_name(42))
    assert seeding.row_number(seeding.row_name(42)) == 42
    assert not seeding.is_row_name("api-x-000001")


@pytest.mark.django_db
def test_a_value_sealed_by_the_seeder_opens_through_the_model_for_its_row_only():
    owner = get_user_model().objects.create_user("seed-owner")
    field = Credential._meta.get_field("data")
    pk, sealed = seeding.sealed_row(app_settings.keyring, field, 5)
    seeded = Credential.objects.create(
        pk=pk, owner=owner, name=seeding.row_name(5), credential_type="custom", data={}
    )
    other = Credential.objects.create(owner=owner, name="other", credential_type="custom", data={})
    table, column = Credential._meta.db_table, field.column
    with connection.cursor() as cursor:
        for row in (seeded, other):  # as COPY writes it, beside the ORM
            cursor.execute(
                f"UPDATE {table} SET {column} = %s WHERE id = %s",
                [sealed, Credential._meta.pk.get_db_prep_value(row.pk, connection)],
            )

    assert Credential.objects.get(pk=pk).data == seeding.row_value(5)
    with pytest.raises(CryptoError):
        Credential.objects.get(pk=other.pk).data  # noqa: B018 - bound to the seeded row


def test_the_seeder_seals_the_fields_plaintext_under_the_primary_key():
    field = Credential._meta.get_field("data")
    pk, sealed = seeding.sealed_row(app_settings.keyring, field, 3)
    assert read_version(sealed) == app_settings.keyring.primary_version
    opened = app_settings.keyring.decrypt(sealed, field.context_for_pk(pk))
    assert opened == b'{"token":"seed-value-0000003-' + b"x" * 64 + b'"}'
