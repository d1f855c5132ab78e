"""The demo OAuth 1.0a server's records (Authlib's client and token mixins).

A real provider's side of OAuth 1.0a: it must know its clients' shared secrets
(or RSA public keys) and its issued token secrets to verify signatures. They are
the very values the site's Provider and Integration keep sealed, so the demo
server seals them too, with the package's own fields: no dump or admin page of a
project running the demo holds a live copy in clear (issue 23, item 11). The
issued token is found by its blind index (``searchable=True``), which is how
Authlib's ``objects.get(oauth_token=...)`` keeps working. Demo and tests only;
never part of the reusable app.
"""

from authlib.oauth1 import ClientMixin, TokenCredentialMixin
from django.conf import settings
from django.db import models

from integrations.fields import EncryptedTokenField


class OAuth1Client(ClientMixin, models.Model):
    name = models.CharField(max_length=100, unique=True)
    client_id = models.CharField(max_length=64, unique=True)
    client_secret = EncryptedTokenField(
        purpose="demo_provider.oauth1client.client_secret", blank=True
    )
    rsa_public_key = models.TextField(blank=True)
    # Callback URLs this client may use, space separated (a request token whose
    # oauth_callback is not one of them is refused).
    redirect_uris = models.TextField(blank=True)

    def __str__(self):
        return self.name

    def get_default_redirect_uri(self):
        return (self.redirect_uris.split() or [""])[0]

    def get_client_secret(self):
        return self.client_secret

    def get_rsa_public_key(self):
        return self.rsa_public_key


class OAuth1Token(TokenCredentialMixin, models.Model):
    client_id = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    oauth_token = EncryptedTokenField(
        purpose="demo_provider.oauth1token.oauth_token", searchable=True, unique=True
    )
    oauth_token_secret = EncryptedTokenField(purpose="demo_provider.oauth1token.oauth_token_secret")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"token of {self.user_id} for {self.client_id}"

    def get_oauth_token(self):
        return self.oauth_token

    def get_oauth_token_secret(self):
        return self.oauth_token_secret
