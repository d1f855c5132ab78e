import logging
import pickle

import pytest

from integrations.redaction import REDACTED, RedactingFilter, Secret, redact, register_secret


def test_secret_is_masked_everywhere(canary):
    secret = Secret(canary)
    for rendered in (repr(secret), str(secret), f"{secret}", "%s" % secret, f"{secret!r}",
                     repr([secret]), repr({"token": secret})):
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
    register_secret("abc")
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
    for fragment in ("abcdefghijklmnop", "dXNlcjpwYXNz", "1//0gLONGREFRESH", "opaque-value-123",
                     "shhh-its-a-secret", "hunter2hunter2", "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
                     "ghp_abc", "xoxb-1234567890", "sk_live_abc", "ya29.a0Af"):
        assert fragment not in cleaned


def test_plain_text_is_untouched():
    line = "GET /integrations/ 200 in 12ms (expires_in=3600)"
    assert redact(line) == line


def test_filter_scrubs_messages_args_and_tracebacks(canary):
    register_secret(canary)
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
        "/authorize/?client_id=abc&nonce=[REDACTED]")
    assert redact("postcode=12345 and zipcode") == "postcode=12345 and zipcode"


def test_error_reports_hide_callback_parameters_and_secrets(rf, canary, settings):
    import sys

    from django.views.debug import technical_500_response

    assert settings.DEFAULT_EXCEPTION_REPORTER == "integrations.reporting.RedactingExceptionReporter"
    request = rf.get("/integrations/callback/demo/", {
        "code": "-".join(["code", "4f8a9b2c1d"]), "state": "-".join(["state", "7e6d5c4b3a"]),
        "page": "visible-value",
    })
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
