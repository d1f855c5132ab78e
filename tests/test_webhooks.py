"""Signed webhooks (integrations.webhooks): events written with their change,
delivered over real HTTP to a receiver on loopback and verified there with the
standardwebhooks library; retries, disabling, replay, SSRF refusals, and one
attempt per delivery whatever the number of workers."""

import json
import logging
import socket
import threading
from datetime import timedelta
from io import StringIO

import django
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import close_old_connections, transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from integrations import credentials, tokens, webhooks
from integrations.models import AuditEvent, WebhookDelivery, WebhookEndpoint
from tests.conftest import assert_not_logged
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    connected,
    expire,
    fake,
    make_provider,
    provider,
)
from tests.processes import run_in_processes
from tests.test_tasks import BROKER_URL, RESULT_BACKEND, celery_worker_queue, wait_for  # noqa: F401
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def local_urls(settings):
    """Development mode: endpoints on loopback, over http://."""
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


def make_endpoint(receiver, path="/hooks", **options):
    endpoint, secret = webhooks.create_endpoint(url=receiver.url(path), **options)
    return endpoint, secret.reveal()


def verified(secret, request):
    """The body of a recorded request, verified as a receiver does."""
    _path, headers, body = request
    return Webhook(secret).verify(body, headers)


def make_due(*deliveries):
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# -- events and their delivery -----------------------------------------------------


def test_a_refresh_is_delivered_signed_and_the_receiver_verifies_it(
    alice, provider, fake, receiver, local_urls
):
    endpoint, secret = make_endpoint(receiver)
    assert secret.startswith("whsec_")
    integration = connected(alice, provider)
    expire(integration)
    tokens.get_valid_token(integration, purpose="sync")

    assert webhooks.deliver_due() == {"succeeded": 2}
    bodies = [verified(secret, request) for request in receiver.requests]
    assert [body["type"] for body in bodies] == ["integration.connected", "integration.refreshed"]
    refreshed = bodies[1]
    assert refreshed["data"] == {
        "integration_id": str(integration.pk),
        "provider": "fake",
        "owner_id": alice.pk,
        "status": "active",
    }
    assert refreshed["timestamp"].endswith("Z")
    delivery = WebhookDelivery.objects.get(event_type="integration.refreshed")
    headers = receiver.requests[1][1]
    assert headers["webhook-id"] == delivery.event_id
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("succeeded", 1, 204)
    assert delivery.duration_ms is not None and delivery.next_attempt_at is None
    # Another secret does not verify it: the signature is the endpoint's.
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.generate_secret()).verify(receiver.requests[1][2], headers)
    # A body changed on the way does not verify either.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(receiver.requests[1][2].replace(b"active", b"revoked"), headers)


def test_every_kind_of_change_is_an_event(alice, provider, fake, receiver, local_urls):
    make_endpoint(receiver)
    integration = connected(alice, provider)
    connected(alice, provider, access="reconnected-access-0002")  # the same account again
    expire(integration)
    fake.script("/token", 503, "Service Unavailable", times=3)
    with pytest.raises(tokens.RefreshFailed):
        tokens.get_valid_token(integration, purpose="p")
    expire(integration)
    fake.script("/token", 400, {"error": "invalid_grant"})
    with pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_valid_token(integration, purpose="p")
    tokens.disconnect(alice, integration)
    credential = credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    credentials.update_credential(alice, credential, data={"api_key": "z" * 32})
    credentials.update_credential(alice, credential, name="Mail 2")
    credential_id = credential.pk
    credentials.delete_credential(alice, credential)

    deliveries = list(WebhookDelivery.objects.order_by("created_at", "event_type"))
    events = [(d.event_type, d.payload) for d in deliveries]
    ids = {"integration_id": str(integration.pk), "provider": "fake", "owner_id": alice.pk}
    assert events[:2] == [
        ("integration.connected", {**ids, "status": "active", "reconnected": False}),
        ("integration.connected", {**ids, "status": "active", "reconnected": True}),
    ]
    failures = [payload for event, payload in events if event == "integration.refresh_failed"]
    assert [(f["status"], f["error_code"]) for f in failures] == [
        ("error", "http_503"),
        ("needs_reauth", "invalid_grant"),
    ]
    assert all(f.keys() == {*ids, "status", "error_code"} for f in failures)
    assert (
        "integration.needs_reauth",
        {**ids, "status": "needs_reauth", "error_code": "invalid_grant"},
    ) in events
    assert ("integration.disconnected", {**ids, "status": "revoked"}) in events
    cred = {
        "credential_id": str(credential_id),
        "owner_id": alice.pk,
        "credential_type": "api_key",
        "provider": None,
    }
    assert [(e, p) for e, p in events if e.startswith("credential.")] == [
        ("credential.created", cred),
        ("credential.updated", {**cred, "secret_replaced": True}),
        ("credential.updated", {**cred, "secret_replaced": False}),
        ("credential.deleted", cred),
    ]
    # One event, one id: no two events share a webhook-id.
    assert len({d.event_id for d in deliveries}) == len(deliveries)


