"""Admin pages for providers: their settings, a client secret written through a
write-only input and the credential service, and "Add from preset".
"""

import re
from typing import cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .. import credentials
from ..models import AuditEvent, Provider
from ..providers import PRESETS, create_provider_from_preset, preset_choices
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


# Auth types whose provider issues this site a client id and secret; the users of
# the others (API key, basic, bearer) enter their own secrets.
_CLIENT_AUTH_TYPES = (Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1)
# What a generic preset whose endpoints staff type in (its ``required`` lists the
# token URL) may also take; one with a discovery URL finds them there.
_OPTIONAL_ENDPOINTS = ("userinfo_url",)


def _url_param_validator(name, pattern):
    def validate(value):
        if pattern and not re.fullmatch(pattern, value):
            raise ValidationError(
                _("Enter a value in the form the provider uses (%(name)s).") % {"name": name},
                code="invalid",
            )

    return validate


def _endpoint_field(name, required):
    model_field = cast(models.Field, Provider._meta.get_field(name))  # a column
    if name.endswith("_url"):
        return forms.URLField(
            label=capfirst(model_field.verbose_name),
            required=required,
            assume_scheme="https",
            max_length=model_field.max_length,
            help_text=model_field.help_text,
        )
    return forms.CharField(
        label=capfirst(model_field.verbose_name),
        required=required,
        max_length=model_field.max_length,
        help_text=model_field.help_text,
    )


class ProviderFromPresetForm(forms.Form):
    """Create a Provider from one preset: staff add only what that preset needs.

    ``preset`` (a key of ``PRESETS``) decides the fields: the client ID and
    write-only secret for an OAuth provider (none for API-key, basic and bearer
    ones, whose users enter their own secrets), the fields the preset lists in
    ``required``, and its provider-level URL placeholders (``url_<name>``, checked
    against the preset's pattern).
    """

    preset = forms.ChoiceField(choices=preset_choices, widget=forms.HiddenInput)
    slug = forms.SlugField(
        required=False,
        max_length=64,
        help_text=_("Leave blank for the preset's (e.g. a second Google app needs another)."),
    )
    name = forms.CharField(
        required=False, max_length=100, help_text=_("Leave blank for the preset's name.")
    )

    def __init__(self, *args, preset, **kwargs):
        super().__init__(*args, **kwargs)
        self.preset_key = preset
        self.entry = PRESETS[preset]
        self.initial.setdefault("preset", preset)
        self.fields["preset"].initial = preset
        order = []
        if self.entry.get("auth_type", Provider.AuthType.OAUTH2) in _CLIENT_AUTH_TYPES:
            self.fields["client_id"] = forms.CharField(label=_("Client ID"), max_length=255)
            self.fields["client_secret"] = forms.CharField(
                label=_("Client secret"),
                required=False,
                strip=False,
                widget=_write_only_password(),
                help_text=_("Write-only: sealed and never shown again."),
            )
            order += ["client_id", "client_secret"]
        self.endpoint_names = [
            name for name in self.entry.get("required", []) if name in _PRESET_FIELDS
        ]
        for name in self.endpoint_names:
            self.fields[name] = _endpoint_field(name, required=True)
        if "token_url" in self.endpoint_names:
            for name in _OPTIONAL_ENDPOINTS:
                if name not in self.endpoint_names and not self.entry.get(name):
                    self.fields[name] = _endpoint_field(name, required=False)
                    self.endpoint_names.append(name)
        order += self.endpoint_names
        self.url_params = {
            name: spec
            for name, spec in (self.entry.get("metadata", {}).get("url_params") or {}).items()
            if spec.get("level") == "provider"
        }
        for name, spec in self.url_params.items():
            example = spec.get("example")
            self.fields[f"url_{name}"] = forms.CharField(
                label=spec.get("label") or name,
                required=not spec.get("default"),
                initial=spec.get("default"),
                max_length=253,
                validators=[_url_param_validator(name, spec.get("pattern"))],
                help_text=_("For example: %(example)s") % {"example": example} if example else "",
                widget=forms.TextInput(attrs={"placeholder": example} if example else None),
            )
            order.append(f"url_{name}")
        self.order_fields([*order, "slug", "name"])

    def clean_preset(self):
        if self.cleaned_data["preset"] != self.preset_key:
            raise ValidationError(_("The preset changed; pick it again."), code="invalid")
        return self.cleaned_data["preset"]

    def overrides(self):
        names = ("slug", "name", *self.endpoint_names)
        return {name: self.cleaned_data[name] for name in names if self.cleaned_data.get(name)}

    def url_values(self):
        return {
            name: self.cleaned_data[f"url_{name}"]
            for name in self.url_params
            if self.cleaned_data.get(f"url_{name}")
        }

    def error_field(self, name):
        """The form field an error of ``create_provider_from_preset`` belongs to."""
        if name in self.fields:
            return name
        if f"url_{name}" in self.fields:
            return f"url_{name}"
        return None


