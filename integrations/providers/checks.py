"""The system check of the provider catalog (registered by the app's ``ready``)."""

from django.core import checks


def check_provider_catalog(app_configs=None, **kwargs):
    """Every catalog entry that failed its checks, one error each: the file, the
    entry's slug and the field, so the fix is one look away."""
    from . import catalog_errors

    return [
        checks.Error(
            f"provider catalog entry {error}",
            hint="See docs/reference/provider-catalog-format.md; the entry is not offered "
            "until it is fixed.",
            obj=error.source,
            id="integrations.E040",
        )
        for error in catalog_errors()
    ]