def test_a_key_rotation_is_an_event_and_a_dry_run_is_not(receiver, local_urls):
    make_endpoint(receiver)
    call_command("rotate_keys", "--dry-run", stdout=StringIO(), stderr=StringIO())
    assert not WebhookDelivery.objects.exists()
    call_command("rotate_keys", stdout=StringIO(), stderr=StringIO())
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "keys.rotation_finished"
    assert delivery.payload["command"] == "rotate_keys"
    assert delivery.payload["completed"] is True
    assert "integrations.WebhookEndpoint.secret" in delivery.payload["columns"]


def test_the_event_filter_and_inactive_endpoints(alice, receiver, local_urls):
    only_created, _ = make_endpoint(receiver, "/created", events=["credential.created"])
    everything, _ = make_endpoint(receiver, "/all")
    make_endpoint(receiver, "/off", active=False)
    credential = credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    credentials.delete_credential(alice, credential)
    assert sorted(WebhookDelivery.objects.values_list("endpoint__url", "event_type")) == sorted(
        [
            (only_created.url, "credential.created"),
            (everything.url, "credential.created"),
            (everything.url, "credential.deleted"),
        ]
    )
    with pytest.raises(ValidationError):
        webhooks.create_endpoint(url=receiver.url(), events=["credential.stolen"])


def test_events_roll_back_with_their_change(alice, receiver, local_urls):
    make_endpoint(receiver)
    with pytest.raises(RuntimeError), transaction.atomic():
        credentials.create_credential(
            alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
        )
        raise RuntimeError("the caller's transaction fails")
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_django_task_engine_delivers_only_after_the_commit(alice, receiver, settings):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "WEBHOOK_ALLOW_PRIVATE_URLS": True,
        "WEBHOOK_TASK_ENGINE": "django",  # the immediate backend: at the commit
    }
    from integrations import tasks

    if getattr(tasks, "django_task", None) is None:
        pytest.skip("Django's tasks framework is not installed")
    _endpoint, secret = make_endpoint(receiver)
    with transaction.atomic():
        credentials.create_credential(
            alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
        )
        assert WebhookDelivery.objects.count() == 1  # written with the change...
        assert receiver.requests == []  # ...and not sent before it commits
    assert [verified(secret, r)["type"] for r in receiver.requests] == ["credential.created"]
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_the_celery_task_and_the_command_deliver_through_the_same_functions(
    alice, receiver, local_urls
):
    pytest.importorskip("celery")
    from integrations import tasks

    make_endpoint(receiver)
    first, second = (
        credentials.create_credential(
            alice, name=name, credential_type="api_key", data={"api_key": "k" * 32}
        )
        for name in ("One", "Two")
    )
    delivery = WebhookDelivery.objects.order_by("created_at").first()
    assert tasks.deliver_webhook.apply(args=[str(delivery.pk)]).get() == "succeeded"
    assert tasks.deliver_webhook.apply(args=[str(delivery.pk)]).get() == "skipped"  # done
    out = StringIO()
    call_command("deliver_webhooks", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"succeeded": 1}
    assert len(receiver.requests) == 2
    with pytest.raises(ValueError):
        tasks.deliver_webhooks_now(limit=0)


# -- retries, timeouts, giving up, disabling --------------------------------------------


