"""``EncryptedJSONField``: a sealed JSON value, with the JSON limits checked
before it is sealed.
"""

import json
from typing import Any

from django.core.exceptions import ValidationError

from ..crypto import NotSealedError
from .field_base import _SealedField
from .formfields import SealedJSONFormField
from .jsonlimits import JSONLimitError, check_json_value
from .values import _Unsealed


class EncryptedJSONField(_SealedField):
    """Any JSON value (dict, list, str, number, bool) sealed in a TEXT column.

    Python ``None`` is stored as NULL; JSON ``null`` inside a value round-trips.
    Mutating a value in place (``obj.data["key"] = ...``) is saved like
    Django's JSONField: ``save()`` notices and seals the new content.
    """

    description = "A sealed JSON value"
    empty_strings_allowed = False
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(
        self,
        *args: Any,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        **kwargs: Any,
    ) -> None:
        if encoder is not None and not callable(encoder):
            raise ValueError("The encoder parameter must be a callable object.")
        if decoder is not None and not callable(decoder):
            raise ValueError("The decoder parameter must be a callable object.")
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def _dumps(self, value):
        return json.dumps(value, cls=self.encoder, ensure_ascii=False, separators=(",", ":"))

    def _check_assignable(self, value):
        """Refuse values nested too deeply (see :mod:`integrations.jsonlimits`).

        NUL characters are allowed: the database only sees the sealed string.
        """
        try:
            return check_json_value(value, allow_nul=True)
        except JSONLimitError as exc:
            raise JSONLimitError(f"{self.label_for_errors}: {exc}", exc.code) from None

    def validate(self, value, model_instance):
        # full_clean() sees the attname: a value assigned, or opened and edited
        # in place, is checked here (a ValidationError) before save() seals it.
        opened = model_instance.__dict__.get(self.cache_name) if model_instance else None
        pending: tuple[Any, ...]
        if type(value) is _Unsealed:
            pending = (value.value,)
        elif opened is not None and opened.raw == value:
            pending = (opened.value,)
        else:
            pending = ()
        for item in pending:
            try:
                self._check_assignable(item)
            except JSONLimitError as exc:
                raise ValidationError(str(exc), code=exc.code) from None
        super().validate(value, model_instance)

    def _encode(self, value):
        self._check_assignable(value)  # in-place edits are only seen here
        try:
            return self._dumps(value).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError) as exc:
            # The message of json's TypeError names a type, never a value.
            raise TypeError(
                f"{self.label_for_errors}: value is not JSON serializable: {exc}"
            ) from None

    def _decode(self, plaintext):
        return json.loads(plaintext.decode("utf-8", "surrogatepass"), cls=self.decoder)

    def _decode_legacy(self, raw, instance):
        try:
            return self._decode_legacy_text(raw)
        except ValueError:
            raise NotSealedError("stored value is neither sealed nor valid JSON").with_location(
                self._where(instance)
            ) from None

    def _decode_legacy_text(self, raw):
        return json.loads(raw, cls=self.decoder)

    def _changed_in_place(self, opened):
        if opened.text is None:
            return True
        return self._dumps(opened.value).encode("utf-8", "surrogatepass") != opened.text

    def formfield(self, **kwargs):
        return super().formfield(
            **{
                "form_class": SealedJSONFormField,
                "encoder": self.encoder,
                "decoder": self.decoder,
                **kwargs,
            }
        )
