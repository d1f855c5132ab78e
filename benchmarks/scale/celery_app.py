"""The demo project's Celery app with the bed's beat schedule:
``celery -A benchmarks.scale.celery_app worker|beat``.

config/celery.py runs the scheduled refresh every five minutes; a storm bounded
to a minute needs it every ``SCALE_BEAT_SECONDS`` (default 1 s). The task, the
window (900 s, as shipped) and the drop-when-late expiry are the shipped ones.
"""

import os
from pathlib import Path

from celery.signals import beat_init, worker_ready

from config.celery import app

_PERIOD = float(os.environ.get("SCALE_BEAT_SECONDS", "1"))

app.conf.beat_schedule = {
    "refresh-expiring-tokens": {
        "task": "integrations.tasks.refresh_expiring_tokens",
        "schedule": _PERIOD,
        "kwargs": {"within": 900},
        "options": {"expires": max(_PERIOD * 5, 5)},
    },
}


def _ready(kind):
    """Say "ready" with a file in ``SCALE_READY_DIR`` (the driver waits for it
    before the storm starts, so start-up is not counted in it)."""
    folder = os.environ.get("SCALE_READY_DIR")
    if folder:
        (Path(folder) / f"{kind}-{os.getpid()}").touch()


worker_ready.connect(lambda **_: _ready("worker"), weak=False)
beat_init.connect(lambda **_: _ready("beat"), weak=False)

__all__ = ["app"]
