"""Form fields of the sealed model fields: write-only in any ModelForm or admin.

A project that registers its own model with a plain ``ModelAdmin`` (or builds a
plain ``ModelForm``) gets these from ``EncryptedTokenField.formfield()`` and
``EncryptedJSONField.formfield()``, so it is safe without customisation. Through
the whole ModelForm lifecycle:

* **Initial.** ``model_to_dict`` hands the form the stored *sealed* string (the
  model field's ``value_from_object``, which serializers need). The bound field
  turns it into :data:`STORED` or ``None`` -- whether a value is stored -- and
  nothing renders it: ``prepare_value`` and ``bound_data`` are always ``None``,
  the widgets never format a value (not even the one just posted after an
  error), and there is no hidden initial input.
* **Blank keeps.** A blank input cleans to :data:`KEEP`, ``has_changed`` is
  false (the admin's change message and ``save(update_fields=...)`` leave the
  column alone), and ``save_form_data`` assigns nothing. A required field with a
  stored value may be left blank; without one (adding) it is required.
* **Typing replaces.** A typed value is the new plaintext (the token as typed;
  the JSON parsed and checked by :mod:`integrations.jsonlimits`). Invalid JSON is
  a form error that never quotes the input.
* **Clearing** is explicit: a "clear" checkbox, shown when a value is stored and
  the model field can hold an empty value (``null=True``: NULL; a token field
  with ``blank=True``: ""). Ticking it and typing a value is an error.
"""

from typing import TYPE_CHECKING

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .jsonlimits import JSONLimitError, check_json_value, parse_json_text
from .redaction import masked

__all__ = ["KEEP", "STORED", "CheckedJSONFormField", "SealedJSONFormField", "SealedTokenFormField"]


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    def __bool__(self):
        return False

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return self.name


# The cleaned value of a sealed input left blank: keep what is stored.
KEEP = _Marker("KEEP")
# A sealed field's initial value in a form: "a value is stored" (never the value).
STORED = _Marker("STORED")
# What a write-only widget reads when its "clear" box is ticked (with or without text).
_CLEAR = _Marker("_CLEAR")
_CLEAR_AND_TYPED = _Marker("_CLEAR_AND_TYPED")
# ``cleared_value`` of a field whose model column cannot be emptied.
NOT_CLEARABLE = _Marker("NOT_CLEARABLE")


def _has_value(value):
    return value is not None and not (isinstance(value, str) and value == "")


if TYPE_CHECKING:
    _WidgetBase = forms.Widget  # what the mixin is mixed into, so that super() type-checks
else:
    _WidgetBase = object


class _WriteOnlyWidgetMixin(_WidgetBase):
    """Never renders a value; adds a "clear" checkbox when clearing is allowed."""

    input_template_name: str  # the concrete widget's own template, wrapped

    template_name = "integrations/widgets/write_only.html"
    clearable = False
    has_stored_value = False

    def __init__(self, attrs=None):
        super().__init__(
            attrs={"autocomplete": "new-password", "spellcheck": "false", **(attrs or {})}
        )

    def format_value(self, value):
        return None

    @staticmethod
    def clear_name(name):
        return f"{name}-clear"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, None, attrs)
        context["widget"].update(
            input_template_name=self.input_template_name,
            stored=self.has_stored_value,
            clearable=self.clearable and self.has_stored_value,
            clear_name=self.clear_name(name),
            clear_id=f"{context['widget']['attrs'].get('id') or name}-clear",
        )
        return context

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        if self.clearable and forms.CheckboxInput().value_from_datadict(
            data, files, self.clear_name(name)
        ):
            return _CLEAR_AND_TYPED if _has_value(value) else _CLEAR
        return value

    def value_omitted_from_data(self, data, files, name):
        return (
            super().value_omitted_from_data(data, files, name) and self.clear_name(name) not in data
        )

    def use_required_attribute(self, initial):
        return super().use_required_attribute(initial) and initial is not STORED


class WriteOnlyPasswordInput(_WriteOnlyWidgetMixin, forms.PasswordInput):
    input_template_name = forms.PasswordInput.template_name


class WriteOnlyTextarea(_WriteOnlyWidgetMixin, forms.Textarea):
    input_template_name = forms.Textarea.template_name

    def __init__(self, attrs=None):
        super().__init__(attrs={"rows": 4, **(attrs or {})})


