"""API token authentication: django-rest-knox, with hostile headers refused.

Knox stores only a SHA-512 digest of each token (and its first characters, to
find it), so neither the database, ``dumpdata`` nor the admin holds a usable
token; a token has an expiry and is revoked by deleting its row. This subclass
adds one thing: a token that is not printable ASCII (knox's are hex) is a 401
before knox decodes it or a database is asked about it (a byte that is not
UTF-8 was a 500, and PostgreSQL refuses NUL in a query).
"""

from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def _printable_ascii(raw):
    return all(0x21 <= byte <= 0x7E for byte in raw)


class TokenAuthentication(KnoxTokenAuthentication):
    """``Authorization: Token <token>``."""

    def authenticate_credentials(self, token):
        if not _printable_ascii(token):
            raise AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(token)
