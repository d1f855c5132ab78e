"""Admin pages for providers, integrations, credentials and the audit log.

The admin never shows a secret and never reads one. What it shows about a secret
comes from the stored sealed string alone (``<field>_sealed``): whether it is set,
the version of the key that sealed it, or that it is legacy plaintext; for a
credential also the ``hint`` the service layer computed. The plaintext
attributes (``provider.client_secret``, ``integration.access_token``,
``credential.data``...) are never touched here, so no page decrypts anything.

Secrets go *in* through write-only inputs that are never rendered with a value
(neither the stored one nor the one just posted), and are written by the
service layer (:mod:`integrations.credentials`), which audits every change. The
sealed model fields are kept out of every ModelForm, so they are neither form
initial values nor part of the admin history, which names changed fields only.
"""

from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import audit, credentials, tokens
from .fields import EncryptedJSONField, EncryptedTokenField
from .models import AuditEvent, Credential, Integration, Provider
from .providers import create_provider_from_preset, preset_choices
from .sealed.admin import SealedFieldsAdminMixin, SealedLookupsAdminMixin
from .sealed.formfields import CheckedJSONFormField
from .sealed.jsonlimits import JSONLimitError, parse_json_text
from .secret_status import sealed_status

# The POST parameters that carry secrets; hidden from error reports.
SECRET_POST_PARAMETERS = ("new_client_secret", "secret_data")
# The "create from preset" form's secret input.
PRESET_SECRET_POST_PARAMETERS = ("client_secret",)


def client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


