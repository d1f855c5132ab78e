"""Providers, the accounts users connect at them, credentials, and the audit log.

Secrets live only in sealed fields and are read and written only through the
service layer (``tokens.py``, ``credentials.py``). ``__str__`` of every model is
built from non-secret columns, because Django puts it in the admin's history,
in log messages and in error pages.
"""

import uuid

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from . import provider_quirks
from .fields import EncryptedJSONField, EncryptedTokenField
from .metadata_fields import HostMetadataValidator, TagListField, TagsValidator
from .provider_urls import TemplatedURLValidator

# Every plain JSONField is a LimitedJSONField: depth and NUL limits wherever it is
# validated (forms, the admin, the API), so no stored value breaks dumpdata or a page.
from .sealed.jsonlimits import LimitedJSONField


def _in_choices(field, choices):
    """A database constraint mirroring a field's choices."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": choices.values}),
        name=f"%(app_label)s_%(class)s_{field}_valid",
    )


class TemplatedURLFormField(forms.URLField):
    """A form's URL input that accepts declared ``{name}`` placeholders."""

    default_validators = [TemplatedURLValidator()]


class TemplatedURLField(models.URLField):
    """A provider endpoint: a URL that may hold ``{name}`` placeholders
    (:mod:`integrations.provider_urls`), checked as a URL with each placeholder
    replaced by an example label. Stored as a plain ``URLField`` column."""

    default_validators = [TemplatedURLValidator()]

    def formfield(self, **kwargs):
        # Endpoints are HTTPS (Django 6's default scheme; explicit for 5.2, which
        # warns about the coming change when a form field is built without it).
        defaults = {"form_class": TemplatedURLFormField, "assume_scheme": "https"}
        return super().formfield(**{**defaults, **kwargs})

    def deconstruct(self):
        # A plain URLField to migrations (its column is one), with the validator
        # that tells it apart: the migration that introduced it changes no SQL.
        name, _path, args, kwargs = super().deconstruct()
        kwargs["validators"] = [TemplatedURLValidator()]
        return name, "django.db.models.URLField", args, kwargs


class ProviderCategory(models.TextChoices):
    SOCIAL = "social", _("Social")
    PAYMENT = "payment", _("Payment")
    SHIPPING = "shipping", _("Shipping")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    ANALYTICS = "analytics", _("Analytics")
    CRM = "crm", _("CRM")
    STORAGE = "storage", _("Storage")
    COMMUNICATION = "communication", _("Communication")
    AUTHENTICATION = "authentication", _("Authentication")
    OTHER = "other", _("Other")


class ProviderAuthType(models.TextChoices):
    OAUTH2 = "oauth2", _("OAuth 2")
    OAUTH1 = "oauth1", _("OAuth 1")
    API_KEY = "api_key", _("API key")
    BEARER = "bearer", _("Bearer token")
    BASIC = "basic", _("Basic auth")


class ProviderStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    INACTIVE = "inactive", _("Inactive")
    ERROR = "error", _("Error")
    PENDING = "pending", _("Pending")


class ProviderPKCE(models.TextChoices):
    REQUIRED = "required", _("Required")
    SUPPORTED = "supported", _("Supported")
    UNSUPPORTED = "unsupported", _("Unsupported")


class ProviderSignatureMethod(models.TextChoices):
    """OAuth 1.0a signature methods (RFC 5849 §3.4; HMAC-SHA256 as providers use it)."""

    HMAC_SHA1 = "HMAC-SHA1", "HMAC-SHA1"
    HMAC_SHA256 = "HMAC-SHA256", "HMAC-SHA256"
    RSA_SHA1 = "RSA-SHA1", "RSA-SHA1"
    PLAINTEXT = "PLAINTEXT", _("PLAINTEXT (HTTPS only)")


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    NEEDS_REAUTH = "needs_reauth", _("Needs re-authorization")
    REVOKED = "revoked", _("Revoked")
    ERROR = "error", _("Error")


class CredentialType(models.TextChoices):
    API_KEY = "api_key", _("API key")
    BASIC = "basic", _("Basic auth")
    BEARER = "bearer", _("Bearer token")
    CUSTOM = "custom", _("Custom")


