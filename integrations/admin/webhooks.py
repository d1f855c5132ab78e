"""Admin pages for webhooks: the endpoints (the signing secret shown once, on the
page that follows the creation; write-only afterwards) and the delivery log
(read only, with a "Replay" action). Every change goes through
:mod:`integrations.webhooks`, which audits it."""

import json
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import webhooks
from ..models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from .base import ADMIN_CSS, SealedFieldsAdmin, client_ip


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"),
        max_length=2000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 80}),
        help_text=_("https:// to a public address; a 2xx answer within the timeout counts."),
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The event types sent to this endpoint; none checked: every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        if self.instance._state.adding or url != self.instance.url:
            webhooks.validate_url(url)
        return url

    def clean_events(self):
        return webhooks.clean_events(self.cleaned_data.get("events") or [])


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SealedFieldsAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "active", "event_filter", "failing_since", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = ("secret_state", "disabled_reason", "failing_since", "created_by")
    # The re-seal action of the sealed layer stays; nothing here opens the secret.

    @admin.display(description=_("events"))
    def event_filter(self, obj):
        return ", ".join(obj.events) if obj.events else _("every event")

    @admin.display(description=_("signing secret"))
    def secret_state(self, obj):
        if obj.pk is None:
            return _("generated when you save, and shown once")
        return _("set (shown once, when the endpoint was created)") if obj.secret_sealed else "-"

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "events", "active"]
        if obj is not None:
            fields += ["secret_state", "disabled_reason", "failing_since", "created_by"]
        return fields

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in WebhookEndpointForm.Meta.fields}
        try:
            if change:
                webhooks.update_endpoint(
                    obj, actor=request.user, ip_address=client_ip(request), **values
                )
                obj.refresh_from_db()
                return
            endpoint, secret = webhooks.create_endpoint(
                actor=request.user, ip_address=client_ip(request), **values
            )
        except ValidationError as exc:  # changed between the form's check and now
            raise ValueError(exc.messages[0]) from None
        obj.pk = endpoint.pk
        obj._state.adding = False
        obj._state.db = endpoint._state.db
        obj.refresh_from_db()
        request._webhook_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(
            request,
            "admin/integrations/webhookendpoint/secret_once.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "endpoint": obj,
                "secret": secret.reveal(),
                "change_url": reverse("admin:integrations_webhookendpoint_change", args=[obj.pk]),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request, obj):
        webhooks.delete_endpoint(obj, actor=request.user, ip_address=client_ip(request))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read only; "Replay" queues a new attempt of an event."""

    class Media:
        css = ADMIN_CSS

    # Fits 1280 px with the navigation open: the endpoint by its host, the last
    # attempt's number, HTTP status, error code and duration in one column (the next attempt's
    # time is on the delivery's page).
    list_display = (
        "event_type",
        "endpoint_host",
        "status",
        "last_result",
        "created_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("event_id",)
    list_select_related = ("endpoint",)
    actions = ["replay"]
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "occurred_at",
        "payload_json",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_http_status",
        "last_error",
        "duration_ms",
        "replay_of",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("endpoint"), ordering="endpoint__url")
    def endpoint_host(self, obj):
        return urlsplit(obj.endpoint.url).netloc or obj.endpoint.url

    @admin.display(description=_("last attempt"))
    def last_result(self, obj):
        if not obj.last_attempt_at:
            return "-"
        parts = [f"#{obj.attempts}", str(obj.last_http_status or ""), obj.last_error]
        if obj.duration_ms is not None:
            parts.append(f"{obj.duration_ms} ms")
        return " · ".join(part for part in parts if part)

    @admin.display(description=_("payload"))
    def payload_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request):
        return request.user.has_perm("integrations.change_webhookdelivery")

    @admin.action(description=_("Replay selected deliveries"), permissions=["replay"])
    def replay(self, request, queryset):
        queued = refused = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                webhooks.replay(delivery, actor=request.user, ip_address=client_ip(request))
            except ValidationError:
                refused += 1
            else:
                queued += 1
        if queued:
            self.message_user(
                request,
                ngettext("%d replay queued.", "%d replays queued.", queued) % queued,
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%d delivery not replayed: its endpoint is disabled.",
                    "%d deliveries not replayed: their endpoints are disabled.",
                    refused,
                )
                % refused,
                messages.WARNING,
            )
