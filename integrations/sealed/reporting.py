"""Error pages and admins' error e-mails that cannot show a secret, DEBUG or not.

Django's technical 500 page and error e-mails show every frame's local
variables, the POST data, cookies, META and the URL. Django's own filter only
hides what ``sensitive_variables``/``sensitive_post_parameters`` name, and only
while ``DEBUG`` is off: the page a developer sees is unfiltered. Tokens,
client secrets, credential data and encryption keys travel through locals of
our code and of the libraries it calls (Authlib, forms, the ORM), so naming
variables one by one cannot be complete.

The rule, enforced by :class:`SecretSafeExceptionReporterFilter` whatever
``DEBUG`` says:

* A frame of our package, or any frame *called from* one (forms, the ORM,
  Authlib, the keyring parser below our settings object...), shows the names of
  its locals, never their values.
* In a request handled by one of our views (pages, API, our admin), every
  frame's locals, every POST value and every cookie are hidden: the admin and
  form machinery above our code holds what the user typed.
* Everything else still shown (other frames' locals, GET parameters, META,
  the URL, the exception message) is passed through
  :func:`integrations.redaction.redact` *before* it is rendered, so HTML
  escaping cannot hide a secret from it; the rendered page is redacted again.
* The key wrapper's secret options (an HSM PIN) are hidden wherever their
  value appears as a setting or a META entry (runserver copies the whole
  environment into META, so ``HSM_PIN`` is in every request), whatever the
  variable is called; and settings and META entries named like a PIN, a
  passphrase, AWS credentials or the wrapper's own settings are hidden by name.

Frames, file names, lines and the exception type stay: the page is still a
useful traceback. Our exceptions never put a secret in their message.

Enable both in the project's settings (a system check warns otherwise)::

    DEFAULT_EXCEPTION_REPORTER = "integrations.reporting.RedactingExceptionReporter"
    DEFAULT_EXCEPTION_REPORTER_FILTER = "integrations.reporting.SecretSafeExceptionReporterFilter"
"""

import re
from pprint import pformat

from django.conf import settings
from django.urls import resolve
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from .redaction import MASK, redact

# Query parameters whose values the report's GET table shows masked.
_SENSITIVE_PARAMETER = re.compile(
    r"(?i)^(?:code|state|nonce|code_verifier)$|token|secret|password|passwd|api.?key|signature"
)


# Names of settings, META entries (the environment) and wrapper options whose
# values a report hides: Django's list, plus what key wrappers read (a PIN, a
# passphrase, AWS credentials, KEY_WRAPPER and its OPTIONS).
HIDDEN_NAMES = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|CSRF|CREDENTIAL|PRIVATE|DSN"
    r"|(?<![a-z])(?:SO_|USER_)?PIN(?:CODE)?(?![a-z])|PASSPHRASE|KEY_WRAPPER"
    "|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_SECURITY_TOKEN",
    flags=re.I,
)
# A wrapper secret shorter than this is hidden where it is a whole value (a
# setting, a META entry), not replaced inside other text: "1234" would also
# erase line numbers.
_MIN_REPLACED_LENGTH = 6


def wrapper_secret_values():
    """The values of ``KEY_WRAPPER["OPTIONS"]`` whose names are secret (``PIN``...).

    Read from the settings, not from a built wrapper: a report must not call an
    HSM or a KMS, nor fail when the wrapper cannot be built.
    """
    try:
        config = getattr(settings, "INTEGRATIONS", {}).get("KEY_WRAPPER") or {}
        options = config.get("OPTIONS") or {}
        return frozenset(
            value
            for name, value in options.items()
            if isinstance(value, str) and value and HIDDEN_NAMES.search(str(name))
        )
    except Exception:  # a malformed setting must not break the report
        return frozenset()


def _without_wrapper_secrets(text):
    for value in wrapper_secret_values():
        if len(value) >= _MIN_REPLACED_LENGTH:
            text = text.replace(value, MASK)
    return text


def _has_sealed_fields(model):
    from .fields import sealed_fields

    try:
        return bool(sealed_fields(model))
    except Exception:  # a broken model must not break the report
        return False


