import gc
import logging
import pickle

import pytest
from django.test import Client

from integrations import credentials
from integrations.sealed.redaction import REDACTED, RedactingFilter, Secret, is_registered, redact


def test_secret_is_masked_everywhere(canary):
    secret = Secret(canary)
    for rendered in (
        repr(secret),
        str(secret),
        f"{secret}",
        "%s" % secret,
        f"{secret!r}",
        repr([secret]),
        repr({"token": secret}),
    ):
        assert canary not in rendered
    assert secret.reveal() == canary
    assert secret == Secret(canary)
    assert secret != canary
    with pytest.raises(TypeError):
        hash(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_registered_values_are_redacted(canary):
    Secret({"nested": [canary]})
    assert redact(f"request failed for {canary}!") == f"request failed for {REDACTED}!"


def test_short_values_are_not_registered():
    Secret("abc")
    assert redact("abc") == "abc"


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer abcdefghijklmnop",
        "headers={'Authorization': 'Basic dXNlcjpwYXNz'}",
        "POST /token body=grant_type=refresh_token&refresh_token=1//0gLONGREFRESH&client_id=x",
        '{"access_token": "opaque-value-123", "expires_in": 3600}',
        "client_secret=shhh-its-a-secret",
        "password: hunter2hunter2",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnopqrstu",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "slack xoxb-1234567890-abcdefghij",
        "stripe sk_live_abcdefghijklmnop",
        "google ya29.a0AfH6SMBabcdefghijklmnopqrstuvwxyz",
    ],
)
def test_known_secret_shapes(line):
    cleaned = redact(line)
    assert REDACTED in cleaned
    for fragment in (
        "abcdefghijklmnop",
        "dXNlcjpwYXNz",
        "1//0gLONGREFRESH",
        "opaque-value-123",
        "shhh-its-a-secret",
        "hunter2hunter2",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "ghp_abc",
        "xoxb-1234567890",
        "sk_live_abc",
        "ya29.a0Af",
    ):
        assert fragment not in cleaned


def test_plain_text_is_untouched():
    line = "GET /integrations/ 200 in 12ms (expires_in=3600)"
    assert redact(line) == line


