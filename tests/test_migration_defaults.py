"""Adding a sealed field with a default to a table that has rows (tests/migrationsapp).

Each test migrates the app back to 0001, fills rows, and runs the real
``manage.py migrate`` (and ``sqlmigrate``) on the unmodified 0002 migration.
"""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.crypto import DecryptionError, MalformedValueError, is_sealed
from integrations.sealed.fields import PENDING_DEFAULT
from integrations.sealed.migration_defaults import seal_pending_defaults
from tests.dbutil import raw_column, write_raw
from tests.migrationsapp.models import Counter, Device

pytestmark = pytest.mark.django_db(transaction=True)

APP = "migrationsapp"
ROWS = 1234  # several batches


@pytest.fixture
def rows_before_0002():
    """Rows of Device and Counter as they were at 0001 (two hold a label already)."""
    call_command("migrate", APP, "0001", verbosity=0)
    state = MigrationExecutor(connection).loader.project_state((APP, "0001_initial"))
    OldDevice = state.apps.get_model(APP, "Device")
    OldCounter = state.apps.get_model(APP, "Counter")
    OldDevice.objects.bulk_create(OldDevice(name=f"d{i}") for i in range(ROWS))
    labelled = list(OldDevice.objects.order_by("pk")[:2])
    for device in labelled:
        device.label = f"label of {device.pk}"
        device.save()
    OldCounter.objects.bulk_create(OldCounter(name=f"c{i}") for i in range(3))
    yield [device.pk for device in labelled]
    call_command("migrate", APP, verbosity=0)


def test_migrate_seals_the_default_into_every_existing_row(rows_before_0002):
    call_command("migrate", APP, verbosity=0)

    devices = list(Device.objects.all())
    assert len(devices) == ROWS
    labelled = set(rows_before_0002)
    for device in devices:
        assert device.token == "factory-token"
        assert device.settings == {}
        assert device.note is None
        expected_label = f"label of {device.pk}" if device.pk in labelled else "unlabelled"
        assert device.label == expected_label
    raw_tokens = {raw_column(Device, "token", device.pk) for device in devices[:50]}
    assert len(raw_tokens) == 50 and all(is_sealed(raw) for raw in raw_tokens)
    assert [counter.token for counter in Counter.objects.all()] == ["shared"] * 3


def test_each_row_is_bound_to_its_own_key(rows_before_0002):
    call_command("migrate", APP, verbosity=0)
    first, second = Device.objects.order_by("pk")[:2]
    write_raw(Device, "token", second.pk, raw_column(Device, "token", first.pk))
    write_raw(Device, "settings", second.pk, raw_column(Device, "settings", first.pk))
    moved = Device.objects.get(pk=second.pk)
    with pytest.raises(DecryptionError):
        moved.token
    with pytest.raises(DecryptionError):
        moved.settings


def test_sqlmigrate_prints_the_schema_change_without_a_value(rows_before_0002):
    out = io.StringIO()
    call_command("sqlmigrate", APP, "0002", stdout=out)
    sql = out.getvalue()
    assert "token" in sql and "settings" in sql
    assert "factory-token" not in sql


def test_rows_migrated_without_the_hook_fail_clearly_until_sealed(rows_before_0002):
    executor = MigrationExecutor(connection)  # no pre_migrate signal: no sealing step
    executor.migrate([(APP, "0005_memo_to_binary")])
    device = Device.objects.order_by("pk").last()
    assert raw_column(Device, "token", device.pk) == PENDING_DEFAULT
    with pytest.raises(MalformedValueError, match="migration default was never sealed"):
        Device.objects.get(pk=device.pk).token
    device.name = "saved meanwhile"
    device.save()
    assert raw_column(Device, "token", device.pk) == PENDING_DEFAULT

    # A binary column (0004) holds the placeholder as bytes, and refuses it the same way.
    assert bytes(raw_column(Device, "secret", device.pk)) == PENDING_DEFAULT.encode()
    with pytest.raises(MalformedValueError, match="migration default was never sealed"):
        Device.objects.get(pk=device.pk).secret

    for name in ("token", "settings", "label", "kind", "secret"):
        seal_pending_defaults(Device, Device._meta.get_field(name))
    loaded = Device.objects.get(pk=device.pk)
    assert (loaded.token, loaded.settings, loaded.label) == ("factory-token", {}, "unlabelled")
    assert (loaded.kind, loaded.secret) == ("standard", "factory-secret")


def test_bulk_update_of_a_default_seals_it_for_the_row():
    device = Device.objects.create(name="a", token="custom")
    unsaved = Device(pk=device.pk, name="b")  # token is the default, never assigned
    Device.objects.bulk_update([unsaved], ["token"])
    assert raw_column(Device, "token", device.pk) != PENDING_DEFAULT
    assert Device.objects.get(pk=device.pk).token == "factory-token"


def test_a_searchable_field_added_to_a_table_with_rows_is_indexed(rows_before_0002):
    """0003 adds a searchable field with a default (sealed per row, then indexed)
    and makes an existing sealed column searchable (its values indexed)."""
    call_command("migrate", APP, verbosity=0)
    labelled = rows_before_0002
    assert Device.objects.filter(kind="standard").count() == ROWS
    assert Device.objects.filter(label="unlabelled").count() == ROWS - 2
    assert Device.objects.get(label=f"label of {labelled[1]}").pk == labelled[1]
    assert raw_column(Device, "kind_bidx", labelled[0]).startswith("2:")


def test_the_index_fill_step_is_added_once_at_the_end():
    from django.db.migrations.loader import MigrationLoader

    from integrations.sealed.migration_defaults import FillBlindIndex, insert_sealing_steps

    migration = MigrationLoader(connection).get_migration(APP, "0003_blind_index")
    insert_sealing_steps([(migration, False)])
    insert_sealing_steps([(migration, False)])
    fills = [op for op in migration.operations if isinstance(op, FillBlindIndex)]
    assert [(op.model_name, op.name) for op in fills] == [("device", "kind"), ("device", "label")]
    assert migration.operations[-2:] == fills
