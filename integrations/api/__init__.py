"""The REST API: DRF serializers, viewsets, permissions, throttles and filters.

Include ``integrations.api.urls`` under ``/api/``. The viewsets are thin: input
is validated by the serializers, and every read or write of a secret goes
through the service layer (:mod:`integrations.credentials`,
:mod:`integrations.tokens`). No response ever carries a secret: only whether it
is set, the version of the key that sealed it and, for long keys, a short hint.
"""
