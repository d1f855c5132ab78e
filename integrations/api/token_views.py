"""Revoking API tokens: ``POST /api/auth/logout/`` revokes the token the request
carries, ``POST /api/auth/logoutall/`` every token of its user.

knox's views, answering in the API's JSON error shape. Tokens are created with
``manage.py create_api_token`` (or in the admin), shown once.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework.renderers import JSONRenderer

from . import errors
from .authentication import TokenAuthentication
from .parsers import StrictJSONParser
from .schema import AutoSchema

_REVOKED = {204: OpenApiResponse(description="Revoked.")}


class _TokenView:
    authentication_classes = [TokenAuthentication]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    schema = AutoSchema()

    def get_exception_handler(self):
        return errors.exception_handler


class LogoutView(_TokenView, KnoxLogoutView):
    @extend_schema(
        summary="Revoke the API token of this request",
        request=None,
        responses=_REVOKED,
        tags=["auth"],
    )
    def post(self, request, format=None):
        return super().post(request, format)


class LogoutAllView(_TokenView, KnoxLogoutAllView):
    @extend_schema(
        summary="Revoke every API token of the signed-in user",
        request=None,
        responses=_REVOKED,
        tags=["auth"],
    )
    def post(self, request, format=None):
        return super().post(request, format)
