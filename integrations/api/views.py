"""The API's viewsets. Thin: serializers validate, services do the work.

Every secret goes in through a serializer's write-only field and on to
:mod:`integrations.credentials` or :mod:`integrations.tokens`, which seal and
audit it; nothing here reads a secret, and no response carries one.

Integrations and credentials are looked up in the requesting user's own
queryset, so another user's id is a 404 (never a 403 that would confirm it
exists).
"""

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from .. import audit, connect_sessions, credentials, tokens
from ..models import AuditEvent, ConnectSession, Credential, Integration, Provider
from ..oauth_flow import client_ip
from . import errors, filters
from .errors import Conflict, django_error_detail
from .pagination import Pagination
from .parsers import StrictJSONParser
from .permissions import CanReadAuditEvent, IsOwner, IsStaffOrReadOnly, reads_every_audit_event
from .schema import AutoSchema
from .serializers import (
    AuditEventSerializer,
    ConnectSessionCreateSerializer,
    ConnectSessionSerializer,
    CredentialCreateSerializer,
    CredentialSerializer,
    CredentialUpdateSerializer,
    DisconnectionSerializer,
    ErrorSerializer,
    IntegrationSerializer,
    IntegrationUpdateSerializer,
    ProviderSerializer,
)
from .throttles import ConnectSessionsThrottle, CredentialsThrottle, RefreshThrottle

if TYPE_CHECKING:
    # What the mixin is mixed into, so that its super() calls type-check.
    _ViewSetBase = viewsets.GenericViewSet
else:
    _ViewSetBase = object

Action = AuditEvent.Action

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

_MISSING = object()


class APIViewSetMixin(_ViewSetBase):
    """What every viewset of the app shares, whatever the project's defaults:
    JSON in and out, the app's error body, paginated and filtered lists."""

    parser_classes = [StrictJSONParser]
    # JSON only, whatever the project's defaults: DRF's browsable API re-renders
    # a rejected request's input (secret data included) in its forms.
    renderer_classes = [JSONRenderer]
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    lookup_value_regex = UUID_PATTERN
    schema = AutoSchema()

    # The order of a list when ?ordering= does not say; the primary key always
    # breaks ties, so pages never overlap or skip rows.
    default_ordering: tuple[str, ...] = ("pk",)

    def get_exception_handler(self):
        return errors.exception_handler

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        ordering = list(queryset.query.order_by) or list(self.default_ordering)
        if not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering.append("pk")
        return queryset.order_by(*ordering)

    @property
    def fake(self):
        """True while drf-spectacular builds the schema (no real user)."""
        return getattr(self, "swagger_fake_view", False)


def _changed(instance, values):
    return [name for name, value in values.items() if getattr(instance, name) != value]


# -- providers ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List providers (active ones; staff see all)"),
    retrieve=extend_schema(summary="A provider"),
    create=extend_schema(summary="Add a provider (staff)"),
    update=extend_schema(summary="Replace a provider (staff)"),
    partial_update=extend_schema(summary="Change a provider (staff)"),
    destroy=extend_schema(summary="Delete a provider (staff; 409 while integrations use it)"),
)
class ProviderViewSet(APIViewSetMixin, viewsets.ModelViewSet):
    """Third-party platforms. Everyone signed in reads the active ones; staff
    with the model permissions manage them. The OAuth client secret is write-only."""

    serializer_class = ProviderSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_class = filters.ProviderFilter
    default_ordering = ("name", "pk")

    def get_queryset(self):
        queryset = Provider.objects.all()
        if self.fake or not self.request.user.is_staff:
            queryset = queryset.filter(status=Provider.Status.ACTIVE)
        return queryset.order_by(*self.default_ordering)

    def _set_secret(self, provider, secret):
        if secret is _MISSING:
            return
        if secret:
            credentials.set_client_secret(
                provider, secret, actor=self.request.user, ip_address=client_ip(self.request)
            )
        elif provider.client_secret_sealed:
            credentials.set_client_secret(
                provider, None, actor=self.request.user, ip_address=client_ip(self.request)
            )

    def perform_create(self, serializer):
        secret = serializer.validated_data.pop("client_secret", _MISSING)
        with transaction.atomic():
            provider = serializer.save()
            audit.record(
                Action.CREATE,
                actor=self.request.user,
                target=provider,
                ip_address=client_ip(self.request),
            )
            self._set_secret(provider, secret)

    def perform_update(self, serializer):
        secret = serializer.validated_data.pop("client_secret", _MISSING)
        changed = _changed(serializer.instance, serializer.validated_data)
        with transaction.atomic():
            provider = serializer.save()
            if changed:
                audit.record(
                    Action.UPDATE,
                    actor=self.request.user,
                    target=provider,
                    detail=f"changed: {', '.join(sorted(changed))}"[:255],
                    ip_address=client_ip(self.request),
                )
            self._set_secret(provider, secret)

    def perform_destroy(self, instance):
        with transaction.atomic():
            audit.record(
                Action.DELETE,
                actor=self.request.user,
                target=instance,
                ip_address=client_ip(self.request),
            )
            instance.delete()


