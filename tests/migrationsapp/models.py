"""Sealed fields added by migrations to tables that already have rows
(tests/test_migration_defaults.py migrates back to 0001, adds rows, migrates on)."""

import uuid

from django.db import models

from integrations.fields import EncryptedJSONField, EncryptedTokenField


class Device(models.Model):
    """UUID keys: every value is bound to its row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=50)
    token = EncryptedTokenField(purpose="migrationsapp.device.token", default="factory-token")
    settings = EncryptedJSONField(purpose="migrationsapp.device.settings", default=dict)
    note = EncryptedTokenField(purpose="migrationsapp.device.note", null=True)
    label = EncryptedTokenField(
        purpose="migrationsapp.device.label", default="unlabelled", searchable=True
    )
    # Added searchable to a table with rows (0003): each row's default is sealed,
    # then indexed, in the migration.
    kind = EncryptedTokenField(
        purpose="migrationsapp.device.kind", default="standard", searchable=True
    )
    # Binary storage added to a table with rows (0004): the default is sealed
    # into each row as bytes.
    secret = EncryptedTokenField(
        purpose="migrationsapp.device.secret", binary=True, default="factory-secret"
    )
    # Added as text (0004), moved to binary keeping its purpose (0005, through
    # integrations.sealed.to_binary.copy_sealed).
    memo = EncryptedTokenField(purpose="migrationsapp.device.memo", binary=True, null=True)


class Counter(models.Model):
    """An auto-increment key: values are bound to the column only."""

    name = models.CharField(max_length=50)
    token = EncryptedTokenField(purpose="migrationsapp.counter.token", default="shared")
