"""Public import path of the log filter and :class:`Secret` (settings name
``integrations.redaction.RedactingFilter``); they live in
:mod:`integrations.sealed.redaction`."""

from .sealed.redaction import MASK, REDACTED, RedactingFilter, Secret, masked, redact, unmasked

__all__ = ["MASK", "REDACTED", "RedactingFilter", "Secret", "masked", "redact", "unmasked"]
