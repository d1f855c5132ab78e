"""No log level ever shows key material while a key wrapper unwraps (issue 23, item 1).

botocore logs a KMS Decrypt response at DEBUG, the data key in base64 in it.
Every logger is at DEBUG here (the root with a capturing handler, and botocore,
boto3 and urllib3 explicitly, each with the handler of its own), the settings
layer builds a keyring and index keys from wrapped entries, and no record
(message, arguments, exception text) may hold any encoding of either key.
Then the other layer: each encoding, logged on purpose, is redacted by the
project's log filter.
"""

import base64
import importlib.util
import logging

import pytest
from django.test.utils import override_settings

from integrations.crypto.wrapping import wrap_entry
from integrations.redaction import RedactingFilter, redact
from integrations.sealed.conf import app_settings
from integrations.sealed.redaction import key_forms
from tests import softhsm
from tests.keywrappers import KEKS, LocalAesWrapper

DATA_KEY = b"data-key-canary-0123456789-abcde"  # 32 bytes
INDEX_KEY = b"\x8f\x00index-key-canary-\xff\x10" + bytes(range(11))  # 32, not all text
LOUD_LOGGERS = ("botocore", "boto3", "urllib3", "botocore.parsers", "botocore.endpoint")


class LoggingWrapper(LocalAesWrapper):
    """A project's own backend whose library logs what it unwrapped, on a logger
    made during the call (so no filter can be on it beforehand)."""

    backend = "logging"
    calls = 0

    def unwrap(self, blob, *, context):
        key = super().unwrap(blob, context=context)
        LoggingWrapper.calls += 1
        logger = logging.getLogger(f"vendor_sdk.call{LoggingWrapper.calls}")
        logger.debug("response %r plaintext=%s", key, base64.b64encode(key).decode())
        logger.warning("decrypted %s", key.hex())
        return key


def _aws(monkeypatch):
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        pytest.skip("needs boto3 and moto[server]")
    from tests.motoserver import CREDENTIALS, REGION, MotoServer

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server = MotoServer()
    arn = server.client().create_key(Description="logging test KEK")["KeyMetadata"]["Arn"]
    config = {
        "BACKEND": "aws_kms",
        "OPTIONS": {"KEY_ID": arn, "REGION": REGION, "ENDPOINT_URL": server.url},
    }
    return config, server.stop


def _pkcs11(monkeypatch):
    if not softhsm.available():
        pytest.skip("needs SoftHSM2 and python-pkcs11")
    softhsm.ensure_token()
    return {"BACKEND": "tests.softhsm.serialized_wrapper", "OPTIONS": softhsm.options()}, None


def _own(monkeypatch):
    return {"BACKEND": "tests.crypto.test_wrapper_logging.LoggingWrapper", "OPTIONS": {}}, None


@pytest.fixture(params=[_aws, _pkcs11, _own], ids=["aws_kms", "pkcs11", "own-backend"])
def wrapper_config(request, monkeypatch):
    config, stop = request.param(monkeypatch)
    yield config
    if stop:
        stop()


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def texts(self):
        for record in self.records:
            yield record.getMessage()
            yield repr(record.args)
            yield str(record.msg)
            if record.exc_info:
                yield logging.Formatter().formatException(record.exc_info)


@pytest.fixture
def every_logger_at_debug():
    """The root and the libraries' loggers at DEBUG, each with a capturing handler.

    The project's handlers lose their RedactingFilter meanwhile (it rewrites
    records in place, before the capture would see them): what is checked is
    what reached the logging system, not what redaction left of it.
    """
    capture = Capture()
    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in LOUD_LOGGERS]
    saved = [(logger, logger.level, logger.propagate, logger.disabled) for logger in loggers]
    removed = []
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", ()):
            for log_filter in list(handler.filters):
                if isinstance(log_filter, RedactingFilter):
                    handler.removeFilter(log_filter)
                    removed.append((handler, log_filter))
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        logger.addHandler(capture)
    yield capture
    for logger, level, propagate, disabled in saved:
        logger.removeHandler(capture)
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
    for handler, log_filter in removed:
        handler.addFilter(log_filter)


def _wrapped_settings(config):
    from integrations.crypto.wrapping import load_backend

    wrapper = load_backend(config["BACKEND"], config["OPTIONS"])
    return {
        "ENCRYPTION_KEYS": [wrap_entry(wrapper, 1, DATA_KEY)],
        "INDEX_KEYS": [wrap_entry(wrapper, 1, INDEX_KEY)],
        "KEY_WRAPPER": config,
    }


def _forms():
    return [form for key in (DATA_KEY, INDEX_KEY) for form in key_forms(key)]


def test_no_log_record_holds_a_key_while_the_wrapper_unwraps(wrapper_config, every_logger_at_debug):
    integrations = _wrapped_settings(wrapper_config)
    assert KEKS  # the own backend's KEK
    for _attempt in range(2):
        with override_settings(INTEGRATIONS=integrations):
            sealed = app_settings.keyring.encrypt(b"value", "ctx")
            assert app_settings.keyring.decrypt(sealed, "ctx") == b"value"
            assert app_settings.index_keys.versions == (1,)
        # The project configures its loggers again after our first call (a
        # dictConfig): the second unwrap must be as quiet.
        for name in LOUD_LOGGERS:
            for log_filter in list(logging.getLogger(name).filters):
                logging.getLogger(name).removeFilter(log_filter)
    # Outside a wrapper call the libraries log as configured.
    logging.getLogger("botocore.parsers").debug("after the unwrap: %s", "shown")
    texts = list(every_logger_at_debug.texts())
    assert "after the unwrap: shown" in texts
    for text in texts:
        for form in _forms():
            assert form not in text


def test_every_encoding_of_a_key_is_redacted_by_the_log_filter(wrapper_config):
    with override_settings(INTEGRATIONS=_wrapped_settings(wrapper_config)):
        app_settings.keyring  # noqa: B018 (built: its keys unwrapped)
        app_settings.index_keys  # noqa: B018
    written = {
        "standard base64": base64.b64encode(DATA_KEY).decode(),
        "base64url, no padding": base64.urlsafe_b64encode(INDEX_KEY).decode().rstrip("="),
        "hex": INDEX_KEY.hex(),
        "HEX": DATA_KEY.hex().upper(),
        "bytes repr": repr(INDEX_KEY),
    }
    redacting = RedactingFilter()
    for how, text in written.items():
        assert text[2:-1] not in redact(f"body {text} end"), how
        record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "got %s", (text,), None)
        redacting.filter(record)
        assert text[2:-1] not in record.getMessage(), how
