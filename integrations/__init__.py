"""Sealed Integrations: third-party accounts and API credentials, sealed at rest."""

__version__ = "0.2.0"
