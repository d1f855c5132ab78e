"""Sealed Integrations: third-party accounts and API credentials, sealed at rest."""