def test_filter_scrubs_messages_args_and_tracebacks(canary):
    held = Secret(canary)  # noqa: F841 (registered while it lives)
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect()
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s rejected", canary)
        try:
            raise ValueError(f"bad value {canary}")
        except ValueError:
            logger.exception("failed")
        logger.error("with stack %s", "x", stack_info=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = "\n".join(records)
    assert canary not in output
    assert "token [REDACTED] rejected" in output
    assert "ValueError: bad value [REDACTED]" in output


def test_project_logging_installs_the_filter():
    from django.conf import settings

    handlers = settings.LOGGING["handlers"]
    assert all("redact_secrets" in handler.get("filters", []) for handler in handlers.values())
    console = [h for h in logging.getLogger().handlers if h.__class__.__name__ == "StreamHandler"]
    assert any(isinstance(f, RedactingFilter) for h in console for f in h.filters)


def test_oauth_callback_query_strings_are_redacted():
    line = '"GET /integrations/callback/demo/?code=SYYLzMClp127&state=7BpfPUZ_VuI7 HTTP/1.1" 302'
    cleaned = redact(line)
    assert "SYYLzMClp127" not in cleaned and "7BpfPUZ_VuI7" not in cleaned
    assert cleaned.startswith('"GET /integrations/callback/demo/?code=[REDACTED]&state=[REDACTED] ')
    assert redact("/authorize/?client_id=abc&nonce=n0nce-value") == (
        "/authorize/?client_id=abc&nonce=[REDACTED]"
    )
    assert redact("postcode=12345 and zipcode") == "postcode=12345 and zipcode"


def test_error_reports_hide_callback_parameters_and_secrets(rf, canary, settings):
    import sys

    from django.views.debug import technical_500_response

    assert (
        settings.DEFAULT_EXCEPTION_REPORTER == "integrations.reporting.RedactingExceptionReporter"
    )
    request = rf.get(
        "/integrations/callback/demo/",
        {
            "code": "-".join(["code", "4f8a9b2c1d"]),
            "state": "-".join(["state", "7e6d5c4b3a"]),
            "page": "visible-value",
        },
    )
    token = Secret(canary)  # noqa: F841 (a local the report would show)
    leaked = f"provider said {canary}"
    try:
        raise RuntimeError(leaked)
    except RuntimeError:
        html = technical_500_response(request, *sys.exc_info()).content.decode()
    request.META["HTTP_ACCEPT"] = "text/plain"
    try:
        raise RuntimeError(leaked)
    except RuntimeError:
        text = technical_500_response(request, *sys.exc_info()).content.decode()
    for report in (html, text):
        assert request.GET["code"] not in report and request.GET["state"] not in report
        assert canary not in report
    assert "visible-value" in html


# -- what gets registered, and for how long (issue 10, item 17) ------------------------


def _api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.api
@pytest.mark.django_db
def test_a_rejected_credential_cannot_make_the_filter_erase_chosen_text(django_user_model):
    """Only values actually stored are registered: not what a client merely posts."""
    mallory = django_user_model.objects.create_user("mallory", password="pw-mallory-1")
    line = '"POST /admin/login/?next=/admin/ HTTP/1.1" 302 0'
    response = _api(mallory).post(
        "/api/credentials/",
        {
            "name": "",
            "type": "api_key",
            "data": {"api_key": "/admin/login/"},
        },
        format="json",
    )
    assert response.status_code == 400
    browser = Client()
    browser.force_login(mallory)
    page = browser.post(
        "/integrations/credentials/add/?type=bearer",
        {"name": "", "token": "/admin/login/?next=/admin/"},
    )
    assert page.status_code == 200  # the form, with its errors
    assert not is_registered("/admin/login/")
    assert redact(line) == line


@pytest.mark.api
@pytest.mark.django_db
def test_posting_many_strings_does_not_evict_a_live_secret(django_user_model, canary):
    owner = django_user_model.objects.create_user("owner", password="pw-owner-1")
    stored = credentials.create_credential(
        owner, name="live", credential_type="api_key", data={"api_key": f"{canary}-live"}
    )
    live = credentials.read_secret(owner, stored, purpose="call the API")  # noqa: F841
    flood = {f"k{n}": f"flood-value-{n:06d}" for n in range(10_000)}
    response = _api(owner).post(
        "/api/credentials/", {"name": "", "type": "custom", "data": flood}, format="json"
    )
    assert response.status_code == 400
    assert not is_registered("flood-value-000001")
    assert redact(f"calling with {canary}-live") == f"calling with {REDACTED}"


def test_a_live_secret_outlives_any_number_of_other_secrets(canary):
    live = Secret({"api_key": f"{canary}-kept"})
    for n in range(10_000):
        Secret(f"other-stored-value-{n:06d}")  # handed out and dropped at once
    gc.collect()
    assert redact(f"x {canary}-kept y") == f"x {REDACTED} y"
    assert is_registered("other-stored-value-009999")  # recent ones are still redacted
    assert not is_registered("other-stored-value-000000")  # the oldest dropped ones are not
    assert live.reveal()["api_key"].endswith("-kept")


def test_a_dropped_secret_stays_redacted_for_a_while(canary):
    Secret(f"{canary}-dropped")
    gc.collect()
    assert redact(f"{canary}-dropped") == REDACTED


@pytest.mark.parametrize(
    "line, hidden",
    [
        (
            "GET /accounts/login/?next=%2Fintegrations%2Fcallback%2Fdemo%2F%3Fcode%3DSYYLzMClp127"
            "%26state%3D7BpfPUZ_VuI7 HTTP/1.1",
            ("SYYLzMClp127", "7BpfPUZ_VuI7"),
        ),
        (
            "next=%252Fcb%253Fcode%253Dc0de-twice%2526state%253Dst4te-twice",
            ("c0de-twice", "st4te-twice"),
        ),
        ("/o/authorize/?next=%2Fcb%3Fnonce%3Dn0nce-in-next%23frag", ("n0nce-in-next",)),
        ("next=%2Fcb%3Faccess_token%3Dtok-in-next%26x%3D1", ("tok-in-next",)),
    ],
)
def test_percent_encoded_secrets_in_urls_are_redacted(line, hidden):
    cleaned = redact(line)
    assert REDACTED in cleaned
    for value in hidden:
        assert value not in cleaned
    assert "next=" in cleaned


def test_html_escaped_forms_are_redacted(canary):
    held = Secret(f"{canary}-<'html'>")  # noqa: F841
    page = (
        "<td>{&#x27;access_token&#x27;: &#x27;opaque-abc-123&#x27;}</td>"
        "<td>&quot;client_secret&quot;: &quot;shh-0123456789&quot;</td>"
        f"<pre>{canary}-&lt;&#x27;html&#x27;&gt;</pre>"
    )
    cleaned = redact(page)
    for fragment in ("opaque-abc-123", "shh-0123456789", canary):
        assert fragment not in cleaned
    assert cleaned.startswith("<td>{&#x27;access_token&#x27;: &#x27;[REDACTED]&#x27;}</td>")


def test_a_registered_query_parameter_is_masked_in_every_url_whatever_its_length():
    from integrations.sealed.redaction import mask_query_parameters, register_query_parameter

    register_query_parameter("k9param")
    for text, kept in [
        ('"GET /v1/items?k9param=ab&page=2 HTTP/1.1" 200', "&page=2 HTTP/1.1"),
        ("https://api.test/x?page=2&k9param=a", "?page=2&k9param="),
        ("next=%2Fcb%3Fk9param%3Dab%26page%3D2", "%26page%3D2"),
        ("<a href='/x?a=1&amp;k9param=ab'>", "'>"),
    ]:
        cleaned = redact(text)
        assert "=ab" not in cleaned and "%3Dab" not in cleaned and "k9param=a'" not in cleaned
        assert REDACTED in cleaned and kept in cleaned
    assert redact("k9param=ab outside a URL") == "k9param=ab outside a URL"
    assert mask_query_parameters("/x?other=1&zz=b", ["zz"]) == f"/x?other=1&zz={REDACTED}"


def test_a_token_in_a_request_line_of_the_access_log_is_redacted():
    """Issue 23: a knox token sent as ?token= (the API reads it from the header only)
    was written as it was by runserver's access log (django.server)."""
    knox = "9f" * 32
    for line in (
        f'"GET /api/integrations/?token={knox} HTTP/1.1" 401 58',
        f'"GET /api/integrations/?page=2&token={knox}&x=1 HTTP/1.1" 401 58',
        f'"GET /api/credentials/?key={knox[:10]} HTTP/1.1" 401 58',
        f'"GET /next/?next=%2Fapi%2F%3Ftoken%3D{knox} HTTP/1.1" 302 0',
    ):
        cleaned = redact(line)
        assert knox[:10] not in cleaned, line
        assert REDACTED in cleaned and cleaned.endswith(" HTTP/1.1" + line.split(" HTTP/1.1")[1])
    assert redact("/search/?q=token+keyring&page=2") == "/search/?q=token+keyring&page=2"


def test_runserver_access_log_lines_reach_the_handlers_redacted(settings):
    """runserver logs each request line to django.server, under the django logger whose
    handlers the project gave the RedactingFilter."""
    from django.core.servers.basehttp import WSGIRequestHandler

    knox = "ab" * 32
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"GET /api/integrations/?token={knox} HTTP/1.1", "401", "58"),
        None,
    )
    assert WSGIRequestHandler.log_message  # the format above is Django's
    handlers = [h for h in logging.getLogger("django").handlers]
    assert handlers
    for handler in handlers:
        assert handler.filter(record)
        assert knox not in record.getMessage()


def test_key_and_token_outside_a_url_are_left_alone():
    for text in ("cache key=abc123 missed", "the token=expired path", "sig=1 in prose"):
        assert redact(text) == text
