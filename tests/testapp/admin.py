"""How projects register their own models.

``Connection``: a plain ModelAdmin, no customisation. The others use the sealed
layer's ``SealedFieldsAdminMixin``, as its documentation shows.
"""

from django.contrib import admin

from integrations.sealed.admin import SealedFieldsAdminMixin, sealed_status_column

from .models import (
    ArchivedWebhook,
    Badge,
    BinaryAccount,
    Connection,
    Customer,
    Mailbox,
    Webhook,
)

admin.site.register(Connection)


@admin.register(Webhook)
class WebhookAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """Django's default list_display: the mixin adds a status column per sealed field."""


@admin.register(ArchivedWebhook)
class ArchivedWebhookAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Mailbox)
class MailboxAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """Its own list_display, placing the status column itself."""

    list_display = ("address", sealed_status_column("password", "password"), "touched_at")
    readonly_fields = (sealed_status_column("password", "stored password"),)


@admin.register(Customer)
class CustomerAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """Searchable sealed fields (blind indexes) beside plain ones."""

    list_display = ("name", "tenant", sealed_status_column("api_key"))
    list_filter = ("tenant", ("api_key", admin.EmptyFieldListFilter))


@admin.register(Badge)
class BadgeAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """A filter through a relation to a sealed field: Django then allows any
    lookup on that path, which the mixin still refuses."""

    list_filter = (("owner__api_key", admin.EmptyFieldListFilter),)


@admin.register(BinaryAccount)
class BinaryAccountAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """Binary sealed columns (binary=True): the same status columns and action."""
