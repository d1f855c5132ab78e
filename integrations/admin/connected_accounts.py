"""Admin pages for integrations (users' connected accounts): status and token
metadata, never a token; disconnect through the token service. The host app's
metadata and tags are shown read-only (the host writes them, through the API or
``tokens.set_host_metadata``); the list filters by tag.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import tokens
from ..metadata_fields import clean_tag
from ..models import Integration
from ..secret_status import sealed_status
from .base import (
    AdminModelForm,
    SealedFieldsAdmin,
    client_ip,
)


class IntegrationAdminForm(AdminModelForm):
    class Meta:
        model = Integration
        exclude = ["access_token", "refresh_token", "token_secret"]  # noqa: DJ006 - never the tokens


class TagListFilter(admin.SimpleListFilter):
    """``?tag=``: integrations carrying the tag. Offers the tags of the most
    recently changed integrations (a bounded scan); any tag can be typed in
    the URL."""

    title = _("tag")
    parameter_name = "tag"
    SCANNED = 500
    OFFERED = 30

    def lookups(self, request, model_admin):
        recent = model_admin.get_queryset(request).order_by("-updated_at")[: self.SCANNED]
        seen: set[str] = set()
        for tags in recent.values_list("tags", flat=True):
            seen.update(tag for tag in tags or () if isinstance(tag, str))
        return [(tag, tag) for tag in sorted(seen)[: self.OFFERED]]

    def queryset(self, request, queryset):
        tag = self.value()
        if tag is None:
            return queryset
        try:
            clean_tag(tag)
        except ValidationError:
            raise IncorrectLookupParameters(_("Not a tag.")) from None
        return queryset.filter(tags__has_tag=tag)


@admin.register(Integration)
class IntegrationAdmin(SealedFieldsAdmin):
    """Connections come only from the OAuth flow: no add page and no token inputs."""

    form = IntegrationAdminForm
    list_display = (
        "__str__",
        "owner",
        "status_and_error",
        "access_token_status",
        "refresh_token_status",
        "expires_at",
        "last_refreshed_at",
        "tag_list",
    )
    list_filter = ("status", "provider", "provider__category", TagListFilter)
    search_fields = ("label", "external_account_id", f"owner__{get_user_model().USERNAME_FIELD}")
    list_select_related = ("owner", "provider")
    readonly_fields = (
        "owner",
        "provider",
        "external_account_id",
        "access_token_status",
        "refresh_token_status",
        "token_secret_status",
        "token_type",
        "expires_at",
        "last_refreshed_at",
        "last_error",
        "requested_scopes",
        "granted_scopes",
        "host_metadata",
        "tags",
        "created_at",
        "updated_at",
    )
    fieldsets = [
        (None, {"fields": ["owner", "provider", "external_account_id", "label", "status"]}),
        (
            _("Tokens"),
            {
                "fields": [
                    "access_token_status",
                    "refresh_token_status",
                    "token_secret_status",
                    "token_type",
                    "expires_at",
                    "last_refreshed_at",
                    "last_error",
                    "requested_scopes",
                    "granted_scopes",
                ]
            },
        ),
        (
            _("Host application"),
            {
                "fields": ["tags", "host_metadata"],
                "description": _(
                    "Written by the host application (REST API, connect sessions). "
                    "Not sealed: never a secret."
                ),
            },
        ),
        (_("More"), {"fields": ["metadata", "created_at", "updated_at"]}),
    ]

    @admin.display(description=_("tags"))
    def tag_list(self, obj):
        return ", ".join(tag for tag in obj.tags or () if isinstance(tag, str))

    @admin.display(description=_("status"), ordering="status")
    def status_and_error(self, obj):
        """The status, with the last error code under it (one column, not two)."""
        if obj.last_error:
            return format_html(
                '{}<small class="last-error">{}</small>', obj.get_status_display(), obj.last_error
            )
        return obj.get_status_display()

    @admin.display(description=_("access token"))
    def access_token_status(self, obj):
        return sealed_status(obj.access_token_sealed)

    @admin.display(description=_("refresh token"))
    def refresh_token_status(self, obj):
        return sealed_status(obj.refresh_token_sealed)

    @admin.display(description=_("token secret (OAuth 1.0a)"))
    def token_secret_status(self, obj):
        return sealed_status(obj.token_secret_sealed)

    actions = ["reseal_with_primary_key", "disconnect_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(
        description=_("Disconnect selected (revoke at the provider, erase tokens)"),
        permissions=["change"],
    )
    def disconnect_selected(self, request, queryset):
        """What a user's Disconnect does, on their behalf: revoke, then erase (audited,
        naming the staff user). The rows are kept, with status ``revoked``."""
        done, partial = 0, 0
        for integration in queryset.exclude(status=Integration.Status.REVOKED).select_related(
            "owner"
        ):
            result = tokens.disconnect(
                integration.owner, integration.pk, actor=request.user, ip_address=client_ip(request)
            )
            done += 1
            if result.revocation_supported and not result.fully_revoked:
                partial += 1
        self.message_user(request, _("%(count)d integration(s) disconnected.") % {"count": done})
        if partial:
            self.message_user(
                request,
                _(
                    "%(count)d could not be fully revoked at the provider; their tokens "
                    "were erased here."
                )
                % {"count": partial},
                level="warning",
            )