def test_a_500_is_retried_on_the_schedule(alice, receiver, local_urls):
    _endpoint, secret = make_endpoint(receiver)
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    receiver.answer(500)
    receiver.answer(503)
    before = timezone.now()
    assert webhooks.deliver_due() == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert (delivery.last_http_status, delivery.last_error) == (500, "http_error")
    assert timedelta(seconds=4) < delivery.next_attempt_at - before < timedelta(seconds=7)
    assert webhooks.deliver_due() == {}  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    make_due(delivery)
    before = timezone.now()
    assert webhooks.deliver_due() == {"retry": 1}
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_http_status) == (2, 503)
    assert timedelta(seconds=299) < delivery.next_attempt_at - before < timedelta(seconds=302)

    make_due(delivery)
    assert webhooks.deliver_due() == {"succeeded": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 3, "")
    # Every attempt carried the same id and body, each signed afresh.
    assert len({r[1]["webhook-id"] for r in receiver.requests}) == 1
    assert len({r[2] for r in receiver.requests}) == 1
    for request in receiver.requests:
        verified(secret, request)
    assert WebhookEndpoint.objects.get().failing_since is None  # the success ends the streak


def test_a_timeout_is_retried(alice, receiver, settings):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "WEBHOOK_ALLOW_PRIVATE_URLS": True,
        "WEBHOOK_TIMEOUT_SECONDS": 0.3,
    }
    make_endpoint(receiver)
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    receiver.answer(204, delay=1.5)
    assert webhooks.deliver_due() == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.last_error, delivery.last_http_status) == ("timeout", None)
    assert delivery.duration_ms < 1400
    make_due(delivery)
    assert webhooks.deliver_due() == {"succeeded": 1}


def test_a_delivery_fails_after_the_last_retry(alice, receiver, settings):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "WEBHOOK_ALLOW_PRIVATE_URLS": True,
        "WEBHOOK_RETRY_SCHEDULE_SECONDS": [5, 60],
    }
    make_endpoint(receiver)
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    receiver.answer(500, times=3)
    delivery = WebhookDelivery.objects.get()
    for outcome in ("retry", "retry", "failed"):
        make_due(delivery)
        assert webhooks.deliver_due() == {outcome: 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    make_due(delivery)
    assert webhooks.deliver_due() == {}
    assert len(receiver.requests) == 3


def test_an_endpoint_failing_for_a_day_is_disabled_with_a_log_line_and_an_email(
    alice, receiver, local_urls, settings, caplog
):
    # Django 6 takes addresses; 5.2 (name, address) pairs, which 6.1 deprecates.
    settings.ADMINS = (
        ["ops@example.test"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.test")]
    )
    endpoint, _ = make_endpoint(receiver)
    for name in ("One", "Two"):
        credentials.create_credential(
            alice, name=name, credential_type="api_key", data={"api_key": "k" * 32}
        )
    receiver.answer(500, times=5)
    assert webhooks.deliver_due(limit=1) == {"retry": 1}
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failing_since is not None
    # Failing for less than a day: still on.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(hours=23)
    )
    make_due(*WebhookDelivery.objects.all())
    assert webhooks.deliver_due(limit=1) == {"retry": 1}
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).active
    assert mail.outbox == []

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(hours=24, minutes=1)
    )
    make_due(*WebhookDelivery.objects.all())
    with caplog.at_level(logging.ERROR, logger="integrations.webhooks"):
        assert webhooks.deliver_due(limit=1) == {"retry": 1}
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert "every delivery attempt failed since" in endpoint.disabled_reason
    assert [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert len(mail.outbox) == 1 and "disabled" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["ops@example.test"]
    # The other pending delivery is abandoned, never sent; a new event is not queued.
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"abandoned"}
    sent = len(receiver.requests)
    make_due(*WebhookDelivery.objects.all())
    assert webhooks.deliver_due() == {}
    credentials.create_credential(
        alice, name="Three", credential_type="api_key", data={"api_key": "k" * 32}
    )
    assert WebhookDelivery.objects.filter(status="pending").count() == 0
    assert len(receiver.requests) == sent
    assert AuditEvent.objects.filter(
        target_id=str(endpoint.pk), detail__startswith="disabled:"
    ).exists()
    # Turned on again: the reason and the streak are cleared.
    webhooks.update_endpoint(endpoint, active=True)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason, endpoint.failing_since) == (True, "", None)


# -- replay ------------------------------------------------------------------------------


