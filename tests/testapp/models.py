"""Models that exercise the sealed fields the way projects use them."""

import uuid

from django.db import models

from integrations.fields import EncryptedJSONField, EncryptedTokenField


class Account(models.Model):
    """UUID primary key assigned before insert: values are bound to the row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=50, blank=True)
    token = EncryptedTokenField(purpose="testapp.account.token", null=True, blank=True)
    other_token = EncryptedTokenField(purpose="testapp.account.other_token", null=True, blank=True)
    data = EncryptedJSONField(purpose="testapp.account.data", null=True, blank=True)


class Settings(models.Model):
    """Auto-incrementing primary key: values are bound to the column only."""

    token = EncryptedTokenField(purpose="testapp.settings.token", null=True)
    data = EncryptedJSONField(purpose="testapp.settings.data", default=dict)


class PlainAccount(models.Model):
    """The same shape as Account with plain columns: the benchmarks' baseline."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=50, blank=True)
    token = models.TextField(null=True)
    other_token = models.TextField(null=True)
    data = models.JSONField(null=True)


class ManualKey(models.Model):
    """A UUID primary key with no default: the caller assigns it before saving."""

    id = models.UUIDField(primary_key=True)
    token = EncryptedTokenField(purpose="testapp.manualkey.token", null=True)


class Connection(models.Model):
    """A project's own model, registered with a plain ModelAdmin (testapp/admin.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=50)
    api_key = EncryptedTokenField(purpose="testapp.connection.api_key")
    access_token = EncryptedTokenField(purpose="testapp.connection.access_token", null=True,
                                       blank=True)
    refresh_token = EncryptedTokenField(purpose="testapp.connection.refresh_token", blank=True)
    settings = EncryptedJSONField(purpose="testapp.connection.settings", default=dict,
                                  blank=True)
    extra = EncryptedJSONField(purpose="testapp.connection.extra", null=True, blank=True)
