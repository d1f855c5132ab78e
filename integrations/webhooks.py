"""Signed webhooks to the host application's own services.

What happens to an integration or a credential (the signals of
:mod:`integrations.signals`) and every finished key rotation becomes an *event*;
each active :class:`~integrations.models.WebhookEndpoint` that wants its type gets
a :class:`~integrations.models.WebhookDelivery`, written in the same transaction
as the change (an outbox: no change without its events, no event without its
change). After the commit a task engine delivers it (``WEBHOOK_TASK_ENGINE``:
Celery or Django's tasks framework; :mod:`integrations.tasks`), and the periodic
sweep (:func:`deliver_due`, the ``deliver_webhooks`` command) delivers whatever is
due: new events the engine did not take, and retries.

Delivery:

* The body is ``{"type", "timestamp", "data"}`` as compact JSON; ``data`` holds
  ids, a provider slug, an owner id, a status and an error code -- never a secret,
  a token, a credential's hint or anything typed into a secret's field.
* Signed as Standard Webhooks says (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``) with the endpoint's sealed ``whsec_`` secret, by the
  ``standardwebhooks`` package. ``webhook-id`` is the event's id, the same on
  every attempt and every replay, so receivers can drop duplicates.
* The URL is checked before every attempt (:func:`check_url`): https only, and
  every address its name resolves to must be public (not private, loopback,
  link-local, shared, multicast or reserved) unless ``WEBHOOK_ALLOW_PRIVATE_URLS``
  (development and tests; it also allows http:// to such addresses). The request
  goes to the address that was checked (pinned: TLS still verifies the name), so
  a second DNS answer cannot point it elsewhere. Redirects are never followed: a
  3xx is a failed attempt.
* A 2xx within ``WEBHOOK_TIMEOUT_SECONDS`` is a success. Anything else is retried
  after the waits of ``WEBHOOK_RETRY_SCHEDULE_SECONDS`` (5 s, 5 min, 30 min, 2 h,
  5 h, 10 h, 10 h: eight attempts over about 28 hours), then the delivery is
  ``failed``. An endpoint whose attempts have all failed for
  ``WEBHOOK_DISABLE_AFTER_SECONDS`` (a day) is disabled: an error is logged, the
  admins get an e-mail (``mail_admins``) and its pending deliveries are
  ``abandoned``.
* Exactly one worker attempts a delivery at a time: a worker claims it with a
  conditional UPDATE (after ``SELECT ... FOR UPDATE SKIP LOCKED`` on databases
  that have it, so workers never wait on each other's rows), which also moves
  ``next_attempt_at`` past the attempt's timeout. A worker that dies mid-attempt
  leaves the claim to run out; the delivery is then attempted again (at least
  once: receivers deduplicate on ``webhook-id``).
"""

import base64
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.mail import mail_admins
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks import Webhook

from . import audit, signals
from .crypto import CryptoError
from .models import AuditEvent, WebhookDelivery, WebhookEndpoint, WebhookEventType
from .redaction import Secret

logger = logging.getLogger("integrations.webhooks")

Action = AuditEvent.Action
Status = WebhookDelivery.Status
EVENT_TYPES = tuple(WebhookEventType.values)
USER_AGENT = "sealed-integrations-webhooks"
# A claim outlives the attempt's timeout by this much before another worker may retry.
CLAIM_MARGIN_SECONDS = 60


def _settings():
    from .conf import app_settings

    return app_settings


# -- the endpoints' URLs ----------------------------------------------------------


