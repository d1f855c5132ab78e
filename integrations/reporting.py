"""Public import path of the error reporter and its filter (settings names
``integrations.reporting.RedactingExceptionReporter`` and
``integrations.reporting.SecretSafeExceptionReporterFilter``); they live in
:mod:`integrations.sealed.reporting`."""

from .sealed.reporting import RedactingExceptionReporter, SecretSafeExceptionReporterFilter

__all__ = ["RedactingExceptionReporter", "SecretSafeExceptionReporterFilter"]
