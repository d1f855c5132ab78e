"""The ``"aws_kms"`` key wrapper: data keys encrypted by an AWS KMS key.

OPTIONS: ``KEY_ID`` (a key id, ARN or ``alias/...``), optional ``REGION`` and
``ENDPOINT_URL`` (a VPC endpoint; the tests point it at moto's server).
Credentials come from boto3's usual chain (instance/task role, environment,
shared config): none is a setting here.

``Encrypt``/``Decrypt`` with an *encryption context* (the key version and the
purpose): KMS binds the ciphertext to it and records it in CloudTrail, so a
wrapped entry moved to another version fails to decrypt and every unwrap is
attributable. The blob is ``b"KMS" 0x01 ‖ len(arn) (2 bytes) ‖ arn ‖ KMS
ciphertext``: KMS's own ciphertext already names its key, the ARN is recorded
as well so that ``Decrypt`` is pinned to that key (``KeyId``) and messages and
``rewrap_keys`` can say which KEK wrapped an entry, even after ``KEY_ID`` (or
the alias it names) has moved on to a new KEK.
"""

import struct
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from . import WrapperError, check_options
from .quiet import no_library_logs

MAGIC = b"KMS\x01"

# KMS error codes an operator can act on; any other is named by its code.
_REASONS = {
    "AccessDeniedException": "access denied (the key policy or IAM does not allow it)",
    "NotFoundException": "the KMS key does not exist",
    "DisabledException": "the KMS key is disabled",
    "KMSInvalidStateException": "the KMS key is not usable (pending deletion or import?)",
    "InvalidCiphertextException": (
        "KMS refused the ciphertext (the blob was altered, belongs to another key version, "
        "or was made by another KMS key)"
    ),
    "IncorrectKeyException": "the ciphertext was made by another KMS key",
    "UnrecognizedClientException": "KMS did not recognise the credentials",
    "InvalidSignatureException": "KMS refused the request signature (credentials)",
    "ThrottlingException": "KMS throttled the request",
}


class AwsKmsWrapper:
    """Wraps with ``KEY_ID``; unwraps with the key ARN a blob records."""

    backend = "aws_kms"

    def __init__(self, options: Mapping[str, Any]) -> None:
        values = check_options(
            self.backend, options, required=("KEY_ID",), optional=("REGION", "ENDPOINT_URL")
        )
        self._key_id = values["KEY_ID"]
        self._region = values.get("REGION")
        self._endpoint = values.get("ENDPOINT_URL")
        self._client: Any = None

    def __repr__(self) -> str:
        return f"<AwsKmsWrapper key={self._key_id!r} region={self._region!r}>"

    def describe(self, blob: bytes | None = None) -> str:
        key = self._key_id if blob is None else self._parse(blob)[0]
        return f"KMS key {key}"

    @property
    def client(self) -> Any:
        # Built on first use: creating a boto3 client costs tens of milliseconds.
        # A session of its own: boto3's default session is shared process-wide
        # and not thread-safe to build clients from.
        if self._client is None:
            self._client = boto3.session.Session().client(
                "kms",
                region_name=self._region,
                endpoint_url=self._endpoint,
                config=Config(
                    connect_timeout=5,
                    read_timeout=10,
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            )
        return self._client

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        response = self._call(
            self._key_id,
            lambda: self.client.encrypt(
                KeyId=self._key_id, Plaintext=key, EncryptionContext=dict(context)
            ),
        )
        arn = response["KeyId"].encode("utf-8")
        return MAGIC + struct.pack(">H", len(arn)) + arn + response["CiphertextBlob"]

    def unwrap(self, blob: bytes, *, context: Mapping[str, str]) -> bytes:
        arn, ciphertext = self._parse(blob)
        response = self._call(
            arn,
            lambda: self.client.decrypt(
                CiphertextBlob=ciphertext, KeyId=arn, EncryptionContext=dict(context)
            ),
        )
        return bytes(response["Plaintext"])

    def _parse(self, blob: bytes) -> tuple[str, bytes]:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 2:
            raise WrapperError("the blob was not made by the aws_kms key wrapper")
        (length,) = struct.unpack(">H", blob[len(MAGIC) : len(MAGIC) + 2])
        start = len(MAGIC) + 2
        try:
            arn = blob[start : start + length].decode("utf-8")
        except UnicodeDecodeError:
            arn = ""
        ciphertext = blob[start + length :]
        if not arn or len(arn.encode("utf-8")) != length or not ciphertext:
            raise WrapperError("the blob is truncated or malformed")
        return arn, ciphertext

    def _call(self, key: str, request: Any) -> Any:
        where = f"KMS key {key}" + (f" at {self._endpoint}" if self._endpoint else "")
        try:
            # Also when the wrapper is called directly (not through wrap_entry):
            # botocore's DEBUG lines hold the request and the response bodies.
            with no_library_logs():
                return request()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            reason = _REASONS.get(code, "KMS refused the request")
            raise WrapperError(f"{reason} [{code}; {where}]") from None
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise WrapperError(f"KMS is unreachable [{type(exc).__name__}; {where}]") from None
        except NoCredentialsError:
            raise WrapperError(f"no AWS credentials were found [{where}]") from None
        except BotoCoreError as exc:
            raise WrapperError(f"the KMS call failed [{type(exc).__name__}; {where}]") from None
