import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from integrations import credentials
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Credential, Provider
from integrations.sealed.redaction import Secret

pytestmark = pytest.mark.django_db

EXAMPLES = {
    "api_key": {"api_key": "sk_live_0123456789abcdefghij"},
    "basic": {"username": "svc", "password": "correct horse battery staple"},
    "bearer": {"token": "bearer-token-value-0123456789"},
    "custom": {"account": "A1", "secret": "s3cr3t", "nested": {"n": 1, "ok": True}},
}


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob")


def events(action=None):
    qs = AuditEvent.objects.order_by("created_at")
    return list(qs.filter(action=action) if action else qs)


@pytest.mark.parametrize("credential_type", sorted(EXAMPLES))
def test_every_type_round_trips_sealed(alice, credential_type):
    data = EXAMPLES[credential_type]
    credential = credentials.create_credential(
        alice,
        name=credential_type,
        credential_type=credential_type,
        data=data,
        ip_address="10.0.0.1",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data FROM integrations_credential WHERE name = %s", [credential_type]
        )
        (stored,) = cursor.fetchone()
    assert is_sealed(stored)
    secret = credentials.read_secret(alice, credential.pk, purpose="call the API")
    assert isinstance(secret, Secret)
    assert secret.reveal() == data
    (created,) = events("create")
    assert (created.actor, created.target_id, created.ip_address) == (
        alice,
        str(credential.pk),
        "10.0.0.1",
    )
    (used,) = events("use")
    assert used.purpose == "call the API"


def test_hint_only_for_long_keys(alice):
    long_key = credentials.create_credential(
        alice, name="a", credential_type="api_key", data={"api_key": "x" * 16 + "WXYZ"}
    )
    short_key = credentials.create_credential(
        alice, name="b", credential_type="api_key", data={"api_key": "short-key"}
    )
    basic = credentials.create_credential(
        alice, name="c", credential_type="basic", data=EXAMPLES["basic"]
    )
    assert (long_key.hint, short_key.hint, basic.hint) == ("WXYZ", "", "")


@pytest.mark.parametrize(
    ("credential_type", "data", "fragment"),
    [
        ("api_key", {}, "non-empty JSON object"),
        ("api_key", {"key": "canary-typo"}, "api_key: this key is required"),
        ("basic", {"username": "u"}, "password: this key is required"),
        ("bearer", {"token": 123}, "token: this key is required"),
        ("custom", ["canary-list"], "non-empty JSON object"),
        ("nope", {"a": "b"}, "unknown credential type"),
    ],
)
def test_invalid_data_names_keys_never_values(alice, credential_type, data, fragment):
    with pytest.raises(ValidationError) as info:
        credentials.create_credential(alice, name="x", credential_type=credential_type, data=data)
    assert fragment in str(info.value)
    assert "canary" not in str(info.value)
    assert not Credential.objects.exists()


def test_update_keeps_the_secret_unless_given(alice):
    credential = credentials.create_credential(
        alice, name="k", credential_type="bearer", data=EXAMPLES["bearer"]
    )
    credentials.update_credential(alice, credential, name="renamed")
    assert credentials.read_secret(alice, credential, purpose="t").reveal() == EXAMPLES["bearer"]
    credentials.update_credential(alice, credential, data={"token": "new-bearer-token-value-123"})
    refreshed = Credential.objects.get(pk=credential.pk)
    assert refreshed.name == "renamed"
    assert credentials.read_secret(alice, credential, purpose="t").reveal() == {
        "token": "new-bearer-token-value-123"
    }
    assert refreshed.hint == "-123"
    assert [e.detail for e in events("update")] == ["", "secret replaced"]


def test_delete_is_audited(alice):
    credential = credentials.create_credential(
        alice, name="k", credential_type="bearer", data=EXAMPLES["bearer"]
    )
    credentials.delete_credential(alice, credential)
    assert not Credential.objects.exists()
    (deleted,) = events("delete")
    assert deleted.target_id == str(credential.pk)
    assert deleted.target_label == "k"


