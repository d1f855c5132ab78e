"""The audit log in the admin: read only, filterable, never a secret."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import AuditEvent
from ..sealed.admin import SealedLookupsAdminMixin


@admin.register(AuditEvent)
class AuditEventAdmin(SealedLookupsAdminMixin, admin.ModelAdmin):
    """The audit log: view only. Events are append-only and never hold a secret."""

    list_display = (
        "created_at",
        "actor_label",
        "action",
        "outcome_display",
        "target_type",
        "target_label",
        "purpose",
        "detail",
        "ip_address",
    )
    list_display_links = ("created_at",)
    list_filter = ("action", "outcome", "target_type", "created_at")
    search_fields = ("actor_label", "target_id", "purpose")
    date_hierarchy = "created_at"
    list_select_related = False
    show_full_result_count = False  # COUNT(*) of a large log on every page is slow
    fields = (
        "id",
        "created_at",
        "actor",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "purpose",
        "outcome",
        "detail",
        "ip_address",
    )
    readonly_fields = fields

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_display(self, obj):
        colour = {"success": "#2e7d32", "failure": "#c62828", "denied": "#b26a00"}.get(obj.outcome)
        return format_html(
            '<span style="color:{};font-weight:600">{}</span>',
            colour or "inherit",
            obj.get_outcome_display(),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