class WebhookURLRefused(ValueError):
    """A webhook URL that is not sent to; ``code`` says why (never the URL)."""

    def __init__(self, code, message):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the checked address, and the name TLS verifies."""

    scheme: str
    host: str
    port: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    path: str

    @property
    def host_header(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def pinned_url(self):
        address = self.address
        if address is None:
            raise WebhookURLRefused("unresolved", "the webhook URL's host was not resolved")
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def _public(address):
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _resolve(host, port):
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookURLRefused("dns_failed", "the webhook URL's host does not resolve") from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise WebhookURLRefused("dns_failed", "the webhook URL's host does not resolve")
    return addresses


def check_url(url, *, resolve=True):
    """The :class:`Target` of ``url``, or :class:`WebhookURLRefused`.

    ``resolve=False`` checks what the URL says alone (a name is not looked up).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookURLRefused("bad_url", "not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise WebhookURLRefused("https_required", "webhook URLs must be https://")
    host = parts.hostname
    if not host:
        raise WebhookURLRefused("bad_url", "the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookURLRefused("credentials_in_url", "a webhook URL cannot carry credentials")
    port = port or (443 if scheme == "https" else 80)
    allow_private = _settings().WEBHOOK_ALLOW_PRIVATE_URLS
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _resolve(host, port) if resolve else []
    private = [address for address in addresses if not _public(address)]
    if private and not allow_private:
        raise WebhookURLRefused(
            "private_address",
            "the webhook URL's host is a private, loopback, link-local or reserved address",
        )
    if scheme == "http" and not (allow_private and addresses and len(private) == len(addresses)):
        raise WebhookURLRefused("https_required", "webhook URLs must be https://")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port, addresses[0] if addresses else None, path)


def validate_url(url):
    """Check a URL an endpoint is given (ValidationError). A name that does not
    resolve now is accepted: every attempt checks it again."""
    try:
        check_url(url)
    except WebhookURLRefused as exc:
        if exc.code != "dns_failed":
            raise ValidationError(str(exc), code=exc.code) from None
        try:
            check_url(url, resolve=False)
        except WebhookURLRefused as again:
            raise ValidationError(str(again), code=again.code) from None


def clean_events(events):
    """The event filter as a sorted list of known types (ValidationError)."""
    if isinstance(events, str) or not isinstance(events, Iterable):
        raise ValidationError("events must be a list of event types", code="invalid")
    events = list(events)
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            "unknown event type(s): %(unknown)s",
            code="unknown_event",
            params={"unknown": ", ".join(sorted(map(str, unknown)))[:200]},
        )
    return sorted(set(events))


# -- the endpoints ------------------------------------------------------------------


