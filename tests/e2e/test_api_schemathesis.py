"""Schemathesis against the live API: every operation of ``/api/schema/`` with
generated requests (valid and invalid), authenticated as a normal user, over
real HTTP on pytest-django's live server.

Every built-in check runs: no 5xx (``not_a_server_error``), responses match the
schema (status code, content type, headers, body), invalid input is refused,
requests without the token are refused. One allowance, for the credential
writes and explained in ``_config``: a body can be valid for the schema and
still name a provider that does not exist.

Generation is derandomized, so CI sees the same requests on every run; the
live server counts the requests it answered, at least ``MIN_REQUESTS``. (This
drives schemathesis' engine, as its CLI does, rather than its pytest plugin,
which does not run under pytest 9.)
"""

import time

import pytest
import schemathesis
from django.core.cache import cache
from schemathesis.core import NotSet

from integrations import credentials, tokens
from integrations.api.api_tokens import create_api_token
from integrations.models import Provider

# `fuzz`: the matrix runs it in one PostgreSQL cell, `make test` on SQLite (noxfile.py).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fuzz]

MIN_REQUESTS = 1000
MAX_EXAMPLES = 40  # per operation, for the fuzzing phase (examples/coverage add more)


def _config(token, fixed_ids):
    operations = [
        {
            # A credential body that the schema accepts may still name a provider
            # that does not exist, or (on update, where the type is not in the
            # body) carry data without the keys its stored type needs: 400.
            "include-path-regex": "^/api/credentials/",
            "include-method": ["POST", "PUT", "PATCH"],
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
                }
            },
        },
    ]
    # Revoking the token would end the run (every later request a 401);
    # tests/api/test_api_tokens.py covers those two operations.
    operations.append({"include-path-regex": "^/api/auth/", "enabled": False})
    for path, object_id in fixed_ids.items():
        # Detail operations work on the user's real objects (a generated id
        # never exists); tests/api/test_access.py covers other users' ids.
        operations.append({"include-path": path, "parameters": {"id": object_id}})
    return schemathesis.Config.from_dict(
        {
            # Connection: close — a kept-alive connection to Django's development
            # server waits ~40 ms per request (Nagle and delayed ACK).
            "headers": {"Authorization": f"Token {token}", "Connection": "close"},
            "cache": {"enabled": False},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",  # nothing replayed from (or written to) .hypothesis/
                # PostgreSQL text cannot hold NUL; the API refuses it (400), which the
                # schema cannot say. Tests in tests/api cover NUL input.
                "allow-x00": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": operations,
        }
    )


@pytest.fixture
def fuzz_user(django_user_model):
    return django_user_model.objects.create_user("fuzzer", password="fuzzer-password-1")


@pytest.fixture
def api_schema(live_server, fuzz_user, django_user_model, settings):
    # No throttling during the run (429 is documented, but would only cut it short).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"integrations_credentials": None, "integrations_refresh": None},
    }
    cache.clear()
    token, _expires_at = create_api_token(fuzz_user)

    provider = Provider.objects.create(
        slug="fuzz-cloud", name="Fuzz Cloud", category="storage", auth_type="oauth2"
    )
    # No refresh token: a refresh answers 409 at once, never calling a provider.
    integration, _ = tokens.connect(
        fuzz_user,
        provider,
        {"access_token": "fuzz-access-token-1"},
        external_account_id="fuzzer@cloud",
        label="Fuzz",
    )
    credential = credentials.create_credential(
        fuzz_user, name="Fuzz key", credential_type="custom", data={"k": "fuzz-secret-value"}
    )
    # Someone else's, which the fuzzer must never reach.
    other = django_user_model.objects.create_user("other", password="other-password-1")
    credentials.create_credential(
        other, name="Other key", credential_type="bearer", data={"token": "other-secret-value"}
    )

    fixed = {
        "/api/integrations/{id}/": str(integration.pk),
        "/api/integrations/{id}/refresh/": str(integration.pk),
        "/api/credentials/{id}/": str(credential.pk),
        "/api/providers/{id}/": str(provider.pk),
    }
    return schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/", config=_config(token, fixed)
    )


def _failures(event):
    """Readable lines for a failed scenario: check, message, and the request."""
    lines = []
    for case_id, nodes in event.recorder.checks.items():
        for node in nodes:
            if node.failure_info is None:
                continue
            failure = node.failure_info.failure
            case = event.recorder.cases[case_id].value if case_id in event.recorder.cases else None
            request = "?"
            if case is not None:
                request = f"{case.method} {case.formatted_path} query={case.query!r}"
                if not isinstance(case.body, NotSet):
                    request += f" body={case.body!r}"
            interaction = event.recorder.interactions.get(case_id)
            answer = ""
            if interaction is not None and interaction.response is not None:
                answer = (
                    f"\n    -> {interaction.response.status_code} "
                    f"{interaction.response.content[:300]!r}"
                )
            lines.append(f"[{node.name}] {failure.title}: {failure.message}\n    {request}{answer}")
    return lines or [f"{event.label}: {event.status}"]


@pytest.fixture
def served(monkeypatch):
    """Every request the live server answers under /api/ (except the schema), with its status."""
    from django.core.handlers.base import BaseHandler

    seen = []
    original = BaseHandler.get_response

    def get_response(self, request):
        response = original(self, request)
        if request.path.startswith("/api/") and request.path != "/api/schema/":
            seen.append((request.method, request.path, response.status_code))
        return response

    monkeypatch.setattr(BaseHandler, "get_response", get_response)
    return seen


def test_schemathesis_finds_no_5xx_and_no_schema_violation(api_schema, served):
    from schemathesis.engine import Status, events
    from schemathesis.engine import from_schema as engine_for

    started = time.monotonic()
    failures, errors = [], []
    for event in engine_for(api_schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.status in (
            Status.FAILURE,
            Status.ERROR,
        ):
            failures.extend(_failures(event))
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            error = getattr(event, "value", None) or getattr(event, "exception", None)
            errors.append(f"{getattr(event, 'label', 'engine')}: {type(error).__name__}: {error}")
    elapsed = time.monotonic() - started

    statuses = {}
    for _, _, status in served:
        statuses[status] = statuses.get(status, 0) + 1
    print(
        f"\nschemathesis: {len(served)} requests in {elapsed:.1f}s; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert not errors, "\n".join(errors)
    assert not failures, "\n".join(dict.fromkeys(failures))
    server_errors = [entry for entry in served if entry[2] >= 500]
    assert not server_errors, server_errors[:20]
    assert len(served) >= MIN_REQUESTS
