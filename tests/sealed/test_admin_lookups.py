"""No admin changelist is filterable by a secret (issue 23, item 3).

Django's ``ModelAdmin.lookup_allowed`` lets any local field lookup through the
query string: ``?api_key=<guess>`` on a searchable field would tell a staff user
with view permission which rows hold the guessed secret (the blind index makes
the comparison work), unscoped and unaudited. Sealed and index columns are
refused like every lookup Django disallows: a 400.
"""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from integrations import credentials
from integrations.models import AuditEvent, Credential, Integration, Provider
from integrations.sealed.admin import lookup_reaches_sealed_column
from tests.testapp.models import Badge, Customer, Webhook

pytestmark = pytest.mark.django_db

GUESS = "sk_live_guess_0123456789"


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def customers():
    holder = Customer.objects.create(name="holder", api_key=GUESS, email="a@example.com")
    Customer.objects.create(name="other", api_key="sk_live_other_987654321")
    Badge.objects.create(owner=holder, code="badge-code")
    return holder


@pytest.fixture
def viewer(client, django_user_model):
    """Staff with nothing but view permissions (the attacker of the finding)."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "query",
    [
        {"api_key": GUESS},
        {"api_key__in": f"{GUESS},x,y"},
        {"api_key__exact": GUESS},
        {"api_key_sealed": GUESS},
        {"api_key_bidx": "1:abc"},
        {"api_key_bidx__in": "1:abc,1:def"},
        {"email": "A@example.com"},
        {"note__isnull": "False", "note_sealed__startswith": "$si1$"},
    ],
)
def test_a_searchable_field_cannot_be_filtered_from_the_query_string(viewer, customers, query):
    response = viewer.get(changelist(Customer), query)
    assert response.status_code == 400
    assert GUESS not in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"owner__api_key": GUESS},
        {"owner__api_key__in": f"{GUESS},x"},
        {"owner__api_key_bidx": "1:abc"},
        {"owner__api_key_sealed__startswith": "$si1$"},
    ],
)
def test_a_relation_to_a_sealed_field_is_refused_even_where_django_allows_it(
    viewer, customers, query
):
    # BadgeAdmin lists an EmptyFieldListFilter on owner__api_key, which makes
    # Django allow every lookup on that path.
    response = viewer.get(changelist(Badge), query)
    assert response.status_code == 400


def test_whether_a_value_is_set_stays_filterable(viewer, customers):
    """``__isnull`` and the EmptyFieldListFilter show what the status column shows."""
    response = viewer.get(changelist(Customer), {"api_key__isempty": "0"})
    assert response.status_code == 200
    response = viewer.get(changelist(Customer), {"note__isnull": "True"})
    assert response.status_code == 200
    assert viewer.get(changelist(Badge), {"owner__api_key__isempty": "0"}).status_code == 200
    assert viewer.get(changelist(Customer), {"tenant": "a"}).status_code == 200


def test_a_non_searchable_sealed_field_is_refused_too(viewer):
    Webhook.objects.create(url="https://example.com/hook", signing_secret=GUESS)
    for query in ({"signing_secret": GUESS}, {"signing_secret_sealed__startswith": "$si1$"}):
        assert viewer.get(changelist(Webhook), query).status_code == 400


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice")


@pytest.mark.parametrize(
    ("model", "query"),
    [
        (Credential, {"lookup_secret": GUESS}),
        (Credential, {"lookup_secret__in": f"{GUESS},x"}),
        (Credential, {"lookup_secret_bidx": "1:abc"}),
        (Credential, {"data_sealed__startswith": "$si1$"}),
        (Credential, {"owner__credentials__lookup_secret": GUESS}),
        (Provider, {"client_secret_sealed__startswith": "$si1$"}),
        (Integration, {"access_token_sealed__startswith": "$si1$"}),
        (Integration, {"provider__client_secret_sealed__startswith": "$si1$"}),
        (AuditEvent, {"actor__credentials__lookup_secret": GUESS}),
    ],
)
def test_our_admins_refuse_them(admin_client, alice, model, query):
    credentials.create_credential(
        alice, name="stripe", credential_type="api_key", data={"api_key": GUESS}
    )
    response = admin_client.get(changelist(model), query)
    assert response.status_code == 400
    assert GUESS not in response.content.decode()


def test_our_admins_still_filter_plain_columns(admin_client, alice):
    credentials.create_credential(
        alice, name="stripe", credential_type="api_key", data={"api_key": GUESS}
    )
    response = admin_client.get(changelist(Credential), {"credential_type": "api_key"})
    assert response.status_code == 200
    assert "stripe" in response.content.decode()


@pytest.mark.parametrize(
    ("model", "lookup", "reaches"),
    [
        (Customer, "api_key", True),
        (Customer, "api_key__in", True),
        (Customer, "api_key_bidx__startswith", True),
        (Customer, "api_key__isnull", False),
        (Customer, "api_key__isnull__x", True),
        (Customer, "name__icontains", False),
        (Customer, "badges__code", True),
        (Customer, "badges__id", False),
        (Customer, "nonexistent", False),
        (Badge, "owner__email__in", True),
        (Badge, "owner__name", False),
        (Integration, "owner__credentials__data", True),
        (Integration, "owner__credentials__data__isnull", False),
        (Integration, "provider__category", False),
    ],
)
def test_lookup_reaches_sealed_column(model, lookup, reaches):
    assert lookup_reaches_sealed_column(model, lookup) is reaches