def generate_secret():
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _actor(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


@sensitive_variables()
@transaction.atomic
def create_endpoint(
    *, url, events=(), description="", active=True, actor=None, ip_address=None
) -> tuple[WebhookEndpoint, Secret]:
    """A new endpoint and its signing secret: the only time the secret is shown.

    The secret is a :class:`Secret` (``reveal()`` it once, for whoever configures
    the receiver); the endpoint keeps it sealed. Audited.
    """
    validate_url(url)
    secret = generate_secret()
    endpoint = WebhookEndpoint(
        url=url,
        events=clean_events(events),
        description=description,
        active=active,
        created_by=_actor(actor),
    )
    endpoint.secret = secret
    endpoint.full_clean(exclude=["secret"])
    endpoint.save()
    audit.record(Action.CREATE, actor=actor, target=endpoint, ip_address=ip_address)
    return endpoint, Secret(secret)


@transaction.atomic
def update_endpoint(endpoint, *, actor=None, ip_address=None, **changes) -> WebhookEndpoint:
    """Change ``url``, ``events``, ``description`` or ``active`` (audited, naming
    the fields). Turning an endpoint on again clears why it was disabled."""
    unknown = set(changes) - {"url", "events", "description", "active"}
    if unknown:
        raise TypeError(f"cannot change {', '.join(sorted(unknown))}")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "url" in changes and changes["url"] != endpoint.url:
        validate_url(changes["url"])
    if "events" in changes:
        changes["events"] = clean_events(changes["events"])
    changed = sorted(name for name, value in changes.items() if getattr(endpoint, name) != value)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if "active" in changed and endpoint.active:
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
    if not changed:
        return endpoint
    endpoint.full_clean(exclude=["secret"])
    endpoint.save()
    audit.record(
        Action.UPDATE,
        actor=actor,
        target=endpoint,
        detail=f"changed: {', '.join(changed)}",
        ip_address=ip_address,
    )
    return endpoint


@transaction.atomic
def delete_endpoint(endpoint, *, actor=None, ip_address=None):
    """Delete an endpoint and its delivery log (audited)."""
    audit.record(Action.DELETE, actor=actor, target=endpoint, ip_address=ip_address)
    endpoint.delete()


# -- events -------------------------------------------------------------------------


def _id(value):
    return value if isinstance(value, int) else str(value)


def _integration_data(integration, **extra):
    return {
        "integration_id": str(integration.pk),
        "provider": integration.provider.slug,
        "owner_id": _id(integration.owner_id),
        "status": integration.status,
        **extra,
    }


def _credential_data(credential, pk=None, **extra):
    provider = credential.provider
    return {
        "credential_id": str(pk or credential.pk),
        "owner_id": _id(credential.owner_id),
        "credential_type": credential.credential_type,
        "provider": provider.slug if provider is not None else None,
        **extra,
    }


def record_event(event_type, data, *, occurred_at=None):
    """Queue ``event_type`` with ``data`` (JSON, never a secret) for every active
    endpoint that wants it; delivered once the current transaction commits.
    Returns the deliveries created."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if e.wants(event_type)]
    if not endpoints:
        return []
    now = timezone.now()
    event_id = f"msg_{uuid.uuid4().hex}"
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event_type=event_type,
                occurred_at=occurred_at or now,
                payload=data,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    )
    _dispatch_on_commit([delivery.pk for delivery in deliveries])
    return deliveries


def on_change_recorded(sender, *, change, instance, **kwargs):
    """Receiver of :data:`signals.change_recorded`: the event of a change, written
    in its transaction."""
    event = None
    signal = change
    if signal is signals.integration_connected:
        event = WebhookEventType.INTEGRATION_CONNECTED
        data = _integration_data(instance, reconnected=not kwargs.get("created", True))
    elif signal is signals.integration_refreshed:
        event = WebhookEventType.INTEGRATION_REFRESHED
        data = _integration_data(instance)
    elif signal is signals.integration_refresh_failed:
        event = WebhookEventType.INTEGRATION_REFRESH_FAILED
        data = _integration_data(instance, error_code=str(kwargs.get("reason") or "")[:100])
    elif signal is signals.integration_needs_reauth:
        event = WebhookEventType.INTEGRATION_NEEDS_REAUTH
        data = _integration_data(instance, error_code=str(kwargs.get("reason") or "")[:100])
    elif signal is signals.integration_disconnected:
        event = WebhookEventType.INTEGRATION_DISCONNECTED
        data = _integration_data(instance)
    elif signal is signals.credential_created:
        event = WebhookEventType.CREDENTIAL_CREATED
        data = _credential_data(instance)
    elif signal is signals.credential_updated:
        event = WebhookEventType.CREDENTIAL_UPDATED
        data = _credential_data(
            instance, secret_replaced=bool(kwargs.get("secret_replaced", False))
        )
    elif signal is signals.credential_deleted:
        event = WebhookEventType.CREDENTIAL_DELETED
        data = _credential_data(instance, pk=kwargs.get("credential_id"))
    if event is not None:
        record_event(event, data)


def on_reseal_run(sender, *, command, reports, dry_run, completed, stopped_by="", **kwargs):
    """Receiver of ``reseal_run_finished``: ``keys.rotation_finished`` for every run
    of ``rotate_keys`` / ``encrypt_legacy`` that was not a dry run."""
    if dry_run:
        return
    record_event(
        WebhookEventType.KEYS_ROTATION_FINISHED,
        {
            "command": str(command),
            "completed": bool(completed),
            "stopped_by": str(stopped_by or ""),
            "columns": [f"{r.model}.{r.field}" for r in reports][:100],
            "resealed": sum(r.resealed for r in reports),
            "current": sum(r.current for r in reports),
            "remaining": sum(r.remaining for r in reports),
            "unreadable": sum(len(r.unreadable) for r in reports),
        },
    )


# -- the task engines -----------------------------------------------------------------

_ENGINES: dict[str, Callable[[str], Any]] = {}


def register_task_engine(name, enqueue):
    """``enqueue(delivery_id)`` queues one delivery on the engine ``name``
    (:mod:`integrations.tasks` registers "celery" and "django")."""
    _ENGINES[name] = enqueue


def _dispatch_on_commit(pks):
    engine = _settings().WEBHOOK_TASK_ENGINE
    if engine is None or not pks:
        return
    enqueue = _ENGINES.get(engine)
    if enqueue is None:  # check E060 says so at startup; the sweep delivers it
        logger.error(
            "WEBHOOK_TASK_ENGINE %r is not available; webhook deliveries wait for the sweep",
            engine,
        )
        return

    def dispatch():
        for pk in pks:
            try:
                enqueue(str(pk))
            except Exception as exc:  # the broker is down: the sweep delivers it
                logger.error(
                    "Webhook delivery %s was not queued on %s (%s); the sweep delivers it",
                    pk,
                    engine,
                    type(exc).__name__,
                )

    transaction.on_commit(dispatch, using=router.db_for_write(WebhookDelivery))


# -- delivery -----------------------------------------------------------------------------


def retry_schedule():
    schedule = _settings().WEBHOOK_RETRY_SCHEDULE_SECONDS
    if not all(
        isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0
        for wait in schedule
    ):
        raise ImproperlyConfigured(
            "INTEGRATIONS['WEBHOOK_RETRY_SCHEDULE_SECONDS'] must be a list of seconds >= 0"
        )
    return list(schedule)


def _claim(pk=None, *, now=None):
    """Claim one due delivery (``pk``'s, or the longest due) for this worker:
    the claimed row with its endpoint, or None when none is due and unclaimed."""
    db = router.db_for_write(WebhookDelivery)
    skip_locked = connections[db].features.has_select_for_update_skip_locked
    now = now or timezone.now()
    lease = uuid.uuid4()
    until = now + timedelta(seconds=_settings().WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)
    for _ in range(50):  # another worker took the row we saw: look again
        due = WebhookDelivery.objects.using(db).filter(
            status=Status.PENDING, next_attempt_at__lte=now
        )
        if pk is not None:
            due = due.filter(pk=pk)
        # Without SKIP LOCKED (SQLite) the conditional UPDATE alone decides, outside
        # a transaction: a read that must upgrade to a write would fail at once.
        with transaction.atomic(using=db) if skip_locked else nullcontext():
            if skip_locked:
                due = due.select_for_update(skip_locked=True)
            seen = due.order_by("next_attempt_at", "pk").values_list("pk", "next_attempt_at")
            row = seen.first()
            if row is None:
                return None
            claimed = (
                WebhookDelivery.objects.using(db)
                .filter(pk=row[0], status=Status.PENDING, next_attempt_at=row[1])
                .update(
                    lease=lease,
                    next_attempt_at=until,
                    attempts=F("attempts") + 1,
                    last_attempt_at=now,
                    updated_at=now,
                )
            )
        if claimed:
            return WebhookDelivery.objects.using(db).select_related("endpoint").get(pk=row[0])
    return None


def body_of(delivery):
    """The request body of ``delivery``: the same bytes on every attempt."""
    return json.dumps(
        {
            "type": delivery.event_type,
            "timestamp": delivery.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": delivery.payload,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


@sensitive_variables()
def signed_headers(endpoint, delivery, body, *, now=None):
    """The Standard Webhooks headers of one attempt, signed with the endpoint's secret."""
    now = now or timezone.now()
    signature = Webhook(endpoint.secret).sign(delivery.event_id, now, body)
    return {
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _post(target, body, headers):
    """POST ``body`` to the checked address; the answer's status code. Its body is
    never read: a receiver cannot make a worker download anything."""
    timeout = _settings().WEBHOOK_TIMEOUT_SECONDS
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        with client.stream(
            "POST",
            target.pinned_url,
            content=body.encode("utf-8"),
            headers={**headers, "host": target.host_header},
            extensions=extensions,
        ) as response:
            return response.status_code


@dataclass
class Attempt:
    succeeded: bool
    http_status: int | None
    error: str
    duration_ms: int


@sensitive_variables()
def _attempt(delivery) -> Attempt:
    started = time.monotonic()
    http_status, error = None, ""
    try:
        target = check_url(delivery.endpoint.url)
        body = body_of(delivery)
        headers = signed_headers(delivery.endpoint, delivery, body)
        http_status = _post(target, body, headers)
        if 300 <= http_status < 400:
            error = "redirect_refused"
        elif not 200 <= http_status < 300:
            error = "http_error"
    except WebhookURLRefused as exc:
        error = f"url_refused:{exc.code}"
    except CryptoError:
        error = "secret_unreadable"
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as exc:
        error = f"connection_failed:{type(exc).__name__}"
    except Exception as exc:  # recorded like any failure, so the schedule still applies
        logger.error("Webhook delivery %s failed unexpectedly: %s", delivery.pk, type(exc).__name__)
        error = f"unexpected:{type(exc).__name__}"
    duration = int((time.monotonic() - started) * 1000)
    return Attempt(not error, http_status, error[:100], duration)


def _finish(delivery, attempt, *, now):
    """Store ``attempt``'s outcome while the claim is ours; the delivery's status."""
    db = router.db_for_write(WebhookDelivery)
    endpoint = delivery.endpoint
    values = {
        "lease": None,
        "last_http_status": attempt.http_status,
        "last_error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "updated_at": now,
    }
    if attempt.succeeded:
        values.update(status=Status.SUCCEEDED, next_attempt_at=None)
    else:
        schedule = retry_schedule()
        if delivery.attempts > len(schedule):
            values.update(status=Status.FAILED, next_attempt_at=None)
        else:
            wait = schedule[delivery.attempts - 1]
            values.update(status=Status.PENDING, next_attempt_at=now + timedelta(seconds=wait))
    disabled_since = None
    with transaction.atomic(using=db):
        ours = (
            WebhookDelivery.objects.using(db)
            .filter(pk=delivery.pk, lease=delivery.lease, status=Status.PENDING)
            .update(**values)
        )
        if not ours:
            return None  # abandoned (the endpoint was disabled) or reclaimed meanwhile
        endpoints = WebhookEndpoint.objects.using(db).filter(pk=endpoint.pk)
        if attempt.succeeded:
            endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        else:
            endpoints.filter(failing_since__isnull=True).update(failing_since=now)
            limit = _settings().WEBHOOK_DISABLE_AFTER_SECONDS
            since = endpoints.values_list("failing_since", flat=True).first()
            if since is not None and now - since >= timedelta(seconds=limit):
                disabled_since = since
                _disable(db, endpoint, since, attempt.error, now)
    if disabled_since is not None:
        _announce_disabled(endpoint, disabled_since, attempt.error)
    return values["status"]


def _disable(db, endpoint, since, error, now):
    reason = f"every delivery attempt failed since {since:%Y-%m-%d %H:%M} UTC (last: {error})"
    changed = (
        WebhookEndpoint.objects.using(db)
        .filter(pk=endpoint.pk, active=True)
        .update(active=False, disabled_reason=reason[:255], updated_at=now)
    )
    if changed:
        WebhookDelivery.objects.using(db).filter(endpoint=endpoint, status=Status.PENDING).update(
            status=Status.ABANDONED,
            lease=None,
            next_attempt_at=None,
            last_error="endpoint_disabled",
            updated_at=now,
        )
        audit.record(
            Action.UPDATE,
            target=endpoint,
            outcome=AuditEvent.Outcome.FAILURE,
            detail=f"disabled: {reason}",
        )


def _announce_disabled(endpoint, since, error):
    # The endpoint's id and host only: a URL's path or query may hold a token.
    host = urlsplit(endpoint.url).hostname or "?"
    logger.error(
        "Webhook endpoint %s (%s) disabled: every delivery attempt failed since %s (last: %s)",
        endpoint.pk,
        host,
        since.isoformat(),
        error,
    )
    try:
        mail_admins(
            f"Webhook endpoint {host} disabled",
            f"The webhook endpoint {endpoint.pk} ({host}) was disabled: every delivery attempt "
            f"has failed since {since.isoformat()} (last error: {error}). Its pending deliveries "
            "were abandoned. Fix the receiver, turn the endpoint on again in the admin, and "
            "replay the deliveries it missed.",
        )
    except Exception as exc:  # the log line above still tells
        logger.error(
            "The e-mail about webhook endpoint %s failed: %s", endpoint.pk, type(exc).__name__
        )


def _deliver_claimed(delivery):
    now = timezone.now
    if not delivery.endpoint.active:
        attempt = Attempt(False, None, "endpoint_disabled", 0)
        db = router.db_for_write(WebhookDelivery)
        WebhookDelivery.objects.using(db).filter(pk=delivery.pk, lease=delivery.lease).update(
            status=Status.ABANDONED,
            lease=None,
            next_attempt_at=None,
            last_error=attempt.error,
            updated_at=now(),
        )
        return str(Status.ABANDONED)
    attempt = _attempt(delivery)
    status = _finish(delivery, attempt, now=now())
    if status is None:
        return "lost"
    if status == Status.PENDING:
        return "retry"
    return str(status)


def deliver(delivery_id):
    """Attempt ``delivery_id`` now if it is due and no other worker has it: its
    outcome ("succeeded", "retry", "failed", "abandoned"), or "skipped"."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    return _deliver_claimed(delivery)


def deliver_due(*, limit=100):
    """Attempt up to ``limit`` due deliveries, oldest due first; counts per outcome.
    Safe in any number of workers at once: each attempt is made by one."""
    counts: Counter[str] = Counter()
    for _ in range(limit):
        delivery = _claim()
        if delivery is None:
            break
        counts[_deliver_claimed(delivery)] += 1
    return dict(counts)


@transaction.atomic
def replay(delivery, *, actor=None, ip_address=None) -> WebhookDelivery:
    """Queue a new delivery of ``delivery``'s event (same ``webhook-id`` and body)
    to its endpoint, audited. An inactive endpoint refuses (ValidationError)."""
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    if not endpoint.active:
        raise ValidationError(
            "the endpoint is disabled: turn it on before replaying", code="endpoint_inactive"
        )
    now = timezone.now()
    new = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        occurred_at=delivery.occurred_at,
        payload=delivery.payload,
        next_attempt_at=now,
        replay_of=delivery,
    )
    audit.record(
        Action.UPDATE,
        actor=actor,
        target=delivery,
        detail=f"replay queued as delivery {new.pk}",
        ip_address=ip_address,
    )
    _dispatch_on_commit([new.pk])
    return new


__all__ = [
    "EVENT_TYPES",
    "Target",
    "WebhookURLRefused",
    "body_of",
    "check_url",
    "clean_events",
    "create_endpoint",
    "delete_endpoint",
    "deliver",
    "deliver_due",
    "generate_secret",
    "record_event",
    "register_task_engine",
    "replay",
    "retry_schedule",
    "signed_headers",
    "update_endpoint",
    "validate_url",
]


# -- retention ------------------------------------------------------------------------

FINISHED_STATUSES = (
    WebhookDelivery.Status.SUCCEEDED,
    WebhookDelivery.Status.FAILED,
    WebhookDelivery.Status.ABANDONED,
)


def purge_deliveries(*, batch_size=1000, now=None):
    """Delete the deliveries that are over (succeeded, failed for good or
    abandoned) and untouched for ``WEBHOOK_DELIVERY_RETENTION_DAYS``; pending
    ones are never deleted, however old. ``batch_size`` rows per statement.
    Returns how many were deleted."""
    days = _settings().WEBHOOK_DELIVERY_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    finished = WebhookDelivery.objects.filter(status__in=FINISHED_STATUSES, updated_at__lt=cutoff)
    deleted = 0
    while True:
        pks = list(finished.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return deleted
        # Replays of a deleted delivery keep their own log (replay_of is set to NULL).
        deleted += (
            WebhookDelivery.objects.filter(pk__in=pks)
            .delete()[1]
            .get(WebhookDelivery._meta.label, 0)
        )
        if len(pks) < batch_size:
            return deleted
