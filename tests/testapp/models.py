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
    access_token = EncryptedTokenField(
        purpose="testapp.connection.access_token", null=True, blank=True
    )
    refresh_token = EncryptedTokenField(purpose="testapp.connection.refresh_token", blank=True)
    settings = EncryptedJSONField(purpose="testapp.connection.settings", default=dict, blank=True)
    extra = EncryptedJSONField(purpose="testapp.connection.extra", null=True, blank=True)


class Webhook(models.Model):
    """A third-party model as it comes: an AutoField key, no timestamps, some
    plain columns and some sealed (admin: SealedFieldsAdminMixin, tests/testapp/admin.py)."""

    id = models.AutoField(primary_key=True)
    url = models.CharField(max_length=200)
    signing_secret = EncryptedTokenField(
        purpose="testapp.webhook.signing_secret", null=True, blank=True
    )
    headers = EncryptedJSONField(purpose="testapp.webhook.headers", null=True, blank=True)
    notes = models.TextField(blank=True)


class ArchivedWebhook(Webhook):
    """A proxy: its sealed fields live in Webhook's table."""

    class Meta:
        proxy = True


class Mailbox(models.Model):
    """A UUID key (values bound to the row), one sealed field, an auto_now column."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    address = models.CharField(max_length=100)
    password = EncryptedTokenField(purpose="testapp.mailbox.password")
    touched_at = models.DateTimeField(auto_now=True)


def normalize_email(value):
    """The blind index of an e-mail address ignores case and surrounding blanks."""
    return value.strip().casefold()


class Customer(models.Model):
    """Searchable sealed fields (issue 14): a UUID key, so values are bound to rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=50, blank=True)
    api_key = EncryptedTokenField(
        purpose="testapp.customer.api_key", searchable=True, unique=True, null=True, blank=True
    )
    email = EncryptedTokenField(
        purpose="testapp.customer.email",
        searchable=True,
        normalize=normalize_email,
        null=True,
        blank=True,
    )
    tenant = models.CharField(max_length=20, default="a")
    ref = EncryptedTokenField(
        purpose="testapp.customer.ref", searchable=True, index_bytes=8, null=True, blank=True
    )
    note = EncryptedTokenField(purpose="testapp.customer.note", null=True, blank=True)
    # A plain unique column: the benchmarks' baseline for a lookup by value.
    code = models.CharField(max_length=255, unique=True, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "ref"], name="testapp_customer_tenant_ref")
        ]


class Badge(models.Model):
    """A searchable field on an auto-increment key: values bound to the column only,
    so ``QuerySet.update(code=...)`` can seal (and index) without the row."""

    id = models.AutoField(primary_key=True)
    owner = models.ForeignKey(Customer, null=True, on_delete=models.CASCADE, related_name="badges")
    code = EncryptedTokenField(purpose="testapp.badge.code", searchable=True, null=True)


class BinaryAccount(models.Model):
    """Account's shape with the binary storage: sealed bytes in bytea/BLOB columns."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=50, blank=True)
    token = EncryptedTokenField(
        purpose="testapp.binaryaccount.token", binary=True, null=True, blank=True
    )
    other_token = EncryptedTokenField(
        purpose="testapp.binaryaccount.other_token", binary=True, null=True, blank=True
    )
    data = EncryptedJSONField(
        purpose="testapp.binaryaccount.data", binary=True, null=True, blank=True
    )
    api_key = EncryptedTokenField(
        purpose="testapp.binaryaccount.api_key",
        binary=True,
        searchable=True,
        unique=True,
        null=True,
        blank=True,
    )


class BinarySettings(models.Model):
    """An auto-increment key (values bound to the column only), binary storage."""

    token = EncryptedTokenField(purpose="testapp.binarysettings.token", binary=True, null=True)
    data = EncryptedJSONField(purpose="testapp.binarysettings.data", binary=True, default=dict)
