"""The host app's metadata and tags: the service (set_host_metadata,
validate_host_metadata, filter_by_tags), the has_tag lookup on this database,
the model's validators, and the admin's read-only display and tag filter."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from integrations import tokens
from integrations.models import AuditEvent, Integration, Provider

pytestmark = pytest.mark.django_db

ACCESS = "host-metadata-access-token-0123456789"
APP_METADATA = {"identity": {"sub": "s-1"}, "left_out_scopes": ["admin"]}


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def provider():
    return Provider.objects.create(slug="shop", name="Shop", token_url="https://shop.example/t")


def connect(user, provider, account, **kwargs):
    integration, _ = tokens.connect(
        user, provider, {"access_token": ACCESS}, external_account_id=account, **kwargs
    )
    return integration


@pytest.fixture
def integration(alice, provider):
    return connect(alice, provider, "acct-1", metadata=APP_METADATA)


def test_set_replaces_given_parts_and_keeps_the_others(alice, integration):
    result = tokens.set_host_metadata(integration, metadata={"store": 1}, actor=alice)
    assert result is integration
    assert (integration.host_metadata, integration.tags) == ({"store": 1}, [])
    tokens.set_host_metadata(integration, tags=["a", "b", "a"])
    assert integration.tags == ["a", "b"]
    stored = Integration.objects.get(pk=integration.pk)
    assert (stored.host_metadata, stored.tags, stored.metadata) == (
        {"store": 1},
        ["a", "b"],
        APP_METADATA,
    )
    tokens.set_host_metadata(integration)  # nothing given: nothing changes
    assert Integration.objects.get(pk=integration.pk).tags == ["a", "b"]


def test_a_stale_instance_cannot_overwrite_the_apps_metadata_or_tokens(integration):
    """Only the two host columns are written: a concurrent change of the app's
    metadata or a token refresh (made through another instance) survives."""
    other = Integration.objects.get(pk=integration.pk)
    other.metadata = {**APP_METADATA, "url_values": {"subdomain": "acme"}}
    other.save(update_fields=["metadata"])
    tokens.store_token_response(other, {"access_token": "rotated-access-token-abcdef"})
    integration.metadata = {"tampered": True}  # stale and changed in memory
    tokens.set_host_metadata(integration, metadata={"store": 2}, tags=["s2"])
    stored = Integration.objects.get(pk=integration.pk)
    assert stored.metadata == {**APP_METADATA, "url_values": {"subdomain": "acme"}}
    assert stored.access_token == "rotated-access-token-abcdef"
    assert (stored.host_metadata, stored.tags) == ({"store": 2}, ["s2"])


def test_invalid_values_are_refused_by_field_before_anything_is_written(integration):
    with pytest.raises(ValidationError) as caught:
        tokens.set_host_metadata(integration, metadata=[1], tags=["Bad"])
    assert set(caught.value.message_dict) == {"metadata", "tags"}
    with pytest.raises(ValidationError) as caught:
        tokens.set_host_metadata(integration, metadata={"ok": 1}, tags="not-a-list")
    assert caught.value.message_dict == {"tags": ["Must be a list of tags."]}
    stored = Integration.objects.get(pk=integration.pk)
    assert (stored.host_metadata, stored.tags) == ({}, [])
    assert not AuditEvent.objects.filter(action="update", target_id=str(integration.pk)).exists()


def test_validate_host_metadata_cleans_for_later(integration):
    assert tokens.validate_host_metadata(metadata={"a": 1}, tags=["x", "x", "y"]) == (
        {"a": 1},
        ["x", "y"],
    )
    assert tokens.validate_host_metadata() == (None, None)
    with pytest.raises(ValidationError) as caught:
        tokens.validate_host_metadata(metadata={"a": "x" * 20_000})
    assert caught.value.message_dict == {"metadata": ["At most 16384 bytes as JSON."]}


def test_the_audit_event_names_the_actor_and_the_parts_never_the_values(alice, integration):
    tokens.set_host_metadata(
        integration, metadata={"store": "canary-77"}, tags=["t-77"], actor=alice, ip_address="::1"
    )
    event = AuditEvent.objects.get(action="update", target_id=str(integration.pk))
    assert (event.actor, event.detail, str(event.ip_address)) == (
        alice,
        "changed: metadata, tags",
        "::1",
    )
    assert "77" not in f"{event.detail}{event.purpose}{event.target_label}"


def test_the_model_validators_apply_to_full_clean(integration):
    """The admin and model forms validate through full_clean()."""
    integration.tags = ["Upper"]
    integration.host_metadata = {"k": 1}
    with pytest.raises(ValidationError) as caught:
        integration.full_clean(exclude=["access_token", "refresh_token", "token_secret"])
    assert set(caught.value.message_dict) == {"tags"}
    integration.tags = ["dup", "dup"]
    with pytest.raises(ValidationError) as caught:
        integration.full_clean(exclude=["access_token", "refresh_token", "token_secret"])
    assert caught.value.message_dict == {"tags": ["A tag is listed twice."]}
    integration.tags = ["ok"]
    integration.host_metadata = [1]
    with pytest.raises(ValidationError) as caught:
        integration.full_clean(exclude=["access_token", "refresh_token", "token_secret"])
    assert caught.value.message_dict == {"host_metadata": ["Must be a JSON object."]}


@pytest.fixture
def tagged(alice, provider):
    rows = {
        "ab": (["a", "b"], {}),
        "a": (["a"], {}),
        "b-only": (["b", "ab"], {}),
        "numbers": ([], {"tags": ["a"]}),
        "none": ([], {}),
    }
    made = {}
    for name, (tags, metadata) in rows.items():
        made[name] = connect(alice, provider, name)
        tokens.set_host_metadata(made[name], tags=tags, metadata=metadata)
    return made


def names(queryset, tagged):
    by_pk = {row.pk: name for name, row in tagged.items()}
    return {by_pk[pk] for pk in queryset.values_list("pk", flat=True)}


def test_has_tag_matches_whole_tags_on_this_database(tagged):
    assert names(Integration.objects.filter(tags__has_tag="a"), tagged) == {"ab", "a"}
    assert names(Integration.objects.filter(tags__has_tag="ab"), tagged) == {"b-only"}
    assert names(Integration.objects.exclude(tags__has_tag="a"), tagged) == {
        "b-only",
        "numbers",
        "none",
    }
    # Stored by other means: a number is not the tag "42", and a quote or a
    # LIKE wildcard in the tag is compared literally.
    Integration.objects.filter(pk=tagged["none"].pk).update(tags=[42, "x%", 'q"'])
    assert not Integration.objects.filter(tags__has_tag="42").exists()
    assert names(Integration.objects.filter(tags__has_tag="x%"), tagged) == {"none"}
    assert not Integration.objects.filter(tags__has_tag="x").exists()
    assert names(Integration.objects.filter(tags__has_tag='q"'), tagged) == {"none"}


def test_filter_by_tags_wants_every_tag(tagged):
    every = Integration.objects.all()
    assert names(tokens.filter_by_tags(every, ["a", "b"]), tagged) == {"ab"}
    assert names(tokens.filter_by_tags(every, ["b"]), tagged) == {"ab", "b-only"}
    assert names(tokens.filter_by_tags(every, []), tagged) == set(tagged)
    with pytest.raises(ValidationError):
        tokens.filter_by_tags(every, ["a", "Not a tag"])
    with pytest.raises(ValidationError):
        tokens.filter_by_tags(every, [f"t{i}" for i in range(21)])


# -- the admin --------------------------------------------------------------------


@pytest.fixture
def staff_client(django_user_model):
    client = Client()
    client.force_login(
        django_user_model.objects.create_superuser("root", "root@example.test", "pw-root-123")
    )
    return client


def test_the_admin_shows_tags_and_metadata_read_only(staff_client, integration):
    tokens.set_host_metadata(integration, metadata={"store": "shop-9"}, tags=["store-9", "eu"])
    html = staff_client.get("/admin/integrations/integration/").content.decode()
    assert '<td class="field-tag_list">store-9, eu</td>' in html
    response = staff_client.get(f"/admin/integrations/integration/{integration.pk}/change/")
    page = response.content.decode()
    assert "Host application" in page and "shop-9" in page
    form = response.context["adminform"].form
    assert "tags" not in form.fields and "host_metadata" not in form.fields
    # Saving the admin form leaves the host's data alone.
    response = staff_client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        {
            "label": "Relabelled",
            "status": "active",
            "metadata": '{"identity": {"sub": "s-1"}}',
            "tags": '["forged"]',
            "host_metadata": "{}",
        },
    )
    assert response.status_code == 302
    stored = Integration.objects.get(pk=integration.pk)
    assert (stored.label, stored.tags) == ("Relabelled", ["store-9", "eu"])
    assert stored.host_metadata == {"store": "shop-9"}


def test_the_admin_filters_by_tag(staff_client, tagged):
    response = staff_client.get("/admin/integrations/integration/")
    filters = response.content.decode()
    filters = filters[filters.index('id="changelist-filter"') :]
    assert "By tag" in filters and "?tag=ab" in filters
    response = staff_client.get("/admin/integrations/integration/?tag=a")
    assert names(
        Integration.objects.filter(pk__in=[i.pk for i in response.context["cl"].result_list]),
        tagged,
    ) == {
        "ab",
        "a",
    }
    # Not a tag: the admin's "invalid filter" redirect, not a 500.
    response = staff_client.get("/admin/integrations/integration/?tag=Not%20a%20tag")
    assert response.status_code == 302 and response.url.endswith("?e=1")
