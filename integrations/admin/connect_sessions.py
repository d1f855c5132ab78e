"""Connect sessions in the admin: view only. The one-time URL's token is never
stored, and its digest is not shown either."""

from django.contrib import admin

from ..models import ConnectSession
from ..sealed.admin import SealedLookupsAdminMixin
from .base import ADMIN_CSS


@admin.register(ConnectSession)
class ConnectSessionAdmin(SealedLookupsAdminMixin, admin.ModelAdmin):
    """Who asked to connect what, from where, and what came of it."""

    list_display = (
        "created_at",
        "user",
        "provider",
        "mode",
        "origin",
        "expires_at",
        "used_at",
        "outcome",
        "error",
    )
    list_filter = ("outcome", "mode", "provider", "created_at")
    search_fields = ("user__username", "origin", "error")
    list_select_related = ("user", "provider")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "user",
        "provider",
        "integration",
        "credential",
        "reconnect",
        "mode",
        "return_url",
        "origin",
        "metadata",
        "tags",
        "created_at",
        "expires_at",
        "used_at",
        "finished_at",
        "outcome",
        "error",
    )
    readonly_fields = fields

    class Media:
        css = ADMIN_CSS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
