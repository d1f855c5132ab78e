"""One racing worker in its own process (see tests/processes.py): asks for a
valid token of one integration and prints the token or the failure's code."""

import os
import sys
import time
from pathlib import Path

import django


def main(integration_pk, ready, go):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from integrations import tokens
    from integrations.models import Integration

    integration = Integration.objects.get(pk=integration_pk)  # connected, settings loaded
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    try:
        print(tokens.get_valid_token(integration, purpose="process race").reveal())
    except tokens.TokenUnavailable as exc:
        print(f"{type(exc).__name__}:{exc.code}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
