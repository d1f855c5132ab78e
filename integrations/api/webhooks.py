"""The webhooks' API (staff): endpoints and their delivery log.

``webhook-endpoints/``: list, create, read, change, delete. The signing secret is
in the response to the create, once (``secret``); no other response carries it.
``webhook-deliveries/``: the delivery log, read only, filterable by endpoint,
status and event type; ``webhook-deliveries/{id}/replay/`` queues a new attempt.

Every request takes a staff user holding the model permission the admin would ask
for (``view_``, ``add_``, ``change_``, ``delete_webhookendpoint``; ``view_`` and,
to replay, ``change_webhookdelivery``). Changes go through
:mod:`integrations.webhooks`, which audits them.
"""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from .. import webhooks
from ..models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from ..oauth_flow import client_ip
from .errors import django_error_detail
from .fields import StrictCharField, StrictURLField
from .filters import StrictFilterSet, _choice
from .serializers import StrictModelSerializer, choice_field
from .views import APIViewSetMixin


class IsStaffWithModelPermission(BasePermission):
    """Staff holding ``<app>.<verb>_<model>`` for the request's method."""

    verbs = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add"}
    verbs.update({"PUT": "change", "PATCH": "change", "DELETE": "delete"})

    def has_permission(self, request, view):
        user = getattr(request, "user", None)
        if not (user and user.is_authenticated and user.is_staff):
            return False
        verb = getattr(view, "action_verbs", {}).get(view.action) or self.verbs.get(request.method)
        if verb is None:
            return False
        model = view.get_queryset().model
        return user.has_perm(f"{model._meta.app_label}.{verb}_{model._meta.model_name}")


class WebhookEndpointSerializer(StrictModelSerializer):
    url = StrictURLField(max_length=2000)
    events = serializers.ListField(
        child=choice_field(WebhookEventType.choices),
        required=False,
        max_length=len(WebhookEventType.choices),
        help_text="The event types sent to this endpoint; empty: every event.",
    )
    description = StrictCharField(max_length=255, required=False, allow_blank=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "disabled_reason",
            "failing_since",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "disabled_reason",
            "failing_since",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def validate_url(self, value):
        """https:// to a public address (see integrations.webhooks.check_url)."""
        if self.instance is None or value != self.instance.url:
            try:
                webhooks.validate_url(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages, code=exc.code) from None
        return value


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_...): shown in this response only. "
        "Verify each request with it (Standard Webhooks).",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    status = choice_field(WebhookDelivery.Status.choices, read_only=True)
    event_type = choice_field(WebhookEventType.choices, read_only=True)
    payload = serializers.DictField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "occurred_at",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_http_status",
            "last_error",
            "duration_ms",
            "replay_of",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookDeliveryFilter(StrictFilterSet):
    status = _choice(WebhookDelivery.Status.choices)
    event_type = _choice(WebhookEventType.choices)
    endpoint = django_filters.UUIDFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "endpoint"]


def _validation_error(exc):
    return serializers.ValidationError(django_error_detail(exc))


@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints (staff)"),
    retrieve=extend_schema(summary="A webhook endpoint (staff)"),
    create=extend_schema(
        summary="Add a webhook endpoint (staff); its signing secret is in this response only",
        responses={201: WebhookEndpointCreatedSerializer},
    ),
    update=extend_schema(summary="Replace a webhook endpoint (staff)"),
    partial_update=extend_schema(summary="Change a webhook endpoint (staff)"),
    destroy=extend_schema(summary="Delete a webhook endpoint and its delivery log (staff)"),
)
class WebhookEndpointViewSet(APIViewSetMixin, viewsets.ModelViewSet):
    """Where the host application hears about integration events. The signing
    secret is returned once, by the create; never afterwards."""

    serializer_class = WebhookEndpointSerializer
    permission_classes = [IsStaffWithModelPermission]
    default_ordering = ("-created_at", "pk")

    def get_queryset(self):
        return WebhookEndpoint.objects.order_by(*self.default_ordering)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        try:
            endpoint, secret = webhooks.create_endpoint(
                url=values["url"],
                events=values.get("events", []),
                description=values.get("description", ""),
                active=values.get("active", True),
                actor=request.user,
                ip_address=client_ip(request),
            )
        except DjangoValidationError as exc:
            raise _validation_error(exc) from None
        body = WebhookEndpointSerializer(endpoint).data
        body["secret"] = secret.reveal()
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    def perform_update(self, serializer):
        try:
            webhooks.update_endpoint(
                serializer.instance,
                actor=self.request.user,
                ip_address=client_ip(self.request),
                **serializer.validated_data,
            )
        except DjangoValidationError as exc:
            raise _validation_error(exc) from None
        serializer.instance.refresh_from_db()

    def perform_destroy(self, instance):
        webhooks.delete_endpoint(
            instance, actor=self.request.user, ip_address=client_ip(self.request)
        )


@extend_schema_view(
    list=extend_schema(summary="The webhook delivery log (staff)"),
    retrieve=extend_schema(summary="One webhook delivery (staff)"),
)
class WebhookDeliveryViewSet(
    APIViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Each event sent (or to send) to an endpoint, and how it went. Read only;
    ``replay`` queues a new attempt of an event (same ``webhook-id``)."""

    serializer_class = WebhookDeliverySerializer
    permission_classes = [IsStaffWithModelPermission]
    filterset_class = WebhookDeliveryFilter
    default_ordering = ("-created_at", "pk")
    action_verbs = {"replay": "change"}

    def get_queryset(self):
        return WebhookDelivery.objects.order_by(*self.default_ordering)

    @extend_schema(
        summary="Replay a delivery: queue a new attempt of its event (staff)",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        delivery = self.get_object()
        try:
            new = webhooks.replay(delivery, actor=request.user, ip_address=client_ip(request))
        except DjangoValidationError as exc:
            raise _validation_error(exc) from None
        return Response(WebhookDeliverySerializer(new).data, status=status.HTTP_202_ACCEPTED)
