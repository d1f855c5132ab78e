"""E-mail to an integration's owner when it needs to be connected again.

On with ``NOTIFY_REAUTH_BY_EMAIL`` (off by default). The receiver of
``integration_needs_reauth`` renders ``integrations/email/reauth_subject.txt``
and ``reauth_body.txt`` (override them in a project template directory) with
the integration, its provider, the owner, the reason code and the paths of the
connections page and the provider's connect view. Nothing it sends or logs is a
secret: the context holds no token, and the templates get no way to open one.
"""

import logging

from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from .conf import app_settings

logger = logging.getLogger("integrations.notifications")

SUBJECT_TEMPLATE = "integrations/email/reauth_subject.txt"
BODY_TEMPLATE = "integrations/email/reauth_body.txt"


def email_owner_to_reconnect(sender, integration, reason="", **kwargs):
    """Tell the owner their integration needs to be connected again (when on)."""
    if not app_settings.NOTIFY_REAUTH_BY_EMAIL:
        return
    owner = integration.owner
    address = getattr(owner, owner.get_email_field_name(), "")
    if not address:
        return
    provider = integration.provider
    context = {
        "owner": owner,
        "integration_label": integration.audit_label,
        "provider_name": provider.name,
        "reason": reason,
        "connections_path": reverse("integrations:connections"),
        "connect_path": reverse("integrations:connect", args=[provider.slug]),
    }
    subject = " ".join(render_to_string(SUBJECT_TEMPLATE, context).split())
    send_mail(subject, render_to_string(BODY_TEMPLATE, context), None, [address])
    logger.info(
        "Asked the owner of integration %s to connect it again (%s)", integration.pk, reason
    )
