"""OpenAPI details drf-spectacular cannot infer.

* :class:`AutoSchema` documents the error responses every operation can give,
  all with the one error body (:class:`~.serializers.ErrorSerializer`).
* API tokens (:mod:`.authentication`, knox) are the ``tokenAuth`` scheme.
* The credential create body is documented per type (``oneOf``), so clients and
  fuzzers know which keys ``data`` needs for ``api_key``, ``basic`` and
  ``bearer`` credentials.
"""

import copy
from typing import Any

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from ..credentials import REQUIRED_KEYS
from .serializers import ErrorSerializer, SecretStatusSerializer

_DESCRIPTIONS = {
    "400": "Invalid input: `error.fields` names each field (never its value).",
    "401": "Not signed in (session) and no valid `Authorization: Token ...`.",
    "403": "Signed in but not allowed.",
    "404": "Not found, or not yours.",
    "409": "Conflicts with the current state (a name in use, a revoked integration...).",
    "413": "The body is larger than the server accepts (`DATA_UPLOAD_MAX_MEMORY_SIZE`).",
    "415": "The body is not JSON.",
    "429": "Rate limited; `Retry-After` says when to try again.",
    "502": "The provider could not be reached or failed; nothing was lost.",
    "503": "The cache or the database is down; nothing was done. `Retry-After` says "
    "when to try again.",
}


class AutoSchema(SpectacularAutoSchema):
    """Adds the documented error responses to every operation."""

    def _error_statuses(self):
        statuses = ["401", "403"]
        has_id = "{" in self.path
        writes = self.method in ("POST", "PUT", "PATCH")
        if writes or self._is_list_view():
            statuses.append("400")
        if has_id or self._is_list_view():
            statuses.append("404")  # a list's page past the end is a 404 too
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            statuses.append("409")
        if writes:
            statuses.extend(["413", "415"])
        throttles = self.view.get_throttles() if hasattr(self.view, "get_throttles") else []
        if throttles:
            statuses.append("429")
        statuses.append("503")  # any request may meet a database (or cache) outage
        return statuses

    def _get_filter_parameters(self):
        parameters = super()._get_filter_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if schema.get("type") == "array":
                # "?ordering=" is refused: an empty list would read the same as [""].
                schema["minItems"] = 1
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response" or getattr(self.view, "schema_without_errors", False):
            return responses
        for status in self._error_statuses():
            if status not in responses:
                response = self._get_response_for_code(ErrorSerializer, status, direction=direction)
                response["description"] = _DESCRIPTIONS[status]
                responses[status] = response
        return responses


def _data_schema(required_keys):
    schema: dict[str, Any] = {
        "type": "object",
        "writeOnly": True,
        "minProperties": 1,
        "additionalProperties": {},
        "description": "Write-only secret data; never returned.",
    }
    if required_keys:
        schema["properties"] = {
            key: {"type": "string", "minLength": 1, "writeOnly": True} for key in required_keys
        }
        schema["required"] = list(required_keys)
    else:
        schema["description"] += " Any keys of 1 to 100 characters."
    return schema


class CredentialCreateSchema(OpenApiSerializerExtension):
    """``oneOf`` one component per credential type, each with its ``data`` keys,
    told apart by ``type`` (a discriminator)."""

    target_class = "integrations.api.serializers.CredentialCreateSerializer"

    def map_serializer(self, auto_schema, direction):
        base = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return base
        refs, mapping = [], {}
        for credential_type, required_keys in REQUIRED_KEYS.items():
            variant = copy.deepcopy(base)
            variant["properties"]["type"] = {"type": "string", "enum": [str(credential_type)]}
            variant["properties"]["data"] = _data_schema(required_keys)
            title = "".join(part.title() for part in str(credential_type).split("_"))
            component = ResolvedComponent(
                name=f"{title}CredentialCreateRequest",
                type=ResolvedComponent.SCHEMA,
                object=f"{title}CredentialCreateRequest",
                schema=variant,
            )
            auto_schema.registry.register_on_missing(component)
            refs.append(component.ref)
            mapping[str(credential_type)] = component.ref["$ref"]
        return {"oneOf": refs, "discriminator": {"propertyName": "type", "mapping": mapping}}


class SecretStatusFieldSchema(OpenApiSerializerFieldExtension):
    """A secret's status is the ``SecretStatus`` component (read only)."""

    target_class = "integrations.api.serializers.SecretStatusField"

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(SecretStatusSerializer, "response")
        return {"allOf": [component.ref], "readOnly": True}


class TokenScheme(KnoxTokenScheme):
    """``Authorization: Token <token>`` (knox, with hostile headers refused)."""

    target_class = "integrations.api.authentication.TokenAuthentication"
    name = "tokenAuth"