class TestOwnership:
    def test_another_users_credential_is_never_returned(self, alice, bob):
        credential = credentials.create_credential(
            alice, name="k", credential_type="api_key", data=EXAMPLES["api_key"]
        )
        assert list(credentials.list_credentials(bob)) == []
        with pytest.raises(Credential.DoesNotExist):
            credentials.get_credential(bob, credential.pk)
        with pytest.raises(Credential.DoesNotExist):
            credentials.read_secret(bob, credential.pk, purpose="steal")
        with pytest.raises(Credential.DoesNotExist):
            credentials.update_credential(bob, credential, data={"api_key": "overwritten-by-bob"})
        with pytest.raises(Credential.DoesNotExist):
            credentials.delete_credential(bob, credential)
        assert (
            credentials.read_secret(alice, credential, purpose="t").reveal() == EXAMPLES["api_key"]
        )
        (denied,) = events("reveal_denied")
        assert (denied.actor, denied.outcome, denied.purpose) == (bob, "denied", "steal")

    def test_malformed_ids_are_denied_like_missing_ones(self, alice):
        for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            with pytest.raises(Credential.DoesNotExist):
                credentials.read_secret(alice, bad, purpose="probe")
        assert len(events("reveal_denied")) == 2

    def test_reading_needs_a_purpose(self, alice):
        credential = credentials.create_credential(
            alice, name="k", credential_type="api_key", data=EXAMPLES["api_key"]
        )
        with pytest.raises(ValueError, match="purpose"):
            credentials.read_secret(alice, credential, purpose="")


def test_provider_client_secret(alice, canary):
    provider = Provider.objects.create(slug="p", name="P")
    credentials.set_client_secret(provider, canary, actor=alice)
    assert is_sealed(Provider.objects.get(pk=provider.pk).client_secret_sealed)
    assert credentials.read_client_secret(provider, purpose="token exchange").reveal() == canary
    credentials.set_client_secret(provider, None, actor=alice)
    assert credentials.read_client_secret(provider, purpose="token exchange") is None
    assert [e.detail for e in events("update")] == [
        "client secret replaced",
        "client secret cleared",
    ]


def test_no_secret_in_audit_rows_or_logs(alice, canary, all_logs):
    credential = credentials.create_credential(
        alice, name="k", credential_type="custom", data={"value": canary}
    )
    secret = credentials.read_secret(alice, credential, purpose="t")
    credentials.update_credential(alice, credential, data={"value": canary + "2"})
    credentials.delete_credential(alice, credential)
    assert canary not in repr(secret) and canary not in str(secret) and canary not in f"{secret}"
    for event in AuditEvent.objects.all():
        assert canary not in " ".join(str(v) for v in vars(event).values())
    assert canary not in all_logs.text


def _failing_service_call(user):
    """Return exc_info of a service failure; the canary is never a local here."""
    from tests import conftest

    try:
        credentials.create_credential(
            user, name="n" * 500, credential_type="api_key", data={"api_key": conftest.CANARY}
        )
    except ValidationError:
        import sys

        return sys.exc_info()
    raise AssertionError("expected a ValidationError")


def test_error_reports_hide_service_locals(alice, canary, rf):
    from django.views.debug import ExceptionReporter

    exc_info = _failing_service_call(alice)
    reporter = ExceptionReporter(rf.get("/"), *exc_info, is_email=True)
    text = reporter.get_traceback_text()
    html = reporter.get_traceback_html()
    assert "create_credential" in text  # the frames are there...
    assert canary not in text and canary not in html  # ...their values are not


def test_staff_acting_for_an_owner_is_the_audited_actor(alice, django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    credential = credentials.create_credential(
        alice, name="k", credential_type="bearer", data=EXAMPLES["bearer"], actor=staff
    )
    credentials.update_credential(alice, credential, data={"token": "x" * 24}, actor=staff)
    credentials.delete_credential(alice, credential, actor=staff)
    assert [(e.action, e.actor, e.detail) for e in events()] == [
        ("create", staff, "on behalf of alice"),
        ("update", staff, "secret replaced; on behalf of alice"),
        ("delete", staff, "on behalf of alice"),
    ]
