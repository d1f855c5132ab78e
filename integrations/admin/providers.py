"""Admin pages for providers: their settings, a client secret written through a
write-only input and the credential service, and "Add from preset".
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .. import credentials
from ..models import AuditEvent, Provider
from ..providers import create_provider_from_preset, preset_choices
from ..secret_status import sealed_status
from .base import (
    PRESET_SECRET_POST_PARAMETERS,
    AdminModelForm,
    SealedFieldsAdmin,
    _admin_formfield,
    _record_staff_action,
    _without,
    _write_only_password,
    client_ip,
)

_OAUTH1_URLS = ("request_token_url", "authorize_url", "token_url", "userinfo_url")


class ProviderAdminForm(AdminModelForm):
    new_client_secret = forms.CharField(
        label=_("New client secret"),
        required=False,
        widget=_write_only_password(),
        help_text=_("Write-only: never shown again. Leave blank to keep the current secret."),
    )
    clear_client_secret = forms.BooleanField(
        label=_("Clear client secret"),
        required=False,
        help_text=_("Remove the stored client secret."),
    )

    class Meta:
        model = Provider
        exclude = ["client_secret"]  # noqa: DJ006 - every field but the secret
        formfield_callback = _admin_formfield

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # OAuth 1.0a only: a form that leaves it out (any other auth type) keeps the default.
        field = self.fields.get("signature_method")
        if field is not None:
            self.fields["signature_method"] = forms.TypedChoiceField(
                choices=Provider.SignatureMethod.choices,
                coerce=str,
                required=False,
                empty_value=Provider.SignatureMethod.HMAC_SHA1,
                label=field.label,
                help_text=field.help_text,
            )

    @sensitive_variables()
    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("new_client_secret") and cleaned_data.get("clear_client_secret"):
            raise ValidationError(
                _("Either enter a new client secret or clear it, not both."), code="conflict"
            )
        return cleaned_data


def _oauth1_url(label):
    return forms.URLField(
        label=label,
        required=False,
        assume_scheme="https",
        help_text=_("Only for the generic OAuth 1.0a preset."),
    )


class ProviderFromPresetForm(forms.Form):
    """Create a Provider from a preset: staff add only what the provider issued."""

    preset = forms.ChoiceField(choices=preset_choices)
    client_id = forms.CharField(label=_("Client ID"), max_length=255)
    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=False,
        widget=_write_only_password(),
        help_text=_("Write-only: sealed and never shown again."),
    )
    slug = forms.SlugField(
        required=False,
        max_length=64,
        help_text=_("Leave blank for the preset's (e.g. a second Google app needs another)."),
    )
    name = forms.CharField(
        required=False, max_length=100, help_text=_("Leave blank for the preset's name.")
    )
    discovery_url = forms.URLField(
        label=_("Discovery URL"),
        required=False,
        assume_scheme="https",
        help_text=_(
            "Only for the generic OpenID Connect preset: the issuer's "
            "/.well-known/openid-configuration."
        ),
    )

    # The generic OAuth 1.0a preset's endpoints (the others bring their own).
    request_token_url = _oauth1_url(_("Request token URL"))
    authorize_url = _oauth1_url(_("Authorization URL"))
    token_url = _oauth1_url(_("Access token URL"))
    userinfo_url = _oauth1_url(_("Userinfo URL"))

    def overrides(self):
        names = ("slug", "name", "discovery_url", *_OAUTH1_URLS)
        return {name: self.cleaned_data[name] for name in names if self.cleaned_data.get(name)}


@admin.register(Provider)
class ProviderAdmin(SealedFieldsAdmin):
    form = ProviderAdminForm
    # Endpoints must be HTTPS anyway; also Django 6's default, explicit for 5.2.
    formfield_overrides = {
        **SealedFieldsAdmin.formfield_overrides,
        models.URLField: {"assume_scheme": "https"},
    }
    change_list_template = "admin/integrations/provider/change_list.html"
    actions = ["reseal_with_primary_key", "mark_inactive"]
    list_display = (
        "name",
        "slug",
        "category",
        "auth_type",
        "status",
        "client_secret_status",
        "updated_at",
    )
    list_filter = ("category", "status", "auth_type")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("client_secret_status", "created_at", "updated_at")
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "slug",
                    "category",
                    "auth_type",
                    "status",
                    "description",
                    "icon_url",
                    "base_url",
                ]
            },
        ),
        (
            _("OAuth"),
            {
                "fields": [
                    "request_token_url",
                    "authorize_url",
                    "token_url",
                    "revocation_url",
                    "userinfo_url",
                    "discovery_url",
                    "default_scopes",
                    "pkce",
                    "signature_method",
                ]
            },
        ),
        (
            _("Client credentials"),
            {
                "fields": [
                    "client_id",
                    "client_secret_status",
                    "new_client_secret",
                    "clear_client_secret",
                ]
            },
        ),
        (_("More"), {"fields": ["metadata", "created_at", "updated_at"]}),
    ]

    @admin.display(description=_("client secret"))
    def client_secret_status(self, obj):
        return sealed_status(obj.client_secret_sealed)

    @admin.action(description=_("Mark selected providers inactive"), permissions=["change"])
    def mark_inactive(self, request, queryset):
        """Hide the providers from users (no new connections); existing ones stay."""
        changed = 0
        with transaction.atomic(using=queryset.db):
            for provider in queryset.exclude(status=Provider.Status.INACTIVE).only("pk", "name"):
                provider.status = Provider.Status.INACTIVE
                provider.save(update_fields=["status", "updated_at"])
                _record_staff_action(
                    request, AuditEvent.Action.UPDATE, provider, detail="admin: marked inactive"
                )
                changed += 1
        self.message_user(request, _("%(count)d provider(s) marked inactive.") % {"count": changed})

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "from-preset/",
                self.admin_site.admin_view(self.from_preset_view),
                name="{}_{}_from_preset".format(*info),
            ),
            *super().get_urls(),
        ]

    @method_decorator(sensitive_post_parameters(*PRESET_SECRET_POST_PARAMETERS))
    @sensitive_variables()
    def from_preset_view(self, request):
        """A small form (preset, client id, write-only client secret) that calls
        :func:`integrations.providers.create_provider_from_preset`."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ProviderFromPresetForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                provider = create_provider_from_preset(
                    data["preset"],
                    client_id=data["client_id"],
                    client_secret=data["client_secret"] or None,
                    actor=request.user,
                    ip_address=client_ip(request),
                    **form.overrides(),
                )
            except ValidationError as exc:
                # Names fields only, never the secret.
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
            else:
                try:
                    callback = request.build_absolute_uri(
                        reverse("integrations:callback", args=[provider.slug])
                    )
                except NoReverseMatch:  # the app's URLs are not included in this project
                    callback = f".../integrations/callback/{provider.slug}/"
                self.message_user(
                    request,
                    _(
                        "Created the provider “%(name)s” from a preset. "
                        "Register this callback URL with it: %(url)s"
                    )
                    % {"name": provider.name, "url": callback},
                )
                return redirect(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change", provider.pk
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Add provider from a preset"),
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/integrations/provider/from_preset.html", context)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return _without(
                fieldsets,
                {"client_secret_status", "clear_client_secret", "created_at", "updated_at"},
            )
        if not self.has_change_permission(request, obj):
            return _without(fieldsets, {"new_client_secret", "clear_client_secret"})
        return fieldsets

    @sensitive_variables()
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        secret = form.cleaned_data.get("new_client_secret")
        if secret:
            credentials.set_client_secret(
                obj, secret, actor=request.user, ip_address=client_ip(request)
            )
        elif form.cleaned_data.get("clear_client_secret") and obj.client_secret_sealed:
            credentials.set_client_secret(
                obj, None, actor=request.user, ip_address=client_ip(request)
            )
