"""The audit log in the admin: read only, filterable, never a secret."""

from django.apps import apps
from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from ..models import AuditEvent
from ..sealed.admin import SealedLookupsAdminMixin
from .base import ADMIN_CSS

# target_type values that are not a model label.
_TARGET_NAMES = {"sealed_columns": _("Sealed columns")}


def target_type_name(target_type):
    """The verbose name of an event's target type (``integrations.credential`` →
    "Credential"), in the current language; the stored value itself when it
    names no installed model."""
    if target_type in _TARGET_NAMES:
        return _TARGET_NAMES[target_type]
    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return target_type
    return capfirst(model._meta.verbose_name)


class TargetTypeFilter(admin.SimpleListFilter):
    """By target type, each named by its model's verbose name, not its label."""

    title = _("target type")
    parameter_name = "target_type"

    def lookups(self, request, model_admin):
        # Distinct values of an indexed column (integrations_audit_tgt_idx leads with it).
        values = (
            AuditEvent.objects.order_by("target_type")
            .values_list("target_type", flat=True)
            .distinct()
        )
        return [(value, target_type_name(value) or "-") for value in values]

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(target_type=self.value())
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(SealedLookupsAdminMixin, admin.ModelAdmin):
    """The audit log: view only. Events are append-only and never hold a secret."""

    list_display = (
        "created_at",
        "actor_label",
        "action",
        "outcome_display",
        "target_display",
        "detail",
    )
    list_display_links = ("created_at",)
    list_filter = ("action", "outcome", TargetTypeFilter, "created_at")
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

    class Media:
        css = ADMIN_CSS

    @admin.display(description=_("target"), ordering="target_type")
    def target_display(self, obj):
        """ "Credential: Mailer" rather than ``integrations.credential`` and a label."""
        kind = target_type_name(obj.target_type)
        if kind and obj.target_label:
            return format_html("{}: {}", kind, obj.target_label)
        return kind or obj.target_label or "-"

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
