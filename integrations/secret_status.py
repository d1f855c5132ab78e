"""What can be said about a stored secret without opening it.

The header-only logic lives in the sealed layer (:mod:`integrations.sealed.status`),
where fields-only projects' admins use it too; this path stays for the API, the
pages and the admin of the integrations layer.
"""

from .sealed.status import is_set, sealed_key_version, sealed_state, sealed_status

__all__ = ["is_set", "sealed_key_version", "sealed_state", "sealed_status"]
