"""What the admin pages of the integrations app share: the ModelAdmin base of
our models (write-only secrets, audited deletions), the write-only inputs, the
form base, and the audit helper for staff actions."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction

from .. import audit
from ..fields import EncryptedJSONField, EncryptedTokenField
from ..models import AuditEvent
from ..sealed.admin import SealedFieldsAdminMixin
from ..sealed.formfields import CheckedJSONFormField

# The changelists' layout (fits 1280 px); every ModelAdmin of the app uses it.
ADMIN_CSS = {"all": ["integrations/admin.css"]}

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

    class Media:
        css = ADMIN_CSS

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
