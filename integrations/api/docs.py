"""The OpenAPI schema and Swagger UI, for signed-in users only.

drf-spectacular serves both to anyone by default; here they ask for the same
authentication as every other endpoint under the prefix (anonymous: a JSON
401). Their pages are YAML or HTML, but their errors and ``OPTIONS`` answers
use the API's JSON (the HTML renderer cannot render either: ``OPTIONS`` on the
Swagger UI used to be a 500).
"""

from typing import TYPE_CHECKING

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from . import errors

if TYPE_CHECKING:
    _ViewBase = APIView  # what the mixin is mixed into, so that super() type-checks
else:
    _ViewBase = object


def _answer_in_json(request):
    request.accepted_renderer = JSONRenderer()
    request.accepted_media_type = JSONRenderer.media_type


class _SignedInOnly(_ViewBase):
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self):
        return errors.exception_handler

    def handle_exception(self, exc):
        _answer_in_json(self.request)
        return super().handle_exception(exc)

    def options(self, request, *args, **kwargs):
        _answer_in_json(request)
        return super().options(request, *args, **kwargs)


class SchemaView(_SignedInOnly, SpectacularAPIView):
    """The OpenAPI 3 document (YAML, or JSON by content negotiation)."""


class SwaggerView(_SignedInOnly, SpectacularSwaggerView):
    """Swagger UI, its assets served as static files (no CDN)."""
