"""Revoking API tokens: ``POST /api/auth/logout/`` revokes the token the request
carries, ``POST /api/auth/logoutall/`` every token of its user.

knox's views, answering in the API's JSON error shape, revoking through
:mod:`integrations.api.api_tokens` so that each revocation is audited. Tokens
are created with ``manage.py create_api_token`` only, shown once.
"""

from django.contrib.auth.signals import user_logged_out
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.views import LogoutAllView as KnoxLogoutAllView
from knox.views import LogoutView as KnoxLogoutView
from rest_framework.renderers import JSONRenderer

from ..oauth_flow import client_ip
from . import api_tokens, errors
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
        api_tokens.revoke_api_token(
            request.auth, actor=request.user, ip_address=client_ip(request), purpose="logout"
        )
        user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        return self.get_post_response(request)


class LogoutAllView(_TokenView, KnoxLogoutAllView):
    @extend_schema(
        summary="Revoke every API token of the signed-in user",
        request=None,
        responses=_REVOKED,
        tags=["auth"],
    )
    def post(self, request, format=None):
        api_tokens.revoke_api_tokens(
            request.user, actor=request.user, ip_address=client_ip(request), purpose="logoutall"
        )
        user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        return self.get_post_response(request)
