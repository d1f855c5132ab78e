"""API tokens (django-rest-knox): stored as digests, shown once, expiring,
revocable; never readable from the database, dumpdata, the admin or a log."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.conftest import assert_not_logged

pytestmark = pytest.mark.django_db

LIST = "/api/credentials/"


def create_token(username, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", username, *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def client_with(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_command_prints_a_working_token_once_and_stores_only_a_digest(alice):
    token, note = create_token("alice")
    assert client_with(token).get(LIST).status_code == 200
    assert token not in note and "will not be shown again" in note
    row = AuthToken.objects.get(user=alice)
    stored = " ".join(str(value) for value in AuthToken.objects.values_list().get())
    assert token not in stored and row.digest != token
    # Only a 15-character prefix is kept, to find the row: 49 hex digits stay secret.
    assert len(token) == 64 and row.token_key == token[:15]
    # Expires after the configured lifetime (API_TOKEN_TTL_DAYS, 30 by default).
    assert abs(row.expiry - (timezone.now() + settings.REST_KNOX["TOKEN_TTL"])) < timedelta(
        minutes=1
    )


def test_the_drf_clear_text_token_app_is_gone():
    assert "rest_framework.authtoken" not in settings.INSTALLED_APPS


def test_dumpdata_prints_no_usable_token(alice):
    token, _ = create_token("alice")
    out = io.StringIO()
    call_command("dumpdata", "knox", stdout=out)
    dumped = out.getvalue()
    assert '"model": "knox.authtoken"' in dumped
    assert token not in dumped


def test_the_admin_lists_no_usable_token(alice, admin_client):
    token, _ = create_token("alice")
    changelist = admin_client.get("/admin/knox/authtoken/")
    assert changelist.status_code == 200
    assert token not in changelist.content.decode()
    row = AuthToken.objects.get(user=alice)
    change = admin_client.get(f"/admin/knox/authtoken/{row.pk}/change/")
    assert token not in change.content.decode()


def test_expiry_days_and_no_expiry(alice):
    token, note = create_token("alice", "--expiry-days", "2")
    row = AuthToken.objects.get(user=alice)
    assert abs(row.expiry - (timezone.now() + timedelta(days=2))) < timedelta(minutes=1)
    assert "valid until" in note
    AuthToken.objects.all().delete()
    create_token("alice", "--no-expiry")
    assert AuthToken.objects.get(user=alice).expiry is None
    for bad in (["--expiry-days", "0"], ["--expiry-days", "-3"]):
        with pytest.raises(CommandError):
            create_token("alice", *bad)
    with pytest.raises(CommandError, match="No such user"):
        create_token("nobody")


def test_an_expired_token_is_401(alice):
    token, _ = create_token("alice", "--expiry-days", "1")
    AuthToken.objects.filter(user=alice).update(expiry=timezone.now() - timedelta(seconds=1))
    response = client_with(token).get(LIST)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_an_inactive_user_gets_no_token_and_their_tokens_stop_working(alice):
    token, _ = create_token("alice")
    alice.is_active = False
    alice.save()
    assert client_with(token).get(LIST).status_code == 401
    with pytest.raises(CommandError, match="not active"):
        create_token("alice")


def test_logout_revokes_the_token_used_and_logoutall_every_token(alice, bob):
    first, _ = create_token("alice")
    second, _ = create_token("alice")
    bobs, _ = create_token("bob")
    assert client_with(first).post("/api/auth/logout/").status_code == 204
    assert client_with(first).get(LIST).status_code == 401
    assert client_with(second).get(LIST).status_code == 200
    third, _ = create_token("alice")
    assert client_with(second).post("/api/auth/logoutall/").status_code == 204
    for token in (second, third):
        assert client_with(token).get(LIST).status_code == 401
    assert client_with(bobs).get(LIST).status_code == 200


def test_logout_needs_a_token(alice):
    session = APIClient()
    session.force_login(alice)
    response = session.post("/api/auth/logout/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_revoke_command_revokes_every_token_of_the_user(alice, bob):
    tokens = [create_token("alice")[0] for _ in range(2)]
    bobs, _ = create_token("bob")
    out = io.StringIO()
    call_command("revoke_api_tokens", "alice", stdout=out)
    assert "Revoked 2 API tokens of alice." in out.getvalue()
    for token in tokens:
        assert client_with(token).get(LIST).status_code == 401
    assert client_with(bobs).get(LIST).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Token \xff\xfe\xfd-not-utf8",
        "Token abc\x00def",
        "Token " + "é" * 80,
        "Token " + "a" * 10_000,
        "token",
        "Token a b",
    ],
)
def test_hostile_authorization_headers_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(LIST)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_refused_token_is_never_logged(alice, all_logs, canary):
    token, _ = create_token("alice")
    for sent in (canary, token[:15] + canary, token + canary):
        assert client_with(sent).get(LIST).status_code == 401
    assert_not_logged(all_logs, canary)
