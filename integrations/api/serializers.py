"""Serializers: all input validation, and the only shapes a response can take.

Secrets are write-only. A response says about a secret only what
:mod:`integrations.secret_status` reads from the stored sealed string (whether
it is set, its state, the key version) and, for a credential, the service
layer's short ``hint``: nothing here opens a sealed value.

Error messages name fields and keys, never values: the messages DRF would fill
with the submitted input (invalid choice, unknown related id) are replaced by
fixed ones.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import credentials as credential_service
from .. import oauth, provider_quirks
from ..metadata_fields import (
    MAX_KEY_LENGTH,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_METADATA_KEYS,
    MAX_TAGS,
    TAG_PATTERN,
    clean_host_metadata,
    clean_tags,
)
from ..models import (
    AuditEvent,
    ConnectSession,
    Credential,
    Integration,
    Provider,
    TemplatedURLField,
)
from ..secret_status import is_set, sealed_key_version, sealed_state
from .errors import Conflict, django_error_detail
from .fields import (
    RFC3339DateTimeField,
    StrictCharField,
    StrictSlugField,
    StrictTemplatedURLField,
    StrictURLField,
)

_NOT_A_CHOICE = _("Not one of the available choices.")
# A name must contain something besides whitespace (the schema says so too,
# so generated clients and fuzzers know).
_NOT_BLANK = RegexValidator(r"\S", message=_("This field may not be blank."))


class StrictModelSerializer(serializers.ModelSerializer):
    """Model fields map to the strict input fields of :mod:`.fields`."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.URLField: StrictURLField,
        TemplatedURLField: StrictTemplatedURLField,
        models.DateTimeField: RFC3339DateTimeField,
    }


def choice_field(choices, **kwargs):
    """A ChoiceField whose error does not repeat the submitted value."""
    return serializers.ChoiceField(
        choices=choices, error_messages={"invalid_choice": _NOT_A_CHOICE}, **kwargs
    )


def model_validators(model, name):
    """The model field's validators, for a serializer field declared by hand
    (``ModelSerializer`` copies them only onto the fields it builds): the JSON
    limits (depth, NUL characters) of a ``JSONField``, for instance."""
    return list(model._meta.get_field(name).validators)


# -- secret status -----------------------------------------------------------------


class SecretStatusSerializer(serializers.Serializer):
    """What is known about a stored secret without opening it."""

    set = serializers.BooleanField(read_only=True, help_text="Whether a value is stored.")
    state = serializers.ChoiceField(
        choices=["not_set", "sealed", "legacy_plaintext", "damaged"],
        read_only=True,
        help_text="'sealed' is normal; 'legacy_plaintext' awaits encrypt_legacy; "
        "'damaged' cannot be opened.",
    )
    key_version = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        min_value=1,
        help_text="Version of the key that sealed the value (null unless sealed).",
    )


class SecretStatusField(serializers.Field):
    """Read-only status of the sealed column ``sealed_attr`` (``<field>_sealed``)."""

    def __init__(self, sealed_attr, **kwargs):
        self.sealed_attr = sealed_attr
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, instance):
        sealed = getattr(instance, self.sealed_attr)
        return {
            "set": is_set(sealed),
            "state": sealed_state(sealed),
            "key_version": sealed_key_version(sealed),
        }


# -- providers ---------------------------------------------------------------------