def _record_staff_action(request, action, target, *, detail=""):
    """Attribute a change made in the admin to the staff user who made it.

    For deleting a provider or an integration, which have no service function
    yet: the event names the staff user, the target and the IP address.
    """
    audit.record(
        action, actor=request.user, target=target, detail=detail, ip_address=client_ip(request)
    )


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value: not the stored one, not the one posted."""

    def format_value(self, value):
        return None


def _write_only_password(**attrs):
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", **attrs})


class SealedFieldsAdmin(SealedFieldsAdminMixin, admin.ModelAdmin):
    """Our models' admin: the sealed layer's mixin (re-seal action, writes of the
    changed columns only) plus the integrations layer's rules.

    * A sealed model field never gets a form field, whatever ``fields`` says:
      secrets go in through our own write-only inputs and the service layer,
      which audits every change.
    * Deletions are audited, naming the staff user.
    """

    # Plain JSON columns: depth and NUL checks, form errors instead of 500s.
    formfield_overrides = {models.JSONField: {"form_class": CheckedJSONFormField}}
    sensitive_post_parameter_names = SECRET_POST_PARAMETERS

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, (EncryptedTokenField, EncryptedJSONField)):
            return None
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def delete_model(self, request, obj):
        _record_staff_action(request, AuditEvent.Action.DELETE, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # One by one, so each deletion goes through delete_model (and is audited).
        with transaction.atomic(using=queryset.db):
            for obj in queryset:
                self.delete_model(request, obj)


def _without(fieldsets, names):
    """``fieldsets`` minus the fields in ``names`` (and any set left empty)."""
    result = []
    for title, options in fieldsets:
        fields = [f for f in options["fields"] if f not in names]
        if fields:
            result.append((title, {**options, "fields": fields}))
    return result


def _admin_formfield(db_field, **kwargs):
    """Form fields of our admin forms when built outside the admin (the class body).

    URLs are HTTPS unless typed otherwise: Django 6's default, explicit for 5.2
    (which warns without it).
    """
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class AdminModelForm(forms.ModelForm):
    """A blank JSON textarea means the field's default (``[]``, ``{}``), not NULL.

    (Django's form JSONField cleans "" to None, which a ``JSONField(default=list,
    blank=True)`` that is not nullable cannot store.)
    """

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned_data = self.cleaned_data
        for name, formfield in self.fields.items():
            blank = name in cleaned_data and cleaned_data[name] is None
            if blank and isinstance(formfield, forms.JSONField):
                model_field = self._meta.model._meta.get_field(name)
                if not model_field.null and model_field.has_default():
                    cleaned_data[name] = model_field.get_default()
        return cleaned_data


# -- Provider -------------------------------------------------------------------


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


_OAUTH1_URLS = ("request_token_url", "authorize_url", "token_url", "userinfo_url")


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


# -- Integration ----------------------------------------------------------------


class IntegrationAdminForm(AdminModelForm):
    class Meta:
        model = Integration
        exclude = ["access_token", "refresh_token", "token_secret"]  # noqa: DJ006 - never the tokens


@admin.register(Integration)
class IntegrationAdmin(SealedFieldsAdmin):
    """Connections come only from the OAuth flow: no add page and no token inputs."""

    form = IntegrationAdminForm
    list_display = (
        "__str__",
        "owner",
        "provider",
        "status",
        "access_token_status",
        "refresh_token_status",
        "expires_at",
        "last_refreshed_at",
        "last_error",
    )
    list_filter = ("status", "provider", "provider__category")
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
        (_("More"), {"fields": ["metadata", "created_at", "updated_at"]}),
    ]

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

    # Deleting here removes the row and its tokens without revoking them at
    # the provider: prefer the "Disconnect selected" action.


# -- Credential -----------------------------------------------------------------


class CredentialAdminForm(AdminModelForm):
    secret_data = forms.CharField(
        label=_("Secret data"),
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            'Write-only: a JSON object such as {"api_key": "..."}; never shown again. '
            "When editing, leave blank to keep the stored data."
        ),
    )

    class Meta:
        model = Credential
        exclude = ["data"]  # noqa: DJ006 - the secret data has its own form fields

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding and "secret_data" in self.fields:
            self.fields["secret_data"].required = True

    @sensitive_variables()
    def clean_secret_data(self):
        text = self.cleaned_data.get("secret_data")
        if not text:
            if self.instance._state.adding:
                raise ValidationError(_("Enter the secret data as a JSON object."), code="required")
            return None  # keep the stored data
        try:
            data = parse_json_text(text, invalid_message="Enter a valid JSON object.")
        except JSONLimitError as exc:
            # Never quotes the input.
            raise ValidationError(str(exc), code=exc.code) from None
        if not isinstance(data, dict):
            raise ValidationError(_("Enter a JSON object."), code="invalid")
        return data

    @sensitive_variables()
    def clean(self):
        cleaned_data = super().clean()
        data = cleaned_data.get("secret_data")
        if "credential_type" in self.fields:
            credential_type = cleaned_data.get("credential_type")
        else:
            credential_type = self.instance.credential_type
        if data is not None and credential_type:
            try:
                credentials.validate_data(credential_type, data)
            except ValidationError as exc:
                # Its messages name keys, never values.
                for field, messages in exc.message_dict.items():
                    self.add_error(
                        "secret_data"
                        if field == "data"
                        else field
                        if field in self.fields
                        else None,
                        messages,
                    )
        name = cleaned_data.get("name")
        if not self.instance._state.adding and name and "name" in self.changed_data:
            # The form does not hold the owner, so Django skips the (owner, name)
            # constraint; check it here rather than failing in the service.
            taken = (
                Credential.objects.filter(owner_id=self.instance.owner_id, name=name)
                .exclude(pk=self.instance.pk)
                .exists()
            )
            if taken:
                self.add_error("name", _("This owner already has a credential with this name."))
        return cleaned_data


@admin.register(Credential)
class CredentialAdmin(SealedFieldsAdmin):
    form = CredentialAdminForm
    list_display = (
        "name",
        "owner",
        "credential_type",
        "provider",
        "plugin",
        "secret_status",
        "hint_display",
        "expires_at",
        "updated_at",
    )
    list_filter = ("credential_type", "provider")
    search_fields = ("name", f"owner__{get_user_model().USERNAME_FIELD}", "plugin")
    list_select_related = ("owner", "provider")
    raw_id_fields = ("owner",)
    readonly_fields = ("secret_status", "hint_display", "created_at", "updated_at")
    fieldsets = [
        (
            None,
            {"fields": ["owner", "name", "credential_type", "provider", "plugin", "expires_at"]},
        ),
        (_("Secret"), {"fields": ["secret_status", "hint_display", "secret_data"]}),
        (_("More"), {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=_("secret"))
    def secret_status(self, obj):
        return sealed_status(obj.data_sealed)

    @admin.display(description=_("hint"))
    def hint_display(self, obj):
        return format_html("…{}", obj.hint) if obj.hint else "-"

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None:
            # The service does not move a credential to another owner or type.
            readonly = (*readonly, "owner", "credential_type")
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return _without(
                fieldsets, {"secret_status", "hint_display", "created_at", "updated_at"}
            )
        if not self.has_change_permission(request, obj):
            return _without(fieldsets, {"secret_data"})
        return fieldsets

    @sensitive_variables()
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data.get("secret_data")
        fields = {name: getattr(obj, name) for name in ("name", "provider", "plugin", "expires_at")}
        ip_address = client_ip(request)
        if change:
            if data is not None:
                fields["data"] = data
            saved = credentials.update_credential(
                obj.owner, obj, ip_address=ip_address, actor=request.user, **fields
            )
        else:
            saved = credentials.create_credential(
                obj.owner,
                credential_type=obj.credential_type,
                data=data,
                ip_address=ip_address,
                actor=request.user,
                **fields,
            )
        # The admin goes on with ``obj`` (redirect, history): give it the saved row.
        for field in Credential._meta.concrete_fields:
            if not isinstance(field, EncryptedJSONField):
                setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def delete_model(self, request, obj):
        credentials.delete_credential(
            obj.owner, obj, ip_address=client_ip(request), actor=request.user
        )

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset.select_related("owner"))


# -- AuditEvent -----------------------------------------------------------------


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


# -- API tokens (with the REST API) ---------------------------------------------

if apps.is_installed("knox"):
    from .api.token_admin import replace_knox_admin

    replace_knox_admin(admin.site)
