"""Admin pages for users' credentials: type, hint and key version, never the
secret; new secret data through a write-only input and the credential service.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .. import credentials
from ..fields import EncryptedJSONField
from ..models import Credential
from ..sealed.jsonlimits import JSONLimitError, parse_json_text
from ..secret_status import sealed_status
from .base import (
    AdminModelForm,
    SealedFieldsAdmin,
    WriteOnlyTextarea,
    _without,
    client_ip,
)

# Deleting here removes the row and its tokens without revoking them at
# the provider: prefer the "Disconnect selected" action.


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


class ProviderFilter(admin.RelatedFieldListFilter):
    """By provider; credentials for a plugin (no provider) are named so, not "-"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.empty_value_display = _("None (a plugin)")  # type: ignore[assignment]


@admin.register(Credential)
class CredentialAdmin(SealedFieldsAdmin):
    form = CredentialAdminForm
    list_display = (
        "name",
        "owner",
        "credential_type",
        "provider_or_plugin",
        "secret_status",
        "hint_display",
        "updated_at",
    )
    list_filter = ("credential_type", ("provider", ProviderFilter))
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

    @admin.display(description=_("provider or plugin"), ordering="provider__name")
    def provider_or_plugin(self, obj):
        if obj.provider_id:
            return obj.provider.name
        return obj.plugin or "-"

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
