"""One webhook worker in its own process (see tests/processes.py): waits for
"go", runs the delivery sweep, and prints its counts as JSON."""

import json
import os
import sys
import time
from pathlib import Path

import django


def main(limit, ready, go):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from django.conf import settings

    from integrations import webhooks
    from integrations.conf import app_settings

    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}
    app_settings.reload()
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    print(json.dumps(webhooks.deliver_due(limit=int(limit))))


if __name__ == "__main__":
    main(*sys.argv[1:4])