class AuditEventAction(models.TextChoices):
    CREATE = "create", pgettext_lazy("audit action", "Create")
    UPDATE = "update", pgettext_lazy("audit action", "Update")
    USE = "use", pgettext_lazy("audit action", "Use")
    REFRESH = "refresh", pgettext_lazy("audit action", "Refresh")
    REVOKE = "revoke", pgettext_lazy("audit action", "Revoke")
    DELETE = "delete", pgettext_lazy("audit action", "Delete")
    RESEAL = "reseal", pgettext_lazy("audit action", "Reseal")
    REVEAL_DENIED = "reveal_denied", pgettext_lazy("audit action", "Reveal denied")
    CONNECT = "connect", pgettext_lazy("audit action", "Connect")
    DISCONNECT = "disconnect", pgettext_lazy("audit action", "Disconnect")
    STATE_REJECTED = "state_rejected", pgettext_lazy("audit action", "OAuth state rejected")
    API_TOKEN_CREATED = "api_token_created", pgettext_lazy("audit action", "API token created")
    API_TOKEN_REVOKED = "api_token_revoked", pgettext_lazy("audit action", "API token revoked")
    CONNECT_SESSION = "connect_session", pgettext_lazy("audit action", "Connect session created")
    CONNECT_REFUSED = "connect_refused", pgettext_lazy("audit action", "Connect session refused")


class AuditEventOutcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")
    DENIED = "denied", _("Denied")


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Provider(TimestampedModel):
    """A third-party platform users connect to (an OAuth server or an API)."""

    Category = ProviderCategory
    AuthType = ProviderAuthType
    Status = ProviderStatus
    PKCE = ProviderPKCE
    SignatureMethod = ProviderSignatureMethod

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=20, choices=Category, default=Category.OTHER)
    auth_type = models.CharField(max_length=10, choices=AuthType, default=AuthType.OAUTH2)
    status = models.CharField(max_length=10, choices=Status, default=Status.ACTIVE)
    description = models.TextField(blank=True)
    icon_url = models.URLField(blank=True)
    base_url = TemplatedURLField(blank=True, help_text=_("Base URL of the provider's API."))
    request_token_url = TemplatedURLField(
        blank=True, help_text=_("OAuth 1.0a: the temporary credential (request token) endpoint.")
    )
    authorize_url = TemplatedURLField(blank=True)
    token_url = TemplatedURLField(blank=True)
    revocation_url = TemplatedURLField(blank=True)
    userinfo_url = TemplatedURLField(blank=True)
    discovery_url = TemplatedURLField(
        blank=True, help_text=_("OpenID Connect discovery document; fills the endpoints above.")
    )
    client_id = models.CharField(max_length=255, blank=True)
    client_secret = EncryptedTokenField(
        purpose="integrations.provider.client_secret", null=True, blank=True
    )
    default_scopes = LimitedJSONField(default=list, blank=True)
    pkce = models.CharField(
        _("PKCE"),
        max_length=12,
        choices=PKCE,
        default=PKCE.SUPPORTED,
        help_text=_("S256 is sent unless the provider does not support PKCE."),
    )
    signature_method = models.CharField(
        max_length=12,
        choices=SignatureMethod,
        default=SignatureMethod.HMAC_SHA1,
        help_text=_(
            "OAuth 1.0a only. For RSA-SHA1 the client secret holds the PEM private key; "
            "PLAINTEXT is refused over plain HTTP."
        ),
    )
    metadata = LimitedJSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["name"]
        indexes = [
            models.Index(fields=["category"], name="integrations_prov_cat_idx"),
            models.Index(fields=["status"], name="integrations_prov_status_idx"),
        ]
        constraints = [
            _in_choices("category", ProviderCategory),
            _in_choices("auth_type", ProviderAuthType),
            _in_choices("status", ProviderStatus),
            _in_choices("pkce", ProviderPKCE),
            _in_choices("signature_method", ProviderSignatureMethod),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        errors = provider_quirks.metadata_errors(self)
        if errors:
            raise ValidationError(errors)


class Integration(TimestampedModel):
    """One user's connected account at a provider, with its sealed OAuth tokens."""

    Status = IntegrationStatus

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations"
    )
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="integrations")
    external_account_id = models.CharField(max_length=255, blank=True)
    label = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=12, choices=Status, default=Status.ACTIVE)
    requested_scopes = LimitedJSONField(default=list, blank=True)
    granted_scopes = LimitedJSONField(default=list, blank=True)
    access_token = EncryptedTokenField(
        purpose="integrations.integration.access_token", null=True, blank=True
    )
    access_token_sealed: str | None  # the attnames: what the database holds
    refresh_token_sealed: str | None
    refresh_token = EncryptedTokenField(
        purpose="integrations.integration.refresh_token", null=True, blank=True
    )
    # OAuth 1.0a: the token secret that signs every request with the access token
    # (RFC 5849 §2.3); as sensitive as the token itself.
    token_secret = EncryptedTokenField(
        purpose="integrations.integration.token_secret", null=True, blank=True
    )
    token_secret_sealed: str | None
    token_type = models.CharField(max_length=40, blank=True, default="Bearer")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(
        max_length=255, blank=True, help_text=_("An error code or short reason; never a secret.")
    )
    # The app's own data (identity claims, ...): never written by the host app.
    metadata = LimitedJSONField(default=dict, blank=True)
    # The host application's data, apart from the app's (metadata_fields.py): an
    # object it replaces whole, and tags to find connections by. Not sealed: never
    # a secret. Written through host_metadata.set_host_metadata().
    host_metadata = LimitedJSONField(
        default=dict,
        blank=True,
        validators=[HostMetadataValidator()],
        help_text=_("The host application's own data (not sealed: never a secret)."),
    )
    tags = TagListField(
        default=list,
        blank=True,
        validators=[TagsValidator()],
        help_text=_("Short lowercase slugs to find connections by."),
    )
    # The refresh lease (tokens.py): who is refreshing the tokens now, and until
    # when the claim holds if that worker dies. Taken and released by conditional
    # UPDATEs, never by ``save()``, so ``updated_at`` moves only when tokens or
    # status change.
    refresh_lease = models.UUIDField(null=True, blank=True, editable=False)
    refresh_lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("integration")
        verbose_name_plural = _("integrations")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "provider"], name="integrations_owner_prov_idx"),
            models.Index(fields=["status"], name="integrations_status_idx"),
            models.Index(fields=["expires_at"], name="integrations_expires_idx"),
        ]
        constraints = [
            _in_choices("status", IntegrationStatus),
            # One integration per external account; several accounts per provider.
            models.UniqueConstraint(
                fields=["owner", "provider", "external_account_id"],
                condition=~Q(external_account_id=""),
                name="integrations_one_per_external_account",
            ),
        ]

    def __str__(self):
        return f"{self.provider} — {self.audit_label}"

    @property
    def audit_label(self):
        """A non-secret name that needs no query (``str()`` loads the provider)."""
        return self.label or self.external_account_id or str(self.pk)

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def can_refresh(self):
        """Whether a refresh token is stored, read from the sealed column alone
        (nothing is decrypted). Without one the account dies at ``expires_at``."""
        return self.refresh_token_sealed not in (None, "")