# -- integrations ------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List your integrations"),
    retrieve=extend_schema(summary="One of your integrations"),
    update=extend_schema(
        summary="Change label, status, metadata or tags",
        request=IntegrationUpdateSerializer,
        responses=IntegrationSerializer,
    ),
    partial_update=extend_schema(
        summary="Change label, status, metadata or tags",
        request=IntegrationUpdateSerializer,
        responses=IntegrationSerializer,
    ),
    destroy=extend_schema(
        summary="Disconnect: revoke at the provider, erase the tokens",
        description="Revokes the refresh and access tokens at the provider's RFC 7009 "
        "endpoint when it has one, then erases them here whatever the provider "
        "said; the integration stays, with status 'revoked'. Safe to repeat.",
        responses={200: DisconnectionSerializer},
    ),
)
class IntegrationViewSet(
    APIViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The signed-in user's connected accounts. They are created by the OAuth
    flow (``/integrations/connect/<provider>/``), not here. Never a token."""

    serializer_class = IntegrationSerializer
    permission_classes = [IsOwner]
    filterset_class = filters.IntegrationFilter
    default_ordering = ("-created_at", "pk")

    def get_queryset(self):
        if self.fake:
            return Integration.objects.none()
        return tokens.list_integrations(self.request.user).order_by(*self.default_ordering)

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return IntegrationUpdateSerializer
        return IntegrationSerializer

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action == "refresh":
            throttles.append(RefreshThrottle())
        return throttles

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        integration = self.get_object()
        with transaction.atomic():
            try:
                locked = self.get_queryset().select_for_update(of=("self",)).get(pk=integration.pk)
            except Integration.DoesNotExist:  # deleted meanwhile
                raise NotFound() from None
            serializer = IntegrationUpdateSerializer(
                locked, data=request.data, partial=partial, context=self.get_serializer_context()
            )
            serializer.is_valid(raise_exception=True)
            values = dict(serializer.validated_data)
            # The host app's data goes through its service (its own columns, audited).
            host_metadata = values.pop("host_metadata", None)
            tags = values.pop("tags", None)
            changed = _changed(locked, values)
            if changed:
                before = locked.status
                for name in changed:
                    setattr(locked, name, values[name])
                locked.save(update_fields=[*changed, "updated_at"])
                detail = f"changed: {', '.join(sorted(changed))}"
                if "status" in changed:
                    detail += f" (status {before} -> {locked.status})"
                audit.record(
                    Action.UPDATE,
                    actor=request.user,
                    target=locked,
                    detail=detail[:255],
                    ip_address=client_ip(request),
                )
            if host_metadata is not None or tags is not None:
                tokens.set_host_metadata(
                    locked,
                    metadata=host_metadata,
                    tags=tags,
                    actor=request.user,
                    ip_address=client_ip(request),
                )
        return Response(IntegrationSerializer(locked, context=self.get_serializer_context()).data)

    def destroy(self, request, *args, **kwargs):
        integration = self.get_object()
        try:
            result = tokens.disconnect(request.user, integration, ip_address=client_ip(request))
        except Integration.DoesNotExist:
            raise NotFound() from None
        integration.refresh_from_db()
        body = {
            "integration": IntegrationSerializer(
                integration, context=self.get_serializer_context()
            ).data,
            "revocation": {
                "supported": result.revocation_supported,
                "method": result.method,
                "revoked": list(result.revoked),
                "failed": dict(result.failed),
            },
        }
        return Response(body, status=status.HTTP_200_OK)

    @extend_schema(
        summary="Refresh the tokens now",
        description="Asks the provider for a new access token (sealed and stored; never "
        "returned) and answers with the integration's public fields. 409 when the "
        "account must be connected again; 502 when the provider could not be "
        "reached (the old tokens are kept).",
        request=None,
        responses={
            200: IntegrationSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="The account must be connected again."
            ),
            502: OpenApiResponse(
                ErrorSerializer, description="The provider failed; try again later."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        integration = self.get_object()
        try:
            tokens.refresh_integration(
                integration, actor=request.user, ip_address=client_ip(request), force=True
            )
        except tokens.ReauthorizationRequired as exc:
            raise errors.ReauthorizationRequired(
                _("The account must be connected again (%(code)s).") % {"code": exc.code}
            ) from None
        except tokens.RefreshRateLimited as exc:
            # This integration was force-refreshed too often, by any path.
            raise Throttled(wait=exc.retry_after) from None
        except tokens.RefreshFailed as exc:
            raise errors.ProviderUnavailable(
                _(
                    "The provider did not complete the refresh (%(code)s); "
                    "the stored tokens are kept. Try again later."
                )
                % {"code": exc.code}
            ) from None
        except Integration.DoesNotExist:
            raise NotFound() from None
        return Response(
            IntegrationSerializer(integration, context=self.get_serializer_context()).data
        )


# -- credentials -------------------------------------------------------------------


def _service_error(exc):
    """The API error for a ``ValidationError`` from the credential service."""
    codes = {error.code for errors_ in getattr(exc, "error_dict", {}).values() for error in errors_}
    detail = django_error_detail(exc, rename={"credential_type": "type"})
    if codes & {"unique", "unique_together"}:
        message = credentials.NAME_TAKEN
        return Conflict(message, fields={"name": [message]})
    return serializers.ValidationError(detail)


# What a response says about a credential: never its data.
_CREDENTIAL_EXAMPLE = OpenApiExample(
    "An API key",
    value={
        "id": "3f2b8a64-5d1e-4c8b-9a7e-2b6f0c1d4e5a",
        "name": "Stripe live",
        "type": "api_key",
        "provider": "9d0c7e1a-8b4f-4e2d-a6c3-5f1b2e7d8c9a",
        "plugin": "",
        "secret_status": {"set": True, "state": "sealed", "key_version": 2},
        "hint": "x9Qz",
        "expires_at": None,
        "created_at": "2025-01-31T09:30:00Z",
        "updated_at": "2025-01-31T09:30:00Z",
    },
    response_only=True,
)
_INVALID_EXAMPLE = OpenApiExample(
    "Invalid secret data",
    value={
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "fields": {"data": ["password: this key is required and must be a non-empty string"]},
        }
    },
    response_only=True,
    status_codes=["400"],
)


@extend_schema_view(
    list=extend_schema(summary="List your credentials"),
    retrieve=extend_schema(
        summary="One of your credentials (never its data)", examples=[_CREDENTIAL_EXAMPLE]
    ),
    create=extend_schema(
        summary="Store a credential",
        request=CredentialCreateSerializer,
        responses={201: CredentialSerializer},
        examples=[_CREDENTIAL_EXAMPLE, _INVALID_EXAMPLE],
    ),
    update=extend_schema(
        summary="Change a credential (data replaced only when given)",
        request=CredentialUpdateSerializer,
        responses=CredentialSerializer,
    ),
    partial_update=extend_schema(
        summary="Change a credential (data replaced only when given)",
        request=CredentialUpdateSerializer,
        responses=CredentialSerializer,
    ),
    destroy=extend_schema(summary="Delete a credential"),
)
class CredentialViewSet(APIViewSetMixin, viewsets.ModelViewSet):
    """The signed-in user's API keys, passwords and tokens. ``data`` is write-only:
    responses say only whether it is set, its key version and at most a short hint.
    Rate limited (scope ``integrations_credentials``)."""

    serializer_class = CredentialSerializer
    permission_classes = [IsOwner]
    filterset_class = filters.CredentialFilter
    default_ordering = ("name", "pk")

    def get_queryset(self):
        if self.fake:
            return Credential.objects.none()
        return credentials.list_credentials(self.request.user).order_by(*self.default_ordering)

    def get_serializer_class(self):
        if self.action == "create":
            return CredentialCreateSerializer
        if self.action in ("update", "partial_update"):
            return CredentialUpdateSerializer
        return CredentialSerializer

    def get_throttles(self):
        return [*super().get_throttles(), CredentialsThrottle()]

    def perform_create(self, serializer):
        values = serializer.validated_data
        try:
            credential = credentials.create_credential(
                self.request.user,
                name=values["name"],
                credential_type=values["type"],
                data=values["data"],
                provider=values.get("provider"),
                plugin=values.get("plugin", ""),
                expires_at=values.get("expires_at"),
                ip_address=client_ip(self.request),
            )
        except DjangoValidationError as exc:
            raise _service_error(exc) from None
        serializer.instance = credential

    def perform_update(self, serializer):
        values = {
            name: serializer.validated_data[name]
            for name in ("name", "provider", "plugin", "expires_at", "data")
            if name in serializer.validated_data
        }
        try:
            credential = credentials.update_credential(
                self.request.user,
                serializer.instance,
                ip_address=client_ip(self.request),
                **values,
            )
        except DjangoValidationError as exc:
            raise _service_error(exc) from None
        except Credential.DoesNotExist:
            raise NotFound() from None
        serializer.instance = credential

    def perform_destroy(self, instance):
        try:
            credentials.delete_credential(
                self.request.user, instance, ip_address=client_ip(self.request)
            )
        except Credential.DoesNotExist:
            raise NotFound() from None


# -- audit events ------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Audit events (yours; all with integrations.view_auditevent)"),
    retrieve=extend_schema(summary="One audit event"),
)
class AuditEventViewSet(APIViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Who used or changed which secret, when and why. Read only. A user sees the
    events they caused and those about their own integrations and credentials;
    staff with ``integrations.view_auditevent`` see every event."""

    serializer_class = AuditEventSerializer
    permission_classes = [CanReadAuditEvent]
    filterset_class = filters.AuditEventFilter
    default_ordering = ("-created_at", "pk")

    def get_queryset(self):
        if self.fake:
            return AuditEvent.objects.none()
        user = self.request.user
        queryset = AuditEvent.objects.all()
        if not reads_every_audit_event(user):
            owned = Q(actor=user)
            for model in (Integration, Credential):
                owned_by_user = model.objects.filter(owner=user)  # type: ignore[misc]  # signed in
                ids = [str(pk) for pk in owned_by_user.values_list("pk", flat=True)]
                if ids:
                    owned |= Q(target_type=model._meta.label_lower, target_id__in=ids)
            queryset = queryset.filter(owned)
        return queryset.order_by(*self.default_ordering)


# -- connect sessions ------------------------------------------------------------------


class ConnectSessionViewSet(APIViewSetMixin, viewsets.GenericViewSet):
    """One-time URLs that connect an account from a browser with no session of
    this site (a single-page or mobile app). See the how-to "Connect from a
    single-page or mobile app"."""

    serializer_class = ConnectSessionCreateSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return ConnectSession.objects.none()

    def get_throttles(self):
        return [*super().get_throttles(), ConnectSessionsThrottle()]

    @extend_schema(
        summary="Start a connect session: a one-time URL for a browser",
        description="Answers a one-time URL (and its expiry, CONNECT_SESSION_TTL_SECONDS) "
        "that runs the provider's connect flow for you in a browser that has no session "
        "of this site: OAuth 2, OAuth 1.0a, or a hosted form for API-key, basic and bearer "
        "providers. At the end the browser is sent to return_url with outcome "
        "(connected, denied, failed), integration_id or credential_id and an error code; "
        "in popup mode a page posts the same result to origin with postMessage. "
        "return_url and origin must be in INTEGRATIONS['CONNECT_ALLOWED_ORIGINS'].",
        request=ConnectSessionCreateSerializer,
        responses={
            201: ConnectSessionSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="Unknown provider, an origin not allowed, metadata too large.",
            ),
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many sessions (the integrations_connect_sessions rate).",
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        serializer = ConnectSessionCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        integration = None
        if values.get("integration"):
            integration = (
                Integration.objects.select_related("provider")
                .filter(pk=values["integration"])
                .first()
            )
            if integration is None or integration.owner_id != request.user.pk:
                if integration is not None:
                    audit.record(
                        Action.CONNECT_REFUSED,
                        actor=request.user,
                        target_type=Integration._meta.label_lower,
                        target_id=str(values["integration"]),
                        outcome=AuditEvent.Outcome.DENIED,
                        detail="other_users_integration",
                        ip_address=client_ip(request),
                    )
                raise serializers.ValidationError({"integration": [_("No such integration.")]})
        if values.get("provider"):
            provider = Provider.objects.filter(
                slug=values["provider"], status=Provider.Status.ACTIVE
            ).first()
            if provider is None:
                raise serializers.ValidationError({"provider": [_("Unknown provider.")]})
        else:
            provider = integration.provider  # type: ignore[union-attr]  # validated
        try:
            session, token = connect_sessions.create(
                request.user,
                provider,
                mode=values["mode"],
                return_url=values.get("return_url", ""),
                origin=values.get("origin", ""),
                metadata=values.get("host_metadata"),
                tags=values.get("tags"),
                integration=integration,
                url_values=values.get("url_values"),
                ip_address=client_ip(request),
            )
        except connect_sessions.ConnectSessionError as exc:
            field = {
                "origin_not_allowed": "return_url" if not values.get("origin") else "origin",
                "return_url_required": "return_url",
                "integration_not_found": "integration",
                "integration_provider_mismatch": "integration",
                "metadata_invalid": "metadata",
                "tags_invalid": "tags",
                "url_values_invalid": "url_values",
            }.get(exc.code, "non_field_errors")
            raise serializers.ValidationError({field: [exc.message]}) from None
        session.url = request.build_absolute_uri(
            reverse("integrations:connect-session", args=[token])
        )
        return Response(
            ConnectSessionSerializer(session, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


__all__ = [
    "AuditEventViewSet",
    "ConnectSessionViewSet",
    "CredentialViewSet",
    "IntegrationViewSet",
    "ProviderViewSet",
]
