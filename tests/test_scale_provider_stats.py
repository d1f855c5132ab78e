"""The scale bed's provider host (benchmarks/scale/provider_host.py): /_stats
counts successful refreshes per grant, names a grant by a hash of the refresh
token it started with (never the token), and counts grants revoked for reuse;
/_reset forgets it all."""

import httpx
import pytest

from benchmarks.scale.provider_host import Stats, grant_key
from tests.fake_provider import FakeProvider


@pytest.fixture
def provider():
    fake = FakeProvider()
    stats = Stats(fake)
    fake.handlers["/_stats"] = stats.answer
    fake.handlers["/_reset"] = lambda form, headers: stats.reset()
    fake.start()
    yield fake
    fake.stop()


def refresh(provider, token):
    return httpx.post(
        provider.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "fake-client"},
        timeout=10,
    )


def test_counts_refreshes_per_grant_and_revocations_for_reuse(provider):
    first = refresh(provider, "seeded-refresh-1")
    assert first.status_code == 200
    assert refresh(provider, first.json()["refresh_token"]).status_code == 200
    assert refresh(provider, "seeded-refresh-2").status_code == 200
    reused = refresh(provider, "seeded-refresh-2")  # a rotated token again: grant revoked
    assert reused.status_code == 400

    stats = httpx.get(f"{provider.url}/_stats", params={"detail": 1}, timeout=10).json()

    assert stats["refresh_requests"] == 4
    assert stats["refreshes"] == 3
    assert stats["grants"] == 2
    assert stats["grants_revoked"] == 1
    assert stats["refreshes_per_grant"] == {"1": 1, "2": 1}
    assert stats["per_grant"] == {
        grant_key("seeded-refresh-1"): 2,
        grant_key("seeded-refresh-2"): 1,
    }
    assert "seeded-refresh" not in httpx.get(f"{provider.url}/_stats", timeout=10).text


def test_reset_forgets_every_grant(provider):
    assert refresh(provider, "seeded-refresh-1").status_code == 200
    httpx.post(f"{provider.url}/_reset", timeout=10)

    # The same token starts a fresh grant: nothing remembers it was used.
    assert refresh(provider, "seeded-refresh-1").status_code == 200
    stats = httpx.get(f"{provider.url}/_stats", timeout=10).json()
    assert (stats["refreshes"], stats["grants"], stats["grants_revoked"]) == (1, 1, 0)


def test_without_detail_no_grant_is_listed(provider):
    assert refresh(provider, "seeded-refresh-1").status_code == 200
    assert "per_grant" not in httpx.get(f"{provider.url}/_stats", timeout=10).json()