class _Redacted:
    """A local shown by its redacted ``pformat`` (what the report would print)."""

    __slots__ = ("_text",)

    def __init__(self, value):
        try:
            self._text = redact(pformat(value))
        except Exception as exc:  # a broken __repr__ must not break the report
            self._text = f"<unprintable {type(exc).__name__}>"

    def __repr__(self):
        return self._text


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, always active, that never shows what our code handles.

    ``secret_modules`` are the packages whose frames (and whose callees' frames)
    never show local values, and whose views hide all request data; a project
    extends it with its own secret-handling packages by subclassing.
    """

    secret_modules = ("integrations",)
    hidden_settings = HIDDEN_NAMES

    def cleanse_setting(self, key, value):
        # By value too: the environment variable a wrapper's PIN comes from can
        # have any name (and runserver puts it in every request's META).
        if isinstance(value, str) and value in wrapper_secret_values():
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)

    def is_active(self, request):
        # Django's filter steps aside when DEBUG is on; the page a developer
        # reads (and screenshots, and pastes) is exactly where secrets leak.
        return True

    def is_secret_module(self, module_name):
        return any(
            module_name == name or module_name.startswith(name + ".")
            for name in self.secret_modules
        )

    def runs_our_code(self, tb_frame):
        """Whether this frame is ours or was called (at any depth) from ours."""
        frame = tb_frame
        while frame is not None:
            if self.is_secret_module(frame.f_globals.get("__name__") or ""):
                return True
            frame = frame.f_back
        return False

    def handled_by_our_view(self, request):
        """Whether the request went to one of our views (pages, API, our admin)."""
        if request is None:
            return False
        match = getattr(request, "resolver_match", None)
        if match is None:
            try:
                match = resolve(request.path_info)
            except Exception:  # Resolver404, or a broken URLconf: not provably ours
                return False
        view = match.func
        model_admin = getattr(view, "model_admin", None)
        owners = [view, getattr(view, "cls", None), getattr(view, "view_class", None)]
        if model_admin is not None:
            owners += [type(model_admin), model_admin.model]
        if model_admin is not None and _has_sealed_fields(model_admin.model):
            return True  # any project's admin page of a model with sealed fields
        return any(
            owner is not None and self.is_secret_module(getattr(owner, "__module__", "") or "")
            for owner in owners
        )

    def get_traceback_frame_variables(self, request, tb_frame):
        if self.handled_by_our_view(request) or self.runs_our_code(tb_frame):
            return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
        return [
            (name, value if value is self.cleansed_substitute else _Redacted(value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def get_post_parameters(self, request):
        if request is not None and self.handled_by_our_view(request):
            return self._hide_every_value(request.POST)
        return {
            name: self.cleansed_substitute if self.hidden_settings.search(name) else redact(value)
            for name, value in super().get_post_parameters(request).items()
        }

    def get_cleansed_multivaluedict(self, request, multivaluedict):
        if request is not None and self.handled_by_our_view(request):
            return self._hide_every_value(multivaluedict)
        return super().get_cleansed_multivaluedict(request, multivaluedict)

    def _hide_every_value(self, multivaluedict):
        # What Django does for sensitive_post_parameters("__ALL__"); written out
        # because its helper for it is private and not in every supported version.
        cleansed = multivaluedict.copy()
        for name in cleansed:
            cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_safe_cookies(self, request):
        # A cookie is a credential by nature (sessions, CSRF, remember-me).
        return {name: self.cleansed_substitute for name in getattr(request, "COOKIES", {})}

    def get_safe_request_meta(self, request):
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in super().get_safe_request_meta(request).items()
        }


class RedactingExceptionReporter(ExceptionReporter):
    """Django's reporter with :class:`SecretSafeExceptionReporterFilter` always in
    force, and everything it renders redacted before and after rendering."""

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        if not isinstance(self.filter, SecretSafeExceptionReporterFilter):
            self.filter = SecretSafeExceptionReporterFilter()

    def get_traceback_data(self):
        data = super().get_traceback_data()
        for frame in data["frames"]:
            if "vars" in frame:
                frame["vars"] = [(name, redact(value)) for name, value in frame["vars"]]
        if data.get("exception_value") is not None:
            data["exception_value"] = redact(str(data["exception_value"]))
        for name in ("exception_notes", "unicode_hint", "request_insecure_uri"):
            if data.get(name):
                data[name] = redact(data[name])
        if data.get("request_GET_items") is not None:
            data["request_GET_items"] = [
                (name, MASK if _SENSITIVE_PARAMETER.search(name) else redact(value))
                for name, value in data["request_GET_items"]
            ]
        return data

    def get_traceback_html(self):
        return _without_wrapper_secrets(redact(super().get_traceback_html()))

    def get_traceback_text(self):
        return _without_wrapper_secrets(redact(super().get_traceback_text()))
