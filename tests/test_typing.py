"""The public API is typed: every parameter and return value is annotated, and
the annotations resolve at run time (``typing.get_type_hints``), so editors,
mypy and introspecting tools see the same signatures. ``make lint`` runs mypy
over the package; this keeps a new public function from arriving untyped."""

import inspect
import typing

import pytest

from integrations import credentials, providers, signals, tokens
from integrations.crypto import entries as crypto_entries
from integrations.crypto import exceptions as crypto_exceptions
from integrations.crypto import format as crypto_format
from integrations.crypto import keyring as crypto_keyring
from integrations.fields import EncryptedJSONField, EncryptedTokenField
from integrations.sealed import fields as sealed_fields


def _module_functions(module, *, private):
    """Functions and classes defined in ``module`` (not imported into it)."""
    for name, item in vars(module).items():
        if getattr(item, "__module__", None) != module.__name__:
            continue
        if name.startswith("_") and not private:
            continue
        if inspect.isfunction(item) or inspect.isclass(item):
            yield item


def _callables(item):
    """A function, or the methods a class defines itself (properties included)."""
    if inspect.isfunction(item):
        yield item.__qualname__, item
        return
    for name, member in vars(item).items():
        if isinstance(member, property):
            member = member.fget
        elif isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        if inspect.isfunction(member) and (name == "__init__" or not name.startswith("__")):
            yield member.__qualname__, member


def _untyped(function):
    """Names of what ``function`` leaves unannotated ("return" for the result)."""
    signature = inspect.signature(inspect.unwrap(function))
    missing = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.annotation is inspect.Parameter.empty and name not in ("self", "cls")
    ]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


# The crypto core is typed completely, private helpers included (mypy's
# disallow_untyped_defs covers it too).
CRYPTO = [
    callable_
    for module in (crypto_exceptions, crypto_format, crypto_keyring, crypto_entries)
    for item in _module_functions(module, private=True)
    for callable_ in _callables(item)
]

PUBLIC = [
    (function.__qualname__, function)
    for function in (
        tokens.apply_token_response,
        tokens.list_integrations,
        tokens.get_integration,
        tokens.connect,
        tokens.store_token_response,
        tokens.read_access_token,
        tokens.refresh_integration,
        tokens.get_valid_token,
        tokens.refresh_expiring,
        tokens.disconnect,
        tokens.TokenUnavailable.__init__,
        tokens.RefreshReport.add,
        credentials.validate_data,
        credentials.hint_for,
        credentials.list_credentials,
        credentials.get_credential,
        credentials.create_credential,
        credentials.update_credential,
        credentials.delete_credential,
        credentials.read_secret,
        credentials.set_client_secret,
        credentials.read_client_secret,
        signals.send_on_commit,
        providers.preset_choices,
        providers.get_preset,
        providers.create_provider_from_preset,
        sealed_fields.sealed_fields,
        EncryptedTokenField.__init__,
        EncryptedJSONField.__init__,
        EncryptedTokenField.seal_for_pk,
        EncryptedTokenField.context_for_pk,
        EncryptedTokenField.plaintext_from_legacy,
    )
]
CASES = [pytest.param(function, id=name) for name, function in CRYPTO + PUBLIC]
# signals imports Integration lazily (the models import signals), so its hint
# only resolves for the type checker.
RESOLVABLE = [case for case in CASES if case.values[0] is not signals.send_on_commit]


@pytest.mark.parametrize("function", CASES)
def test_public_api_is_annotated(function):
    assert _untyped(function) == [], f"{function.__qualname__} has unannotated parts"


@pytest.mark.parametrize("function", RESOLVABLE)
def test_annotations_resolve_at_run_time(function):
    # A forward reference to a name that only exists for the type checker
    # would raise NameError here.
    typing.get_type_hints(inspect.unwrap(function))


def test_the_crypto_core_is_fully_covered():
    # The collection above must see the Keyring's methods, or the test proves nothing.
    names = {name for name, _ in CRYPTO}
    assert {
        "Keyring.encrypt",
        "Keyring.decrypt",
        "Keyring.parse",
        "is_sealed",
        "CryptoError.with_location",
        "_decode_key",
    } <= names


def test_presets_are_typed_as_data():
    hints = typing.get_type_hints(providers)
    assert hints["PRESETS"] == dict[str, dict[str, typing.Any]]
