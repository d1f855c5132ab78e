"""An exception reporter that scrubs debug error pages and admins' error e-mails.

Django's error reports show the request (its query string included: an OAuth
callback's ``code`` and ``state``) and, outside ``sensitive_variables``, local
variables. This reporter passes both renderings through
:func:`integrations.redaction.redact`, which removes every registered secret
(each :class:`~integrations.redaction.Secret`) and well-known secret shapes,
``?code=…&state=…`` in URLs included. Enable it in the project's settings::

    DEFAULT_EXCEPTION_REPORTER = "integrations.reporting.RedactingExceptionReporter"
"""

import re

from django.views.debug import ExceptionReporter

from .redaction import MASK, redact

# Query parameters whose values the report's GET table shows masked.
_SENSITIVE_PARAMETER = re.compile(
    r"(?i)^(?:code|state|nonce|code_verifier)$|token|secret|password|passwd|api.?key|signature"
)


class RedactingExceptionReporter(ExceptionReporter):
    def get_traceback_data(self):
        data = super().get_traceback_data()
        if data.get("request_GET_items") is not None:
            data["request_GET_items"] = [
                (name, MASK if _SENSITIVE_PARAMETER.search(name) else value)
                for name, value in data["request_GET_items"]
            ]
        return data

    def get_traceback_html(self):
        return redact(super().get_traceback_html())

    def get_traceback_text(self):
        return redact(super().get_traceback_text())