class ProviderRelatedField(serializers.PrimaryKeyRelatedField):
    """A provider by id; non-staff may only pick active providers."""

    default_error_messages = {
        "does_not_exist": "Unknown provider.",
        "incorrect_type": "Must be a provider id.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = Provider.objects.all()
        request = self.context.get("request")
        if request is None or not getattr(request.user, "is_staff", False):
            queryset = queryset.filter(status=Provider.Status.ACTIVE)
        return queryset


def _endpoint_validator(name):
    def validate(value):
        try:
            oauth.check_endpoint_url(value, name)
        except oauth.OAuthFlowError:
            raise serializers.ValidationError(
                "Must be an https:// URL (http:// only on a loopback address)."
            ) from None

    return validate


_ENDPOINTS = (
    "request_token_url",
    "authorize_url",
    "token_url",
    "revocation_url",
    "userinfo_url",
    "discovery_url",
)


class ProviderSerializer(StrictModelSerializer):
    category = choice_field(Provider.Category.choices, required=False)
    auth_type = choice_field(Provider.AuthType.choices, required=False)
    status = choice_field(Provider.Status.choices, required=False)
    pkce = choice_field(Provider.PKCE.choices, required=False)
    signature_method = choice_field(Provider.SignatureMethod.choices, required=False)
    default_scopes = serializers.ListField(
        child=StrictCharField(max_length=200),
        required=False,
        max_length=100,
    )
    metadata = serializers.DictField(
        required=False, validators=model_validators(Provider, "metadata")
    )
    client_secret = StrictCharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=4096,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write-only: never returned. Omit to keep the stored secret; "
        "null or an empty string clears it.",
    )
    client_secret_status = SecretStatusField("client_secret_sealed")

    class Meta:
        model = Provider
        fields = [
            "id",
            "slug",
            "name",
            "category",
            "auth_type",
            "status",
            "description",
            "icon_url",
            "base_url",
            *_ENDPOINTS,
            "default_scopes",
            "pkce",
            "signature_method",
            "client_id",
            "client_secret",
            "client_secret_status",
            "metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "slug": {"validators": []},  # uniqueness: a 409, checked below
            **{name: {"validators": [_endpoint_validator(name)]} for name in _ENDPOINTS},
        }

    def validate(self, attrs):
        # The quirks in metadata and the URL placeholders, as Provider.clean checks them.
        merged = Provider(
            **{
                name: attrs.get(name, getattr(self.instance, name, ""))
                for name in ("base_url", *_ENDPOINTS)
            },
            metadata=attrs.get("metadata", getattr(self.instance, "metadata", {})),
        )
        errors = provider_quirks.metadata_errors(merged)
        if errors:
            raise serializers.ValidationError(
                {name: [str(message) for message in messages] for name, messages in errors.items()}
            )
        # Last, so that invalid input is a 400 before a taken slug is a 409.
        slug = attrs.get("slug")
        if slug is not None:
            taken = Provider.objects.filter(slug=slug)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                message = _("A provider with this slug already exists.")
                raise Conflict(message, fields={"slug": [message]})
        return attrs


# -- integrations ------------------------------------------------------------------


