"""Admin pages for providers, integrations, credentials and the audit log.

The admin never shows a secret and never reads one. What it shows about a secret
comes from the stored sealed string alone (``<field>_sealed``): whether it is set,
the version of the key that sealed it, or that it is legacy plaintext; for a
credential also the ``hint`` the service layer computed. The plaintext
attributes (``provider.client_secret``, ``integration.access_token``,
``credential.data``...) are never touched here, so no page decrypts anything.

Secrets go *in* through write-only inputs that are never rendered with a value
(neither the stored one nor the one just posted), and are written by the
service layer (:mod:`integrations.credential_store`), which audits every change. The
sealed model fields are kept out of every ModelForm, so they are neither form
initial values nor part of the admin history, which names changed fields only.

One module a model: :mod:`.providers`, :mod:`.connected_accounts` (integrations),
:mod:`.credentials`, :mod:`.audit_log`, :mod:`.webhooks`; what they share is :mod:`.base`.
Importing this package registers them all (Django's admin autodiscovery does).

In a fields-only project (``integrations.sealed`` without ``integrations``) there is
nothing here to register: importing the package then fails at once with the path
of the admin mixin it offers (``integrations.sealed.admin``), instead of Django's
"Model class ... doesn't declare an explicit app_label" from deep in our models.
"""

from django.apps import apps
from django.contrib import admin

if not apps.is_installed("integrations"):
    raise ImportError(
        'integrations.admin is the integrations app\'s admin, and "integrations" is not in '
        "INSTALLED_APPS. For your own models' admin in fields-only mode: "
        "from integrations.sealed.admin import SealedFieldsAdminMixin"
    )

from ..sealed.admin import SealedFieldsAdminMixin  # noqa: E402  (the natural guess works too)
from ..secret_status import sealed_status
from .audit_log import AuditEventAdmin
from .base import SealedFieldsAdmin
from .connected_accounts import IntegrationAdmin
from .credentials import CredentialAdmin
from .providers import ProviderAdmin
from .webhooks import WebhookDeliveryAdmin, WebhookEndpointAdmin

__all__ = [
    "AuditEventAdmin",
    "CredentialAdmin",
    "IntegrationAdmin",
    "ProviderAdmin",
    "SealedFieldsAdmin",
    "SealedFieldsAdminMixin",
    "WebhookDeliveryAdmin",
    "WebhookEndpointAdmin",
    "sealed_status",
]

# -- API tokens (with the REST API) ---------------------------------------------

if apps.is_installed("knox"):
    from ..api.token_admin import replace_knox_admin

    replace_knox_admin(admin.site)
