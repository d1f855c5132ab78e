"""Forms of the user pages. Secret inputs are write-only.

A credential's secret goes in through inputs that are never rendered with a
value: not the stored one (the pages never open it), and not the one just
posted when the form is shown again with errors. When editing, blank secret
inputs keep the stored secret; typing a new one replaces it (through the
service layer, which validates, seals and audits).
"""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import credentials, provider_quirks, provider_urls
from .models import Credential, Provider
from .sealed.jsonlimits import JSONLimitError, parse_json_text

Type = Credential.Type


class WriteOnlyTextInput(forms.TextInput):
    """A text input that never renders a value (not even the one just posted)."""

    def format_value(self, value):
        return None


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value (not even the one just posted)."""

    def format_value(self, value):
        return None


def _secret_input(**attrs):
    return forms.PasswordInput(
        render_value=False,
        attrs={"autocomplete": "new-password", "spellcheck": "false", **attrs},
    )


# The secret inputs each credential type gets: (form field, data key).
SECRET_FIELDS: dict[str, list[tuple[str, str | None]]] = {
    Type.API_KEY: [("api_key", "api_key")],
    Type.BEARER: [("token", "token")],
    Type.BASIC: [("username", "username"), ("password", "password")],
    Type.CUSTOM: [("custom_data", None)],
}
# Every POST parameter that may carry a secret (for sensitive_post_parameters).
SECRET_PARAMETERS = ("api_key", "token", "username", "password", "custom_data")


class CredentialForm(forms.Form):
    """Add (``credential=None``) or edit a credential of ``credential_type``.

    ``cleaned_data["data"]`` is the new secret data, or ``None`` on an edit that
    leaves every secret input blank (the stored secret is kept).
    """

    name = forms.CharField(label=_("Name"), max_length=100)
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.none(),
        required=False,
        empty_label=_("(none)"),
        label=_("Provider"),
        help_text=_("The platform this credential is for, if it is listed."),
    )
    plugin = forms.CharField(
        max_length=100,
        required=False,
        label=_("Plugin or service"),
        help_text=_("A name for the service when it is not in the provider list."),
    )
    api_key = forms.CharField(
        label=_("API key"), required=False, strip=False, widget=_secret_input()
    )
    token = forms.CharField(label=_("Token"), required=False, strip=False, widget=_secret_input())
    username = forms.CharField(
        label=_("Username"),
        required=False,
        widget=WriteOnlyTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Password"), required=False, strip=False, widget=_secret_input()
    )
    custom_data = forms.CharField(
        label=_("Secret data (JSON)"),
        required=False,
        widget=WriteOnlyTextarea(
            attrs={
                "rows": 5,
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": '{"account": "...", "secret": "..."}',
            }
        ),
        help_text=_('A JSON object, for example {"account": "...", "secret": "..."}.'),
    )

    def __init__(self, *args, user, credential_type, credential=None, **kwargs):
        self.user = user
        self.credential_type = credential_type
        self.credential = credential
        if credential is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": credential.name,
                    "provider": credential.provider_id,
                    "plugin": credential.plugin,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = Provider.objects.exclude(  # type: ignore[attr-defined]
            status=Provider.Status.INACTIVE
        ).only("pk", "name")
        keep = {name for name, _key in SECRET_FIELDS[credential_type]}
        for name, _key in (pair for pairs in SECRET_FIELDS.values() for pair in pairs):
            if name not in keep:
                del self.fields[name]
        for name in keep:
            field = self.fields[name]
            field.required = credential is None
            if credential is not None:
                field.help_text = _("Write-only. Leave blank to keep the current value.")
            else:
                field.help_text = field.help_text or _("Write-only: it is never shown again.")
        self._describe_provider_fields()

    def _chosen_provider(self):
        """The provider the form is for (posted, prefilled, or the credential's)."""
        if self.is_bound:
            key = self.data.get(self.add_prefix("provider"))
        else:
            key = self.initial.get("provider")
        if key in (None, "") and self.credential is not None:
            return self.credential.provider
        try:
            return self.fields["provider"].queryset.only("pk", "name", "metadata").get(pk=key)  # type: ignore[attr-defined]
        except (Provider.DoesNotExist, ValueError, TypeError, ValidationError):
            return None

    def _describe_provider_fields(self):
        """Labels and help of the secret inputs from the provider's
        ``credential_fields`` (its name for the key, where to find it)."""
        described = provider_quirks.credential_fields(self._chosen_provider())
        for name, key in SECRET_FIELDS[self.credential_type]:
            spec = described.get(key) if key else None
            if spec is None or name not in self.fields:
                continue
            field = self.fields[name]
            if isinstance(spec.get("label"), str) and spec["label"]:
                field.label = spec["label"]
            if isinstance(spec.get("help"), str) and spec["help"]:
                field.help_text = f"{spec['help']} — {field.help_text}"

    @property
    def secret_field_names(self):
        return [name for name, _key in SECRET_FIELDS[self.credential_type]]

    def clean_name(self):
        name = self.cleaned_data["name"]
        taken = Credential.objects.filter(owner=self.user, name=name)
        if self.credential is not None:
            taken = taken.exclude(pk=self.credential.pk)
        if taken.exists():
            raise ValidationError(credentials.NAME_TAKEN, code="unique")
        return name

    @sensitive_variables()
    def clean_custom_data(self):
        text = self.cleaned_data.get("custom_data")
        if not text:
            return None
        try:
            data = parse_json_text(text, invalid_message=_("Enter a valid JSON object."))
        except JSONLimitError as exc:
            # Never quotes the input (the parser's own message would).
            raise ValidationError(str(exc), code=exc.code) from None
        if not isinstance(data, dict) or not data:
            raise ValidationError(_("Enter a non-empty JSON object."), code="invalid")
        return data

    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned_data = self.cleaned_data
        if self.credential_type == Type.CUSTOM:
            data = cleaned_data.get("custom_data")
            given = data is not None
        else:
            pairs = SECRET_FIELDS[self.credential_type]
            values = {key: cleaned_data.get(name) or "" for name, key in pairs}
            given = any(values.values())
            missing = [name for name, key in pairs if not values[key]]
            if given and missing:
                # Secret data is replaced as a whole: a partial change is refused.
                for name in missing:
                    self.add_error(name, _("Enter this too, to replace the stored secret."))
            data = values if given and not missing else None
        if self.credential is None and not given and not self.errors:
            raise ValidationError(_("Enter the secret."), code="required")
        if data is not None and self.credential_type != Type.CUSTOM:
            fields_of = {key: name for name, key in SECRET_FIELDS[self.credential_type]}
            format_errors = provider_quirks.credential_format_errors(
                cleaned_data.get("provider"), data
            )
            for key, message in format_errors.items():
                self.add_error(fields_of.get(key), message)
        cleaned_data["data"] = data
        return cleaned_data

    def add_service_errors(self, error):
        """Show a service-layer ValidationError (it names fields and keys, never values)."""
        for field, messages in error.message_dict.items():
            if field == "data":
                target = self.secret_field_names[0]
            elif field in self.fields:
                target = field
            else:
                target = None
            self.add_error(target, messages)


class CredentialSelect(forms.Select):
    """A select followed by a link to add a new credential (``add_url``)."""

    add_url = ""

    def render(self, name, value, attrs=None, renderer=None):
        select = super().render(name, value, attrs, renderer)
        if not self.add_url:
            return select
        return format_html(
            '{} <a class="add-credential" href="{}">Add a new one</a>', select, self.add_url
        )


class CredentialChoiceField(forms.ModelChoiceField):
    """Choose one of ``user``'s credentials for a plugin's form.

    Lists only that user's credentials, and of them only those for ``provider``
    and/or named for ``plugin`` when given; a posted id of any other credential
    is refused like an unknown one. Labels are the name, the type and at most the
    last four characters of the secret (the stored hint): no secret is opened to
    build them. ``return_to`` (the form's own path) adds an "Add a new one" link
    to the credential page that comes back to it with ``?next=``.
    """

    widget = CredentialSelect

    def __init__(self, *, user, provider=None, plugin="", return_to="", **kwargs):
        credentials = Credential.objects.none()
        if getattr(user, "is_authenticated", False):
            credentials = Credential.objects.filter(owner=user)
            if provider is not None:
                credentials = credentials.filter(provider=provider)
            if plugin:
                credentials = credentials.filter(plugin=plugin)
        # The columns a label needs; the sealed data is never loaded.
        credentials = credentials.only("pk", "name", "credential_type", "hint").order_by("name")
        kwargs.setdefault("empty_label", "(choose a credential)")
        super().__init__(queryset=credentials, **kwargs)
        self.widget.add_url = self.add_credential_url(
            provider=provider, plugin=plugin, return_to=return_to
        )

    @staticmethod
    def add_credential_url(*, provider=None, plugin="", return_to=""):
        """The credential add page, prefilled, returning to ``return_to``."""
        if not return_to:
            return ""
        params = {"next": return_to}
        if provider is not None:
            params["provider"] = str(getattr(provider, "pk", provider))
        if plugin:
            params["plugin"] = plugin
        return f"{reverse('integrations:credential-add')}?{urlencode(params)}"

    def label_from_instance(self, credential):
        label = f"{credential.name} ({credential.get_credential_type_display()})"
        hint = credential.hint[-4:]
        return f"{label} …{hint}" if hint else label


class ConnectionValuesForm(forms.Form):
    """What a user enters before connecting a provider whose URLs hold
    connection-level placeholders (their Shopify shop, their Zendesk
    subdomain): one input per placeholder, labelled and checked against its
    pattern (and :func:`provider_urls.value_error`'s safety rules)."""

    prefix = "url"

    def __init__(self, *args, provider, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.specs = provider_urls.connection_params(provider)
        for name, spec in self.specs.items():
            label = spec.get("label") if isinstance(spec.get("label"), str) else name
            example = spec.get("example") if isinstance(spec.get("example"), str) else ""
            self.fields[name] = forms.CharField(
                label=label,
                max_length=provider_urls.VALUE_MAX_LENGTH,
                help_text=_("For example: %(example)s") % {"example": example} if example else "",
                widget=forms.TextInput(
                    attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": example}
                ),
            )

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean() or {}
        for name, spec in self.specs.items():
            value = cleaned_data.get(name)
            if value is None or name in self.errors:
                continue
            if provider_urls.value_error(spec, value):
                example = spec.get("example") if isinstance(spec.get("example"), str) else ""
                self.add_error(
                    name,
                    _("This does not look like a valid %(label)s; enter it like %(example)s.")
                    % {"label": self.fields[name].label, "example": example}
                    if example
                    else _("This does not look like a valid %(label)s.")
                    % {"label": self.fields[name].label},
                )
        return cleaned_data

    @property
    def url_values(self):
        return {name: self.cleaned_data[name] for name in self.specs}
