"""The admin of API tokens: listing and revoking only, each revocation audited.

Replaces the admin django-rest-knox registers for its ``AuthToken``: that one
lets any staff user with knox's "add token" permission mint a token for any
user -- a superuser included, with no expiry -- and nothing records it. Here
no token is ever created in the admin (tokens come from ``create_api_token``,
shown once, audited), nothing is edited, and deleting is revoking, through
:func:`integrations.api.api_tokens.revoke_api_token`, audited naming the
staff user.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from knox.models import get_token_model

from ..oauth_flow import client_ip
from ..sealed.admin import SealedLookupsAdminMixin
from . import api_tokens


class APITokenAdmin(SealedLookupsAdminMixin, admin.ModelAdmin):
    """View and revoke API tokens; never create or change one."""

    list_display = ("digest_start", "user", "created", "expiry")
    list_filter = ("created", "expiry")
    # Never token_key: it is the start of the token itself.
    search_fields = (f"user__{get_user_model().USERNAME_FIELD}",)
    list_select_related = ("user",)
    fields = ("digest_start", "user", "created", "expiry")
    readonly_fields = fields

    @admin.display(description=_("digest"))
    def digest_start(self, obj):
        return api_tokens.token_label(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        api_tokens.revoke_api_token(
            obj, actor=request.user, ip_address=client_ip(request), purpose="admin"
        )

    def delete_queryset(self, request, queryset):
        # Django's "Delete selected" action: one audited revocation per token.
        for token in queryset.select_related("user"):
            self.delete_model(request, token)


def replace_knox_admin(site=admin.site):
    """Register :class:`APITokenAdmin` for knox's token model in place of knox's own."""
    import knox.admin  # noqa: F401 - registers knox's admin first, so it can be replaced

    model = get_token_model()
    if site.is_registered(model):
        site.unregister(model)
    site.register(model, APITokenAdmin)
