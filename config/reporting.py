"""The project's error-report filter: the app's, plus the demo provider.

The demo authorization server (django-oauth-toolkit and oauthlib, DEBUG only)
handles client secrets, codes and tokens in its locals like our own code does.
"""

from integrations.reporting import SecretSafeExceptionReporterFilter


class ProjectExceptionReporterFilter(SecretSafeExceptionReporterFilter):
    secret_modules = (
        *SecretSafeExceptionReporterFilter.secret_modules,
        "config.demo_provider",
        "oauth2_provider",
        "oauthlib",
    )