class Credential(TimestampedModel):
    """A secret a user enters: an API key, basic-auth pair, bearer token or custom set."""

    Type = CredentialType

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials"
    )
    name = models.CharField(max_length=100)
    credential_type = models.CharField(_("type"), max_length=10, choices=Type)
    provider = models.ForeignKey(
        Provider, on_delete=models.SET_NULL, null=True, blank=True, related_name="credentials"
    )
    plugin = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("Plugin or integration name when there is no provider."),
    )
    data = EncryptedJSONField(purpose="integrations.credential.data")
    data_sealed: str | None  # the attname: what the database holds
    # A sealed copy of the one secret a credential can be found by (its API key
    # or bearer token; credentials.SEARCHABLE_KEYS), searchable through its blind
    # index by credentials.find_by_secret(). Kept in step with ``data`` by the
    # service layer; never shown, never edited directly.
    lookup_secret = EncryptedTokenField(
        purpose="integrations.credential.lookup_secret",
        searchable=True,
        null=True,
        blank=True,
        editable=False,
    )
    hint = models.CharField(
        max_length=8,
        blank=True,
        editable=False,
        help_text=_("At most the last four characters of a long secret."),
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")
        ordering = ["name"]
        indexes = [models.Index(fields=["owner", "provider"], name="integrations_cred_owner_idx")]
        constraints = [
            _in_choices("credential_type", CredentialType),
            models.UniqueConstraint(fields=["owner", "name"], name="integrations_cred_unique_name"),
        ]

    def __str__(self):
        return self.name


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("audit events are append-only: they cannot be updated")

    def delete(self):
        raise TypeError("audit events are append-only: they cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise TypeError("audit events are append-only: they cannot be updated")


class AuditEvent(models.Model):
    """Who used or changed which secret, when and why. Append-only; never a secret."""

    Action = AuditEventAction
    Outcome = AuditEventOutcome

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text=_("The actor's username when the event happened.")
    )
    action = models.CharField(max_length=20, choices=Action)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    purpose = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome, default=Outcome.SUCCESS)
    detail = models.CharField(
        max_length=255, blank=True, help_text=_("An error code or short reason; never a secret.")
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="integrations_audit_tgt_idx")
        ]
        constraints = [
            _in_choices("action", AuditEventAction),
            _in_choices("outcome", AuditEventOutcome),
        ]

    def __str__(self):
        actor = self.actor_label or "-"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {actor} {self.action} {self.target_type}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("audit events are append-only: they cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("audit events are append-only: they cannot be deleted")


class WebhookEventType(models.TextChoices):
    """What the host application's webhook endpoints hear about (integrations.webhooks)."""

    INTEGRATION_CONNECTED = "integration.connected", "integration.connected"
    INTEGRATION_REFRESHED = "integration.refreshed", "integration.refreshed"
    INTEGRATION_REFRESH_FAILED = "integration.refresh_failed", "integration.refresh_failed"
    INTEGRATION_NEEDS_REAUTH = "integration.needs_reauth", "integration.needs_reauth"
    INTEGRATION_DISCONNECTED = "integration.disconnected", "integration.disconnected"
    CREDENTIAL_CREATED = "credential.created", "credential.created"
    CREDENTIAL_UPDATED = "credential.updated", "credential.updated"
    CREDENTIAL_DELETED = "credential.deleted", "credential.deleted"
    KEYS_ROTATION_FINISHED = "keys.rotation_finished", "keys.rotation_finished"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    ABANDONED = "abandoned", _("Abandoned")


class WebhookEndpoint(TimestampedModel):
    """A URL of the host application's own services that hears about integration
    events, signed as Standard Webhooks says with the endpoint's sealed secret.

    The secret (``whsec_`` and base64) is generated by
    :func:`integrations.webhooks.create_endpoint` and shown once; nothing shows
    it afterwards.
    """

    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(max_length=255, blank=True)
    secret = EncryptedTokenField(
        purpose="integrations.webhook_endpoint.secret", null=True, blank=True, editable=False
    )
    secret_sealed: str | None
    events = LimitedJSONField(
        default=list,
        blank=True,
        help_text=_("The event types sent to this endpoint; empty: every event."),
    )
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=255, blank=True, help_text=_("Why the endpoint was disabled; never a secret.")
    )
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("The first failed attempt since the last success."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at"]

    def __str__(self):
        return self.url

    @property
    def audit_label(self):
        return self.url[:255]

    def wants(self, event_type):
        return not self.events or event_type in self.events


class WebhookDelivery(models.Model):
    """One event to deliver to one endpoint, and how its delivery went. The
    payload names ids, a provider slug, a status and an error code; never a secret."""

    Status = WebhookDeliveryStatus
    EventType = WebhookEventType

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(
        max_length=64, db_index=True, help_text=_("Sent as the webhook-id header.")
    )
    event_type = models.CharField(max_length=40, choices=EventType)
    occurred_at = models.DateTimeField()
    payload = LimitedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Who is delivering it now (a worker's claim); see integrations.webhooks.
    lease = models.UUIDField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(
        max_length=100, blank=True, help_text=_("An error code; never a secret.")
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="integrations_whd_due_idx"),
        ]
        constraints = [
            _in_choices("status", WebhookDeliveryStatus),
            _in_choices("event_type", WebhookEventType),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id}"

    @property
    def audit_label(self):
        return f"{self.event_type} {self.event_id}"


class ConnectSessionMode(models.TextChoices):
    REDIRECT = "redirect", _("Redirect back")
    POPUP = "popup", _("Popup (postMessage)")


class ConnectSessionOutcome(models.TextChoices):
    CONNECTED = "connected", _("Connected")
    DENIED = "denied", _("Denied")
    FAILED = "failed", _("Failed")


class ConnectSession(TimestampedModel):
    """A one-time URL that runs a provider's connect flow for the API user who
    asked for it (``POST /api/connect-sessions/``), from a browser that has no
    session of this site. Only a SHA-256 digest of the URL's token is stored;
    ``used_at`` is set once, by a conditional UPDATE (single use)."""

    Mode = ConnectSessionMode
    Outcome = ConnectSessionOutcome

    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    # Set when the session reconnects an integration, or when it connected one.
    integration = models.ForeignKey(
        Integration, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set when a hosted form (API key, basic, bearer providers) saved a credential.
    credential = models.ForeignKey(
        Credential, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reconnect = models.BooleanField(default=False)
    mode = models.CharField(max_length=10, choices=Mode, default=Mode.REDIRECT)
    return_url = models.CharField(max_length=2000, blank=True)
    origin = models.CharField(
        max_length=300, blank=True, help_text=_("Where the result goes: scheme://host[:port].")
    )
    # What the connected integration gets as its host_metadata and tags.
    metadata = LimitedJSONField(default=dict, blank=True)
    tags = LimitedJSONField(default=list, blank=True)
    # The connection's values for the provider's connection-level URL placeholders
    # (a Shopify shop): given at creation, or entered in the browser when opened.
    url_values = LimitedJSONField(default=dict, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome, blank=True)
    error = models.CharField(
        max_length=64, blank=True, help_text=_("An error code; never a secret.")
    )

    class Meta:
        verbose_name = _("connect session")
        verbose_name_plural = _("connect sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="integrations_cs_expires_idx")]
        constraints = [_in_choices("mode", ConnectSessionMode)]

    def __str__(self):
        return f"{self.provider_id} connect session {self.pk}"

    @property
    def audit_label(self):
        return f"connect session {self.pk}"