def test_replay_queues_a_new_attempt_with_the_same_id_and_is_audited(alice, receiver, local_urls):
    endpoint, secret = make_endpoint(receiver)
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    webhooks.deliver_due()
    original = WebhookDelivery.objects.get()
    again = webhooks.replay(original, actor=alice)
    assert (again.status, again.replay_of_id, again.event_id) == (
        "pending",
        original.pk,
        original.event_id,
    )
    assert webhooks.deliver_due() == {"succeeded": 1}
    first, second = (verified(secret, request) for request in receiver.requests)
    assert first == second
    assert receiver.requests[0][1]["webhook-id"] == receiver.requests[1][1]["webhook-id"]
    assert AuditEvent.objects.filter(
        target_id=str(original.pk), detail__startswith="replay queued"
    ).exists()
    webhooks.update_endpoint(endpoint, active=False)
    with pytest.raises(ValidationError):
        webhooks.replay(original)


# -- SSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/in", "https_required"),
        ("ftp://hooks.example.com/in", "https_required"),
        ("https://127.0.0.1/in", "private_address"),
        ("https://127.8.9.10:8443/in", "private_address"),
        ("https://10.1.2.3/in", "private_address"),
        ("https://192.168.0.10/in", "private_address"),
        ("https://172.16.5.4/in", "private_address"),
        ("https://169.254.169.254/latest/meta-data/", "private_address"),
        ("https://[::1]/in", "private_address"),
        ("https://[::ffff:127.0.0.1]/in", "private_address"),
        ("https://[fe80::1]/in", "private_address"),
        ("https://100.64.0.1/in", "private_address"),
        ("https://0.0.0.0/in", "private_address"),
        ("https://localhost/in", "private_address"),  # a name resolving to loopback
        ("https://user:pw@hooks.example.com/in", "credentials_in_url"),
        ("https:///in", "bad_url"),
    ],
)
def test_private_and_plain_http_urls_are_refused(url, code):
    with pytest.raises(ValidationError) as refused:
        webhooks.create_endpoint(url=url)
    assert refused.value.code == code
    assert not WebhookEndpoint.objects.exists()


def test_a_public_name_that_resolves_to_a_private_address_is_refused_before_sending(
    alice, receiver, monkeypatch
):
    """DNS may change after the endpoint was saved: every attempt checks again."""
    real = socket.getaddrinfo
    answers = {"hooks.example.com": "93.184.216.34"}

    def fake_dns(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    endpoint, _ = webhooks.create_endpoint(url="https://hooks.example.com/in")
    answers["hooks.example.com"] = "127.0.0.1"  # rebinding to loopback
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    assert webhooks.deliver_due() == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error == "url_refused:private_address"
    # A stored URL on loopback (saved before the rules, or by hand) is refused too.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url())
    make_due(delivery)
    assert webhooks.deliver_due() == {"retry": 1}
    assert WebhookDelivery.objects.get().last_error == "url_refused:private_address"
    assert receiver.requests == []


def test_the_request_goes_to_the_address_that_was_checked(alice, receiver, local_urls, monkeypatch):
    """Pinned: the name is resolved once, checked, and that address is connected to,
    with the name in the Host header."""
    real = socket.getaddrinfo
    lookups = []

    def counting_dns(host, port, *args, **kwargs):
        if host == "hooks.internal.test":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting_dns)
    webhooks.create_endpoint(url=f"http://hooks.internal.test:{receiver.port}/in")
    lookups.clear()
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    assert webhooks.deliver_due() == {"succeeded": 1}
    assert lookups == ["hooks.internal.test"]  # the check's lookup only
    headers = {name.lower(): value for name, value in receiver.requests[0][1].items()}
    assert headers["host"] == f"hooks.internal.test:{receiver.port}"


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An HTTPS receiver on loopback with a certificate for hooks.internal.test from
    a CA of the test's own, which the client trusts; the name resolves to loopback."""
    import certifi

    from tests.webhook_tls import make_ca_and_cert

    ca, cert, key = make_ca_and_cert(tmp_path, "hooks.internal.test")
    monkeypatch.setattr(certifi, "where", lambda: str(ca))
    real = socket.getaddrinfo

    def dns(host, port, *args, **kwargs):
        if host in ("hooks.internal.test", "other.internal.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    server = Receiver(tls=(str(cert), str(key))).start()
    yield server
    server.stop()


def test_https_to_the_pinned_address_verifies_the_certificate_for_the_name(
    alice, tls_receiver, local_urls
):
    """The request goes to the checked address, and TLS still checks the name: a
    certificate for another name is refused."""
    _endpoint, secret = webhooks.create_endpoint(
        url=f"https://hooks.internal.test:{tls_receiver.port}/in"
    )
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    assert webhooks.deliver_due() == {"succeeded": 1}
    assert verified(secret.reveal(), tls_receiver.requests[0])["type"] == "credential.created"

    WebhookEndpoint.objects.update(url=f"https://other.internal.test:{tls_receiver.port}/in")
    credentials.create_credential(
        alice, name="Other", credential_type="api_key", data={"api_key": "k" * 32}
    )
    assert webhooks.deliver_due() == {"retry": 1}
    failed = WebhookDelivery.objects.get(status="pending")
    assert failed.last_error == "connection_failed:ConnectError"  # the name does not match
    assert len(tls_receiver.requests) == 1


def test_a_redirect_is_not_followed(alice, receiver, local_urls):
    make_endpoint(receiver)
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    receiver.answer(302, headers={"Location": receiver.url("/elsewhere")})
    assert webhooks.deliver_due() == {"retry": 1}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.last_http_status, delivery.last_error) == (302, "redirect_refused")
    assert receiver.to("/elsewhere") == []


