"""The sealed-values layer: crypto, sealed model fields, settings, checks,
re-sealing and the key commands. Usable alone (``"integrations.sealed"`` in
``INSTALLED_APPS``, no table of ours); the integrations app builds on it and
this package never imports from it.
"""