# Provider fields a preset's ``required`` may name (its endpoints and base URL).
_PRESET_FIELDS = frozenset(
    {
        "base_url",
        "request_token_url",
        "authorize_url",
        "token_url",
        "revocation_url",
        "userinfo_url",
        "discovery_url",
    }
)


def _label(choices, value):
    return str(dict(choices.choices).get(value, value))


def _preset_rows():
    """Every preset as the list shows it, by name, with the text a search matches."""
    rows = []
    for key, entry in PRESETS.items():
        category = entry.get("category", Provider.Category.OTHER)
        auth_type = entry.get("auth_type", Provider.AuthType.OAUTH2)
        category_label = _label(Provider.Category, category)
        auth_label = _label(Provider.AuthType, auth_type)
        rows.append(
            {
                "key": key,
                "entry": entry,
                "name": entry["name"],
                "category": category,
                "category_label": category_label,
                "auth_label": auth_label,
                "description": entry.get("description", ""),
                "search": " ".join(
                    str(part)
                    for part in (
                        entry["name"],
                        key,
                        category_label,
                        auth_label,
                        entry.get("description", ""),
                    )
                ).casefold(),
            }
        )
    rows.sort(key=lambda row: row["name"].casefold())
    return rows


def _matches(row, terms, category):
    return (not category or row["category"] == category) and all(
        term in row["search"] for term in terms
    )


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
        """Add from preset: the list of presets (``?q=`` searches, ``?category=``
        filters, on the server; a small script filters as one types), then, for
        ``?preset=<key>``, a form with only what that preset needs; posting it
        calls :func:`integrations.providers.create_provider_from_preset`."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        key = request.POST.get("preset") if request.method == "POST" else request.GET.get("preset")
        if key not in PRESETS:
            return self._preset_list(request, unknown=bool(key))
        form = ProviderFromPresetForm(request.POST or None, preset=key)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            extra = form.overrides()
            url_values = form.url_values()
            if url_values:
                extra["url_values"] = url_values
            try:
                provider = create_provider_from_preset(
                    key,
                    client_id=data.get("client_id", ""),
                    client_secret=data.get("client_secret") or None,
                    actor=request.user,
                    ip_address=client_ip(request),
                    **extra,
                )
            except ValidationError as exc:
                # Names fields only, never the secret.
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(form.error_field(field), errors)
                else:
                    form.add_error(None, exc.messages)
            else:
                try:
                    callback = request.build_absolute_uri(
                        reverse("integrations:callback", args=[provider.slug])
                    )
                except NoReverseMatch:  # the app's URLs are not included in this project
                    callback = f".../integrations/callback/{provider.slug}/"
                if provider.auth_type in _CLIENT_AUTH_TYPES:
                    message = _(
                        "Created the provider “%(name)s” from a preset. "
                        "Register this callback URL with it: %(url)s"
                    ) % {"name": provider.name, "url": callback}
                else:
                    message = _(
                        "Created the provider “%(name)s” from a preset. "
                        "Its users enter their own keys when they connect."
                    ) % {"name": provider.name}
                self.message_user(request, message)
                return redirect(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change", provider.pk
                )
        entry = PRESETS[key]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Add provider from a preset: %(name)s") % {"name": entry["name"]},
            "form": form,
            "preset": entry,
            "preset_key": key,
            "category_label": _label(
                Provider.Category, entry.get("category", Provider.Category.OTHER)
            ),
            "auth_label": _label(
                Provider.AuthType, entry.get("auth_type", Provider.AuthType.OAUTH2)
            ),
            "docs_url": (entry.get("metadata") or {}).get("docs_url", ""),
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/integrations/provider/from_preset.html", context)

    def _preset_list(self, request, unknown=False):
        rows = _preset_rows()
        query = request.GET.get("q", "").strip()[:100]
        terms = query.casefold().split()
        categories: dict[str, int] = {}
        for row in rows:
            categories[row["category"]] = categories.get(row["category"], 0) + 1
        category = request.GET.get("category", "")
        if category not in categories:
            category = ""
        for row in rows:
            row["shown"] = _matches(row, terms, category)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Add provider from a preset"),
            "rows": rows,
            "shown": sum(row["shown"] for row in rows),
            "query": query,
            "category": category,
            "categories": [
                (value, label, categories[value])
                for value, label in Provider.Category.choices
                if value in categories
            ],
            "unknown": unknown,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/integrations/provider/preset_list.html", context)

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