# -- secrets stay secret ------------------------------------------------------------------


def test_no_secret_token_or_hint_in_any_payload_body_or_log(
    alice, fake, receiver, local_urls, canary, all_logs
):
    _endpoint, secret = make_endpoint(receiver)
    provider = make_provider(fake)
    integration = connected(alice, provider, access=f"{canary}-access", refresh=f"{canary}-refresh")
    expire(integration)
    tokens.get_valid_token(integration, purpose="sync")
    credential = credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": f"{canary}-key-WXYZ"}
    )
    credentials.update_credential(alice, credential, data={"api_key": f"{canary}-new-ABCD"})
    credentials.delete_credential(alice, credential)
    tokens.disconnect(alice, integration)
    webhooks.deliver_due()
    assert len(receiver.requests) == 6  # connected, refreshed, 3 credential, disconnected
    for delivery in WebhookDelivery.objects.all():
        text = json.dumps(delivery.payload) + webhooks.body_of(delivery)
        assert canary not in text
        assert "hint" not in text and "WXYZ" not in text and "ABCD" not in text
    for _path, headers, body in receiver.requests:
        assert canary not in body.decode() and canary not in json.dumps(headers)
        assert secret not in body.decode()
    assert_not_logged(all_logs, canary)
    assert secret not in all_logs.text


def test_the_secret_is_sealed_at_rest_and_not_in_the_endpoints_repr(receiver, local_urls):
    endpoint, secret = make_endpoint(receiver)
    loaded = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert loaded.secret_sealed and secret not in loaded.secret_sealed
    assert loaded.secret == secret  # opens with the keyring
    assert secret not in repr(loaded) and secret not in str(loaded)
    assert AuditEvent.objects.filter(action="create", target_id=str(endpoint.pk)).exists()


# -- one attempt per delivery, whatever the number of workers ------------------------------


def _queue_events(alice, count):
    for n in range(count):
        credentials.create_credential(
            alice, name=f"c{n}", credential_type="api_key", data={"api_key": "k" * 32}
        )


