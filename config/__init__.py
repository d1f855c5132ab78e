"""The hosting project (development, demo, tests).

Its Celery app (``config/celery.py``) is loaded with Django when Celery is
installed (the ``celery`` extra), so ``shared_task`` binds to it.
"""

from importlib.util import find_spec

if find_spec("celery") is not None:
    from .celery import app as celery_app

    __all__ = ("celery_app",)
