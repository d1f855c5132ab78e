"""The project's Celery app: ``celery -A config worker`` (and ``celery -A config beat``).

Settings come from Django's, prefixed ``CELERY_`` (``CELERY_BROKER_URL``, Redis by
default); tasks are found in every installed app's ``tasks`` module, among them
``integrations.tasks.refresh_expiring_tokens``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery beat: every five minutes, refresh the tokens that expire within fifteen
# (the window is longer than the period, so no token expires between two runs).
# A run still queued when the next one is due is dropped instead of piling up.
app.conf.beat_schedule = {
    "refresh-expiring-tokens": {
        "task": "integrations.tasks.refresh_expiring_tokens",
        "schedule": 300.0,
        "kwargs": {"within": 900},
        "options": {"expires": 290},
    },
    # Every minute, the webhook deliveries that are due (new events no task took,
    # retries whose wait is over); each attempt is made by one worker.
    "deliver-webhooks": {
        "task": "integrations.tasks.deliver_webhooks",
        "schedule": 60.0,
        "kwargs": {"limit": 100},
        "options": {"expires": 55},
    },
}