_METADATA_HELP = (
    "The host application's own data: a JSON object of at most "
    f"{MAX_METADATA_KEYS} keys (1-{MAX_KEY_LENGTH} characters), {MAX_METADATA_BYTES} bytes "
    f"as JSON and {MAX_METADATA_DEPTH} levels deep. Not sealed: never put a secret here. "
    "A write replaces the whole object ({} clears it)."
)
_TAGS_HELP = (
    f"At most {MAX_TAGS} tags to find connections by (?tag=); duplicates are dropped. "
    "A write replaces the list ([] clears it)."
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "maxProperties": MAX_METADATA_KEYS,
        "description": _METADATA_HELP,
    }
)
class HostMetadataField(serializers.JSONField):
    """The integration's ``host_metadata``, as ``metadata``: a JSON object within
    :mod:`integrations.metadata_fields`' limits; errors never quote the value."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "host_metadata")
        kwargs.setdefault("style", {"base_template": "textarea.html"})
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return clean_host_metadata(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "pattern": f"^{TAG_PATTERN}$", "maxLength": 64},
        "maxItems": MAX_TAGS,
        "description": _TAGS_HELP,
    }
)
class TagsField(serializers.Field):
    """A list of tags (:data:`integrations.metadata_fields.TAG_PATTERN`)."""

    def to_internal_value(self, data):
        try:
            return clean_tags(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, value):
        return list(value)


class IntegrationSerializer(serializers.ModelSerializer):
    """An integration as the API shows it: never a token."""

    provider: serializers.PrimaryKeyRelatedField[Provider] = serializers.PrimaryKeyRelatedField(
        read_only=True, pk_field=serializers.UUIDField()
    )
    provider_slug = serializers.CharField(source="provider.slug", read_only=True)
    provider_name = serializers.CharField(source="provider.name", read_only=True)
    status = choice_field(Integration.Status.choices, read_only=True)
    requested_scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    granted_scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    access_token_status = SecretStatusField("access_token_sealed")
    refresh_token_status = SecretStatusField("refresh_token_sealed")
    token_secret_status = SecretStatusField("token_secret_sealed")
    can_refresh = serializers.BooleanField(
        read_only=True,
        help_text="Whether a refresh token is stored. When false and expires_at is set, the "
        "connection cannot renew itself: it must be connected again once it expires.",
    )
    metadata = HostMetadataField(read_only=True)
    tags = TagsField(read_only=True)

    class Meta:
        model = Integration
        fields = [
            "id",
            "provider",
            "provider_slug",
            "provider_name",
            "external_account_id",
            "label",
            "status",
            "requested_scopes",
            "granted_scopes",
            "token_type",
            "expires_at",
            "last_refreshed_at",
            "last_error",
            "access_token_status",
            "refresh_token_status",
            "token_secret_status",
            "can_refresh",
            "metadata",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# Statuses a user may set. ``revoked`` is what DELETE (disconnect) does, after
# revoking at the provider; a revoked integration is connected again through
# the OAuth flow, not by changing its status.
USER_SETTABLE_STATUSES = [
    choice for choice in Integration.Status.choices if choice[0] != Integration.Status.REVOKED
]


class IntegrationUpdateSerializer(serializers.Serializer):
    label = StrictCharField(  # type: ignore[assignment]  # the field, not Field.label
        max_length=255, required=False, allow_blank=True
    )
    status = choice_field(
        USER_SETTABLE_STATUSES,
        required=False,
        help_text="To disconnect (revoke), DELETE the integration instead. "
        "'active' needs a stored access token.",
    )
    metadata = HostMetadataField(required=False)
    tags = TagsField(required=False)

    def validate(self, attrs):
        integration = self.instance
        status = attrs.get("status")
        if status is None or integration is None or status == integration.status:
            return attrs
        if integration.status == Integration.Status.REVOKED:
            raise Conflict(
                "A revoked integration must be connected again.",
                fields={"status": ["A revoked integration must be connected again."]},
            )
        if status == Integration.Status.ACTIVE and integration.access_token_sealed is None:
            raise Conflict(
                "It has no access token; connect it again.",
                fields={"status": ["It has no access token; connect it again."]},
            )
        return attrs


class RevocationSerializer(serializers.Serializer):
    supported = serializers.BooleanField(
        help_text="Whether the provider can revoke by API (a revocation endpoint, RFC 7009 "
        "or Bearer, or a named hook)."
    )
    method = serializers.ChoiceField(
        choices=["rfc7009", "bearer", "hook", "none"],
        help_text="How the provider revokes (its metadata's revocation method); none: "
        "the tokens were erased here only.",
    )
    revoked = serializers.ListField(
        child=serializers.CharField(), help_text="Token types revoked at the provider."
    )
    failed = serializers.DictField(
        child=serializers.CharField(), help_text="Token type -> error code, where revoking failed."
    )


class DisconnectionSerializer(serializers.Serializer):
    integration = IntegrationSerializer()
    revocation = RevocationSerializer()


# -- credentials -------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "minProperties": 1,
        "writeOnly": True,
        "description": "Write-only secret data, never returned. Keys by type: api_key "
        "{api_key}, basic {username, password}, bearer {token}, custom: any "
        "keys (1-100 characters each).",
    }
)
class SecretDataField(serializers.JSONField):
    """Write-only secret JSON object."""

    default_error_messages = {"invalid": _("Must be a JSON object.")}

    def __init__(self, **kwargs):
        kwargs["write_only"] = True
        kwargs.setdefault("style", {"base_template": "textarea.html"})
        super().__init__(**kwargs)

    @sensitive_variables()
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):  # pragma: no cover - never rendered
        raise AssertionError("secret data is write-only")


class CredentialSerializer(serializers.ModelSerializer):
    """A credential as the API shows it: never its data."""

    type = choice_field(Credential.Type.choices, source="credential_type", read_only=True)
    provider: serializers.PrimaryKeyRelatedField[Provider] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, pk_field=serializers.UUIDField()
    )
    secret_status = SecretStatusField("data_sealed")
    hint = serializers.CharField(
        read_only=True, help_text="At most the last four characters of a long key; often empty."
    )

    class Meta:
        model = Credential
        fields = [
            "id",
            "name",
            "type",
            "provider",
            "plugin",
            "secret_status",
            "hint",
            "expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class _CredentialWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, validators=[_NOT_BLANK])
    provider = ProviderRelatedField(required=False, allow_null=True)
    plugin = StrictCharField(max_length=100, required=False, allow_blank=True)
    expires_at = RFC3339DateTimeField(required=False, allow_null=True)

    def _owner(self):
        return self.context["request"].user

    def check_name(self, attrs):
        """A name the owner already uses is a 409 (checked after all else)."""
        name = attrs.get("name")
        if name is None:
            return
        taken = Credential.objects.filter(owner=self._owner(), name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            message = credential_service.NAME_TAKEN
            raise Conflict(message, fields={"name": [message]})

    @staticmethod
    @sensitive_variables()
    def check_data(credential_type, data, provider=None):
        try:
            credential_service.validate_data(credential_type, data, provider)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                django_error_detail(exc, rename={"credential_type": "type"})
            ) from None

    def to_representation(self, instance):
        return CredentialSerializer(instance, context=self.context).data


class CredentialCreateSerializer(_CredentialWriteSerializer):
    type = choice_field(Credential.Type.choices)
    data = SecretDataField()  # type: ignore[assignment]  # the field, not Serializer.data

    @sensitive_variables()
    def validate(self, attrs):
        self.check_data(attrs["type"], attrs["data"], attrs.get("provider"))
        self.check_name(attrs)
        return attrs


class CredentialUpdateSerializer(_CredentialWriteSerializer):
    """Type and owner never change; ``data`` replaces the secret when given."""

    data = SecretDataField(required=False)  # type: ignore[assignment]

    @sensitive_variables()
    def validate(self, attrs):
        if "data" in attrs:
            credential = self.instance  # an update always has one
            provider = attrs.get("provider", credential.provider)  # type: ignore[union-attr]
            self.check_data(credential.credential_type, attrs["data"], provider)  # type: ignore[union-attr]
        self.check_name(attrs)
        return attrs


# -- audit events ------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer):
    action = choice_field(AuditEvent.Action.choices, read_only=True)
    outcome = choice_field(AuditEvent.Outcome.choices, read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
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
        ]
        read_only_fields = fields


# -- errors (for the schema) ---------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. 'invalid', 'not_found'.")
    message = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]  # the field, not Serializer.fields
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field (dotted when nested) -> messages; empty unless input was invalid.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# -- connect sessions --------------------------------------------------------------


class ConnectSessionCreateSerializer(serializers.Serializer):
    """What ``POST /api/connect-sessions/`` takes. The origin checks and the
    metadata limits are the service's (:mod:`integrations.connect_sessions`)."""

    provider = StrictSlugField(
        required=False,
        allow_blank=True,
        help_text="The provider's slug (optional when reconnecting).",
    )
    integration = serializers.UUIDField(
        required=False,
        help_text="Reconnect this integration of yours (its provider, e.g. after needs_reauth).",
    )
    mode = choice_field(
        ConnectSession.Mode.choices,
        default=ConnectSession.Mode.REDIRECT,
        help_text="redirect: back to return_url; popup: postMessage to origin.",
    )
    return_url = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Where the browser returns, with outcome and ids in the query. Its origin "
        "must be in INTEGRATIONS['CONNECT_ALLOWED_ORIGINS']. Required in redirect mode.",
    )
    origin = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Popup mode: the opener's origin (scheme://host[:port]) the result is "
        "posted to; defaults to return_url's. Must be allowed.",
    )
    metadata = HostMetadataField(
        required=False,
        help_text="Your own ids (a JSON object; not sealed, never a secret): the connected "
        "integration's metadata, within its limits. Checked before the flow starts.",
    )
    tags = TagsField(required=False, help_text="The connected integration's tags.")
    url_values = serializers.DictField(
        child=StrictCharField(max_length=253),
        required=False,
        help_text="Values of the provider's connection-level URL placeholders (a Shopify "
        'shop: {"shop": "acme"}), checked against their patterns now. Left out, the browser '
        "is asked for them when it opens the URL.",
    )

    def validate(self, attrs):
        if not attrs.get("provider") and not attrs.get("integration"):
            raise serializers.ValidationError(
                {"provider": [_("Name a provider, or an integration to reconnect.")]}
            )
        return attrs


class ConnectSessionSerializer(serializers.Serializer):
    """A new connect session: open ``url`` once, in a browser, before ``expires_at``."""

    id = serializers.UUIDField(read_only=True)
    url = serializers.URLField(
        read_only=True, help_text="The one-time URL. Single use; it is not stored."
    )
    expires_at = RFC3339DateTimeField(read_only=True)
    mode = serializers.CharField(read_only=True)
    provider = serializers.CharField(read_only=True, source="provider.slug")
    integration = serializers.UUIDField(read_only=True, source="integration_id", allow_null=True)
