"""A searchable field's blind index always matches the value stored beside it,
whichever way the value reached the instance (issue 23, items 4 and 5).

Seen: assigning an older sealed string of the same row to ``<field>_sealed``
and saving kept the newer value's index; ``refresh_from_db(fields=[<field>])``
then ``save()`` wrote the stale in-memory index beside the new value, so the
current secret was no longer found. The index is derived from what is written.
"""

import pytest
from django.core.exceptions import FieldError
from django.db import transaction

from integrations.crypto import CryptoError
from tests.dbutil import raw_column, write_raw
from tests.testapp.models import Badge, Customer

pytestmark = pytest.mark.django_db

OLD, NEW = "sk_live_old_0123456789", "sk_live_new_9876543210"


def stored_index(model, pk, name="api_key"):
    return raw_column(model, f"{name}_bidx", pk)


def found(value):
    return list(Customer.objects.filter(api_key=value).values_list("pk", flat=True))


@pytest.fixture
def customer():
    """A row whose value was OLD, then NEW: ``old_sealed`` is OLD sealed for it."""
    customer = Customer.objects.create(name="c", api_key=OLD)
    old_sealed = customer.api_key_sealed
    customer.api_key = NEW
    customer.save()
    customer.old_sealed = old_sealed
    return customer


def test_an_older_sealed_string_assigned_to_the_attname_is_indexed_when_saved(customer):
    """Item 4."""
    customer.api_key_sealed = customer.old_sealed
    customer.save()
    assert stored_index(Customer, customer.pk) == Customer._meta.get_field("api_key").compute_index(
        OLD
    )
    assert found(OLD) == [customer.pk]
    assert found(NEW) == []
    assert Customer.objects.get(pk=customer.pk).api_key == OLD


def test_the_same_through_save_update_fields(customer):
    customer.api_key_sealed = customer.old_sealed
    customer.save(update_fields=["api_key"])
    assert found(OLD) == [customer.pk] and found(NEW) == []


def test_refresh_from_db_of_the_field_then_save_indexes_the_new_value(customer):
    """Item 5: another process changed the value; this instance reloads only it."""
    elsewhere = Customer.objects.get(pk=customer.pk)
    elsewhere.api_key = "sk_live_newest_000111"
    elsewhere.save()
    customer.refresh_from_db(fields=["api_key"])
    customer.name = "renamed"
    customer.save()
    assert found("sk_live_newest_000111") == [customer.pk]
    assert found(NEW) == []
    assert Customer.objects.get(pk=customer.pk).name == "renamed"


def test_a_deferred_value_loaded_later_is_indexed_when_saved(customer):
    """The same race through a deferred load: the index was read with the row,
    the value later."""
    loaded = Customer.objects.defer("api_key").get(pk=customer.pk)
    elsewhere = Customer.objects.get(pk=customer.pk)
    elsewhere.api_key = "sk_live_newest_000222"
    elsewhere.save()
    assert loaded.api_key == "sk_live_newest_000222"  # loads the value now
    loaded.save()
    assert found("sk_live_newest_000222") == [customer.pk]


def test_a_full_refresh_stays_consistent(customer):
    customer.refresh_from_db()
    customer.save()
    assert found(NEW) == [customer.pk]


def test_assigning_null_or_empty_to_the_attname(customer):
    customer.api_key_sealed = None
    customer.save()
    assert stored_index(Customer, customer.pk) is None
    assert found(NEW) == []


def test_a_value_that_cannot_be_opened_is_refused_not_written_with_a_stale_index(customer):
    """Item 4's "recompute or refuse": another row's sealed value does not open
    here (values are bound to their row), so nothing is written."""
    other = Customer.objects.create(name="o", api_key="sk_live_other_555")
    customer.api_key_sealed = other.api_key_sealed
    with pytest.raises(CryptoError), transaction.atomic():
        customer.save()
    assert Customer.objects.get(pk=customer.pk).api_key == NEW
    assert found(NEW) == [customer.pk]


def test_loading_and_saving_unchanged_rows_does_not_open_them(customer, monkeypatch):
    """What was loaded together stays trusted: no decryption to save a row."""
    from integrations.sealed.columns import _SealedColumn

    loaded = Customer.objects.get(pk=customer.pk)
    opened = []
    original = _SealedColumn.open
    monkeypatch.setattr(
        _SealedColumn, "open", lambda self, *a: opened.append(self.attname) or original(self, *a)
    )
    loaded.name = "x"
    loaded.save()
    assert opened == []
    assert found(NEW) == [customer.pk]


def test_bulk_update_of_a_reassigned_sealed_string_is_refused(customer):
    """bulk_update() cannot open values (it never sees the row's binding at
    write time): like QuerySet.update() with a sealed string, it refuses."""
    customer.api_key_sealed = customer.old_sealed
    with pytest.raises(FieldError), transaction.atomic():
        Customer.objects.bulk_update([customer], ["api_key"])
    assert found(NEW) == [customer.pk]


def test_bulk_update_of_loaded_values_still_works(customer):
    rows = list(Customer.objects.filter(pk=customer.pk))
    rows[0].api_key = "sk_live_bulk_777"
    Customer.objects.bulk_update(rows, ["api_key", "name"])
    assert found("sk_live_bulk_777") == [customer.pk]


def test_column_bound_fields_too():
    badge = Badge.objects.create(code="code-old")
    old_sealed = badge.code_sealed
    badge.code = "code-new"
    badge.save()
    badge.code_sealed = old_sealed
    badge.save()
    assert list(Badge.objects.filter(code="code-old").values_list("pk", flat=True)) == [badge.pk]
    assert not Badge.objects.filter(code="code-new").exists()


def test_the_stored_index_of_a_raw_written_value_is_not_trusted_after_refresh(customer):
    """A value written behind the ORM's back, then reloaded: the save indexes it."""
    write_raw(Customer, "api_key", customer.pk, customer.old_sealed)
    customer.refresh_from_db(fields=["api_key"])
    customer.save()
    assert found(OLD) == [customer.pk]
