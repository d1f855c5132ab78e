"""/api/audit-events/: read only; a user's own events; everyone's only for staff
holding integrations.view_auditevent (as the admin asks)."""

import pytest
from django.contrib.auth.models import Permission

from integrations import credentials
from integrations.models import AuditEvent

pytestmark = pytest.mark.django_db

LIST = "/api/audit-events/"


def ids(response):
    return {item["id"] for item in response.json()["results"]}


def test_users_see_their_events_and_those_about_their_things(
    alice, bob, staff, alice_api, bob_api, staff_api, integration, credential
):
    # Staff changing alice's credential (as in the admin) is about alice's credential.
    credentials.update_credential(alice, credential, name="Renamed", actor=staff)
    bobs = credentials.create_credential(
        bob, name="Bob's", credential_type="bearer", data={"token": "t"}
    )
    alice_events = set(
        map(
            str,
            AuditEvent.objects.filter(
                target_id__in=[str(integration.pk), str(credential.pk)]
            ).values_list("pk", flat=True),
        )
    )
    assert len(alice_events) == 3
    assert ids(alice_api.get(LIST)) == alice_events
    bob_events = ids(bob_api.get(LIST))
    assert bob_events == {str(AuditEvent.objects.get(target_id=str(bobs.pk)).pk)}
    # Staff without the audit permission see only their own part, like anyone.
    assert ids(staff_api.get(LIST)) == set(
        map(str, AuditEvent.objects.filter(actor=staff).values_list("pk", flat=True))
    )


@pytest.fixture
def with_audit_permission(django_user_model):
    def grant(user):
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="integrations", codename="view_auditevent"
            )
        )
        return django_user_model.objects.get(pk=user.pk)  # drop the permission cache

    return grant


def test_the_whole_log_takes_staff_with_the_view_permission(
    alice, bob, staff, make_client, credential, with_audit_permission
):
    bobs = credentials.create_credential(
        bob, name="Bob's", credential_type="bearer", data={"token": "t"}
    )
    alices_event = AuditEvent.objects.get(target_id=str(credential.pk))
    everyone = set(map(str, AuditEvent.objects.values_list("pk", flat=True)))
    staff_api = make_client(staff)
    assert not ids(staff_api.get(LIST)) & everyone
    assert staff_api.get(f"{LIST}{alices_event.pk}/").status_code == 404

    auditor = make_client(with_audit_permission(staff))
    # (Its API token's creation is an event too.)
    everyone = set(map(str, AuditEvent.objects.values_list("pk", flat=True)))
    assert ids(auditor.get(LIST)) == everyone
    assert auditor.get(f"{LIST}{alices_event.pk}/").status_code == 200

    # The permission without staff status is not enough (the admin asks for both).
    not_staff = make_client(with_audit_permission(bob))
    assert ids(not_staff.get(LIST)) == {str(AuditEvent.objects.get(target_id=str(bobs.pk)).pk)}
    assert not_staff.get(f"{LIST}{alices_event.pk}/").status_code == 404


def test_retrieve_own_404_for_others(alice_api, bob_api, credential):
    event = AuditEvent.objects.get(target_id=str(credential.pk))
    response = alice_api.get(f"{LIST}{event.pk}/")
    assert response.status_code == 200
    assert response.json()["action"] == "create"
    assert response.json()["actor_label"] == "alice"
    assert bob_api.get(f"{LIST}{event.pk}/").status_code == 404


def test_read_only(alice_api, staff_api, credential):
    event = AuditEvent.objects.get(target_id=str(credential.pk))
    for api in (alice_api, staff_api):
        assert api.post(LIST, {"action": "create"}, format="json").status_code in (403, 405)
        for method in ("put", "patch", "delete"):
            response = getattr(api, method)(f"{LIST}{event.pk}/", {"detail": "x"}, format="json")
            assert response.status_code in (403, 405)
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


def test_filters(alice, alice_api, integration, credential):
    credentials.read_secret(alice, credential, purpose="send mail")
    response = alice_api.get(LIST, {"action": "use"})
    assert [e["purpose"] for e in response.json()["results"]] == ["send mail"]
    response = alice_api.get(LIST, {"target_type": "integrations.integration"})
    assert {e["action"] for e in response.json()["results"]} == {"connect"}
    response = alice_api.get(LIST, {"target_id": str(credential.pk), "ordering": "created_at"})
    assert [e["action"] for e in response.json()["results"]] == ["create", "use"]
    assert alice_api.get(LIST, {"action": "nope"}).status_code == 400
    assert alice_api.get(LIST, {"created_after": "not a date"}).status_code == 400
    assert alice_api.get(LIST, {"created_after": "2000-01-01T00:00:00Z"}).json()["count"] == 3
