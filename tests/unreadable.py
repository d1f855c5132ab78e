"""Stored tokens that cannot be opened, as a database can hold them: tampered,
legacy plaintext, or sealed with a key the keyring lacks."""

from integrations.crypto import Keyring, generate_key
from integrations.models import Integration
from tests.dbutil import raw_column, write_raw

# How a stored token can be unreadable, and the code the service reports for it.
UNREADABLE = {
    "tampered": "token_unreadable",
    "legacy_plaintext": "token_not_sealed",
    "unknown_key": "token_key_unknown",
}


def spoil(integration, column, how, plaintext):
    """Make the stored ``column`` of ``integration`` unreadable, as ``how`` says:
    a sealed value with one character changed, a legacy plaintext (``plaintext``
    itself), or a value sealed with key version 9, which the keyring lacks."""
    stored = raw_column(Integration, column, integration.pk)
    if how == "tampered":
        value = stored[:-10] + ("B" if stored[-10] == "A" else "A") + stored[-9:]
    elif how == "legacy_plaintext":
        value = plaintext
    elif how == "unknown_key":
        value = Keyring.parse([generate_key(9)]).encrypt(plaintext.encode(), b"elsewhere")
    else:
        raise ValueError(how)
    write_raw(Integration, column, integration.pk, value)
    return value
