from django.contrib import admin

from integrations.sealed.admin import SealedFieldsAdminMixin

from .models import Vault


@admin.register(Vault)
class VaultAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """Django's default columns plus one status column per sealed field."""
