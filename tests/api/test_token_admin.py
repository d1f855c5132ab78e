"""The API tokens' admin replaces knox's: no minting, listing and revoking only,
each revocation audited; every creation and revocation of a token is audited,
whichever way it happens (issue 23, item 9)."""

import io

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.management import call_command
from knox.models import AuthToken

from integrations.api import api_tokens
from integrations.api.token_admin import APITokenAdmin
from integrations.models import AuditEvent
from tests.api.test_api_tokens import LIST, client_with, create_token

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/knox/authtoken/"
ADD = "/admin/knox/authtoken/add/"
Action = AuditEvent.Action


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw")


@pytest.fixture
def token_staff(client, django_user_model):
    """Staff with every knox permission (add included) and nothing else."""
    user = django_user_model.objects.create_user("tokens", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="knox"))
    client.force_login(user)
    return client


def test_ours_is_the_registered_admin():
    assert isinstance(admin.site.get_model_admin(AuthToken), APITokenAdmin)


def test_staff_with_knox_add_permission_cannot_mint_a_token(token_staff, root):
    """The finding: knox's add form minted a never-expiring token for a superuser."""
    assert token_staff.get(ADD).status_code == 403
    response = token_staff.post(ADD, {"user": str(root.pk), "expiry_0": "", "expiry_1": ""})
    assert response.status_code == 403
    assert not AuthToken.objects.exists()
    assert "Add" not in token_staff.get(CHANGELIST).content.decode().split("<h1>")[-1][:300]


def test_a_token_cannot_be_changed(token_staff, alice):
    create_token("alice")
    row = AuthToken.objects.get()
    response = token_staff.post(
        f"/admin/knox/authtoken/{row.pk}/change/",
        {"user": str(alice.pk), "expiry_0": "", "expiry_1": ""},
    )
    assert response.status_code == 403
    assert AuthToken.objects.get().expiry == row.expiry


def test_the_list_shows_the_digest_start_never_the_token(token_staff, alice):
    token, _ = create_token("alice")
    page = token_staff.get(CHANGELIST).content.decode()
    row = AuthToken.objects.get()
    assert row.digest[: api_tokens.DIGEST_SHOWN] in page
    assert token not in page
    assert row.token_key not in page  # the start of the token itself


def test_revoking_in_the_admin_is_audited(token_staff, alice):
    token, _ = create_token("alice")
    row = AuthToken.objects.get()
    response = token_staff.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": row.pk, "post": "yes"}
    )
    assert response.status_code == 302
    assert client_with(token).get(LIST).status_code == 401
    event = AuditEvent.objects.get(action=Action.API_TOKEN_REVOKED)
    assert event.actor_label == "tokens"
    assert event.target_label == "alice"
    assert event.purpose == "admin"
    assert row.digest[: api_tokens.DIGEST_SHOWN] in event.detail
    assert token not in event.detail


def test_the_delete_page_revokes_and_audits(token_staff, alice):
    create_token("alice")
    row = AuthToken.objects.get()
    response = token_staff.post(f"/admin/knox/authtoken/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AuthToken.objects.exists()
    assert AuditEvent.objects.get(action=Action.API_TOKEN_REVOKED).actor_label == "tokens"


def test_the_commands_audit_creation_and_revocation(alice):
    token, _ = create_token("alice", "--actor", "ops:jane")
    created = AuditEvent.objects.get(action=Action.API_TOKEN_CREATED)
    assert (created.actor_label, created.target_label) == ("ops:jane", "alice")
    assert created.purpose == "create_api_token"
    assert "expires" in created.detail
    assert token not in created.detail
    create_token("alice", "--no-expiry")
    assert AuditEvent.objects.filter(
        action=Action.API_TOKEN_CREATED, detail__endswith="no expiry"
    ).exists()
    assert AuditEvent.objects.filter(actor_label__startswith="os:").exists()
    call_command("revoke_api_tokens", "alice", stdout=io.StringIO())
    revoked = AuditEvent.objects.get(action=Action.API_TOKEN_REVOKED)
    assert revoked.actor_label.startswith("os:")
    assert revoked.detail == "all tokens: 2 revoked"


def test_logout_and_logoutall_are_audited(alice):
    first, _ = create_token("alice")
    second, _ = create_token("alice")
    assert client_with(first).post("/api/auth/logout/").status_code == 204
    logout = AuditEvent.objects.get(action=Action.API_TOKEN_REVOKED)
    assert (logout.actor, logout.purpose) == (alice, "logout")
    assert client_with(second).post("/api/auth/logoutall/").status_code == 204
    logoutall = AuditEvent.objects.get(action=Action.API_TOKEN_REVOKED, purpose="logoutall")
    assert logoutall.detail == "all tokens: 1 revoked"
    assert not AuthToken.objects.exists()
