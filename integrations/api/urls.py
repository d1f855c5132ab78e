"""The REST API; include it under ``/api/``::

    path("api/", include("integrations.api.urls")),

``providers/``, ``integrations/`` (+ ``{id}/refresh/``), ``credentials/``,
``audit-events/``, ``webhook-endpoints/`` and ``webhook-deliveries/``
(staff; + ``{id}/replay/``), ``auth/logout/`` and ``auth/logoutall/`` (revoke API tokens),
the OpenAPI 3 schema at ``schema/`` and Swagger UI at
``docs/`` (its assets come from drf-spectacular-sidecar as static files: no
CDN), both for signed-in users only. Any other path under the prefix is a JSON 404.
"""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import docs, errors, token_views, views, webhooks

app_name = "integrations_api"

router = SimpleRouter()
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("integrations", views.IntegrationViewSet, basename="integration")
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("webhook-endpoints", webhooks.WebhookEndpointViewSet, basename="webhookendpoint")
router.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhookdelivery")

urlpatterns = [
    *router.urls,
    path("auth/logout/", token_views.LogoutView.as_view(), name="logout"),
    path("auth/logoutall/", token_views.LogoutAllView.as_view(), name="logoutall"),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(url_name="integrations_api:schema"), name="docs"),
    re_path(r"^", errors.not_found),
]