@pytest.mark.django_db(transaction=True)
def test_two_threads_deliver_each_event_exactly_once(alice, receiver, local_urls):
    make_endpoint(receiver)
    _queue_events(alice, 12)
    receiver.answer(204, delay=0.05, times=12)  # the workers overlap
    barrier = threading.Barrier(2)
    counts = []

    def worker():
        try:
            barrier.wait()
            counts.append(webhooks.deliver_due())
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [request[1]["webhook-id"] for request in receiver.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert sum(count.get("succeeded", 0) for count in counts) == 12
    assert all(count for count in counts), "one worker did nothing: they did not overlap"
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_two_processes_deliver_each_event_exactly_once(alice, receiver, local_urls, tmp_path):
    make_endpoint(receiver)
    _queue_events(alice, 12)
    receiver.answer(204, delay=0.05, times=12)
    outputs = run_in_processes(2, 100, tmp_path, script="webhook_worker.py")
    counts = [json.loads(output) for output in outputs]
    ids = [request[1]["webhook-id"] for request in receiver.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert sum(count.get("succeeded", 0) for count in counts) == 12
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


@pytest.fixture
def worker_delivers_to_loopback(monkeypatch):
    monkeypatch.setenv("SEALED_TEST_WEBHOOK_PRIVATE_URLS", "1")


@pytest.mark.django_db(transaction=True)
def test_two_celery_sweeps_at_once_deliver_each_event_exactly_once(
    alice, receiver, local_urls, worker_delivers_to_loopback, celery_worker_queue
):
    """A real Celery worker (threads) running two sweeps at once, as beat would
    when a run outlasts its period."""
    from celery import Celery

    make_endpoint(receiver)
    _queue_events(alice, 8)
    receiver.answer(204, delay=0.1, times=8)
    client = Celery("tests", broker=BROKER_URL, backend=RESULT_BACKEND)
    results = [
        client.send_task(
            "integrations.tasks.deliver_webhooks",
            kwargs={"limit": 100},
            queue=celery_worker_queue.queue,
        )
        for _ in range(2)
    ]
    try:
        counts = wait_for(results, celery_worker_queue)
    finally:
        for result in results:
            result.forget()
        client.close()
    ids = [request[1]["webhook-id"] for request in receiver.requests]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert sum(count.get("succeeded", 0) for count in counts) == 8
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        ({"WEBHOOK_TASK_ENGINE": "rq"}, ["integrations.E060"]),
        ({"WEBHOOK_RETRY_SCHEDULE_SECONDS": [5, "300"]}, ["integrations.E061"]),
        ({"WEBHOOK_RETRY_SCHEDULE_SECONDS": [5, -1]}, ["integrations.E061"]),
        ({"WEBHOOK_TASK_ENGINE": None, "WEBHOOK_RETRY_SCHEDULE_SECONDS": []}, []),
    ],
)
def test_the_webhook_settings_are_checked_at_startup(settings, options, ids):
    from integrations.checks import check_webhook_settings

    settings.INTEGRATIONS = {**settings.INTEGRATIONS, **options}
    assert [error.id for error in check_webhook_settings()] == ids


def test_an_unknown_task_engine_leaves_the_event_to_the_sweep(alice, settings, caplog):
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "WEBHOOK_ALLOW_PRIVATE_URLS": True,
        "WEBHOOK_TASK_ENGINE": "rq",
    }
    webhooks.create_endpoint(url="http://127.0.0.1:9/hooks")
    with caplog.at_level(logging.ERROR, logger="integrations.webhooks"):
        credentials.create_credential(
            alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
        )
    assert WebhookDelivery.objects.get().status == "pending"  # the change stands
    assert "not available" in caplog.text


def test_a_claim_that_runs_out_is_attempted_again_and_the_late_worker_records_nothing(
    alice, receiver, local_urls
):
    """A worker that died (or stalled) mid-attempt: once its claim runs out another
    worker attempts the delivery; the first one's late outcome is not stored."""
    make_endpoint(receiver)
    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": "k" * 32}
    )
    stalled = webhooks._claim()
    assert stalled is not None and stalled.attempts == 1
    assert webhooks.deliver_due() == {}  # claimed: nobody else takes it
    make_due(stalled)  # the claim ran out
    assert webhooks.deliver_due() == {"succeeded": 1}
    late = webhooks._finish(
        stalled, webhooks.Attempt(False, 500, "http_error", 10), now=timezone.now()
    )
    assert late is None
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_http_status) == ("succeeded", 2, 204)


def test_an_oauth1_token_secret_that_cannot_be_opened_is_a_needs_reauth_event(
    alice, fake, receiver, local_urls
):
    from tests.unreadable import spoil

    make_endpoint(receiver, events=["integration.needs_reauth"])
    provider = make_provider(fake, slug="o1", auth_type="oauth1")
    integration, _ = tokens.connect(
        alice,
        provider,
        {"oauth_token": "stored-oauth1-token", "oauth_token_secret": "stored-oauth1-secret"},
        external_account_id="o1-acct",
    )
    spoil(integration, "token_secret", "tampered", "stored-oauth1-secret")
    integration = type(integration).objects.get(pk=integration.pk)
    with pytest.raises(tokens.TokenUnavailable):
        tokens.get_signing_credentials(integration, purpose="sign")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "integration.needs_reauth"
    assert delivery.payload["error_code"] == "token_unreadable"
    assert delivery.payload["status"] == "needs_reauth"