class WriteOnlyHiddenInput(forms.HiddenInput):
    def format_value(self, value):
        return None


class _SealedBoundField(BoundField):
    """Its ``initial`` says whether a value is stored, never what it is."""

    @cached_property
    def initial(self):
        stored = self.form.get_initial_for_field(self.field, self.name)
        return STORED if _has_value(stored) else None


class _SealedFormField(forms.Field):
    """Shared lifecycle; see the module docstring."""

    hidden_widget = WriteOnlyHiddenInput
    default_error_messages = {
        "clear_and_typed": _("Either enter a new value or tick “clear”, not both."),
    }

    def __init__(self, *, cleared_value=NOT_CLEARABLE, **kwargs):
        # A hidden initial input would carry the stored value into the page.
        kwargs["show_hidden_initial"] = False
        kwargs.pop("initial", None)
        super().__init__(**kwargs)
        self.cleared_value = cleared_value
        self.has_stored_value = False
        if isinstance(self.widget, _WriteOnlyWidgetMixin):
            self.widget.clearable = cleared_value is not NOT_CLEARABLE

    def get_bound_field(self, form, field_name):
        # Each form has its own deep copy of the field: per-form state is safe.
        bound = _SealedBoundField(form, self, field_name)
        self.has_stored_value = bound.initial is STORED
        if isinstance(self.widget, _WriteOnlyWidgetMixin):
            self.widget.has_stored_value = self.has_stored_value
        return bound

    def prepare_value(self, value):
        return None

    def bound_data(self, data, initial):
        return None

    def _is_blank(self, value):
        return not _has_value(value)

    def has_changed(self, initial, data):
        if self.disabled:
            return False
        return data is _CLEAR or data is _CLEAR_AND_TYPED or not self._is_blank(data)

    def clean(self, value):
        if self.disabled:
            return KEEP
        if value is _CLEAR_AND_TYPED:
            raise ValidationError(self.error_messages["clear_and_typed"], code="clear_and_typed")
        if value is _CLEAR:
            return KEEP if self.cleared_value is NOT_CLEARABLE else self.cleared_value
        if self._is_blank(value):
            if self.required and not self.has_stored_value:
                raise ValidationError(self.error_messages["required"], code="required")
            return KEEP
        value = self.to_python(value)
        self.run_validators(value)
        # From here on, error reports print the typed secret masked wherever it
        # travels (cleaned_data, form and admin locals), even on a plain
        # ModelAdmin. It is not registered with the log filter: only stored
        # values are (see integrations.redaction).
        return masked(value)


class SealedTokenFormField(_SealedFormField):
    """The form field of ``EncryptedTokenField``: a password input, kept as typed."""

    widget = WriteOnlyPasswordInput

    def to_python(self, value):
        return str(value)


class SealedJSONFormField(_SealedFormField):
    """The form field of ``EncryptedJSONField``: an empty textarea, parsed and checked."""

    widget = WriteOnlyTextarea
    default_error_messages = {
        "invalid": _("Enter valid JSON."),
        "null": _("Enter a JSON value other than null."),
    }

    def __init__(self, *, encoder=None, decoder=None, **kwargs):
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(**kwargs)

    def _is_blank(self, value):
        return not _has_value(value) or (isinstance(value, str) and not value.strip())

    def to_python(self, value):
        try:
            parsed = parse_json_text(value, decoder=self.decoder)
        except JSONLimitError as exc:
            raise ValidationError(str(exc), code=exc.code) from None
        if parsed is None and self.cleared_value is not None:
            raise ValidationError(self.error_messages["null"], code="null")
        return parsed


class CheckedJSONFormField(forms.JSONField):
    """Django's JSON form field within :mod:`integrations.jsonlimits`' limits.

    For plain ``models.JSONField`` columns: JSON nested thousands deep would
    raise ``RecursionError`` (a 500) in ``forms.JSONField``, and a NUL
    character would be refused by PostgreSQL's jsonb (a 500) -- here both are
    form errors.
    """

    def to_python(self, value):
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        try:
            return check_json_value(converted)
        except JSONLimitError as exc:
            raise ValidationError(str(exc), code=exc.code) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial, data):
        try:
            return super().has_changed(initial, data)
        except RecursionError:
            return True
