"""Binary sealed columns added by migrations to a table with rows, and a text
column moved to binary by a data migration (tests/migrationsapp 0004, 0005)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.crypto import Keyring, generate_key
from integrations.sealed.to_binary import CopyToBinaryError, copy_column
from tests.dbutil import raw_column, write_raw
from tests.migrationsapp.models import Device

pytestmark = pytest.mark.django_db(transaction=True)

APP = "migrationsapp"
ROWS = 1234  # several batches of the copy


def stored(model, column, pk):
    value = raw_column(model, column, pk)
    return bytes(value) if isinstance(value, memoryview) else value


def state_apps(name):
    return MigrationExecutor(connection).loader.project_state((APP, name)).apps


@pytest.fixture
def rows_at_0004():
    """Rows as they were at 0004: memo sealed as text (and NULL, and empty)."""
    call_command("migrate", APP, "0004", verbosity=0)
    OldDevice = state_apps("0004_binary_and_memo").get_model(APP, "Device")
    OldDevice.objects.bulk_create(OldDevice(name=f"d{i}") for i in range(ROWS))
    devices = list(OldDevice.objects.order_by("pk"))
    for i, device in enumerate(devices[:50]):
        device.memo = f"memo {i} of {device.pk}"
        device.save()
    devices[50].memo = ""
    devices[50].save()
    yield OldDevice, devices
    call_command("migrate", APP, verbosity=0)


def test_a_binary_field_with_a_default_added_to_rows_is_sealed_per_row(rows_at_0004):
    _OldDevice, devices = rows_at_0004
    raw = stored(Device, "secret", devices[0].pk)
    assert isinstance(raw, bytes) and raw.startswith(b"$si1$2$")
    assert raw != stored(Device, "secret", devices[1].pk)  # bound to each row
    call_command("migrate", APP, verbosity=0)
    assert Device.objects.get(pk=devices[7].pk).secret == "factory-secret"


def test_text_column_moved_to_binary_loses_nothing(rows_at_0004):
    _OldDevice, devices = rows_at_0004
    text_before = stored(Device, "memo", devices[0].pk)
    assert isinstance(text_before, str) and text_before.startswith("$si1$2$")
    call_command("migrate", APP, verbosity=0)
    moved = {d.pk: d.memo for d in Device.objects.all()}
    assert len(moved) == ROWS
    for i, device in enumerate(devices[:50]):
        assert moved[device.pk] == f"memo {i} of {device.pk}"
        raw = stored(Device, "memo", device.pk)
        assert isinstance(raw, bytes) and raw.startswith(b"$si1$2$")
    assert moved[devices[50].pk] == ""
    assert stored(Device, "memo", devices[50].pk) == b""
    assert all(moved[d.pk] is None for d in devices[51:])
    # And back again (the reverse migration copies binary into text).
    call_command("migrate", APP, "0004", verbosity=0)
    OldDevice = state_apps("0004_binary_and_memo").get_model(APP, "Device")
    back = OldDevice.objects.get(pk=devices[3].pk)
    assert back.memo == f"memo 3 of {devices[3].pk}"
    assert stored(Device, "memo", devices[3].pk).startswith("$si1$2$")


def test_an_unreadable_value_stops_the_move_naming_the_row(rows_at_0004, canary):
    _OldDevice, devices = rows_at_0004
    foreign = Keyring.parse([generate_key(7)])
    write_raw(Device, "memo", devices[5].pk, foreign.encrypt(canary.encode(), b"x"))
    with pytest.raises(CopyToBinaryError) as info:
        call_command("migrate", APP, verbosity=0)
    message = str(info.value)
    assert str(devices[5].pk) in message and "UnknownKeyVersionError" in message
    assert canary not in message
    # The text column is still there with every value.
    assert stored(Device, "memo", devices[6].pk).startswith("$si1$2$")
    write_raw(Device, "memo", devices[5].pk, None)  # cleared: the move can go on


def test_copy_column_refuses_fields_that_are_not_sealed(rows_at_0004):
    OldDevice, _devices = rows_at_0004
    with pytest.raises(ValueError, match="sealed fields"):
        copy_column(OldDevice, "name", "memo")
