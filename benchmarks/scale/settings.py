"""The demo project's settings, plus what the bed's kill scenario must shorten:
``SCALE_HTTP_TIMEOUT_SECONDS`` sets ``INTEGRATIONS["HTTP_TIMEOUT_SECONDS"]``,
and with it the refresh lease (3 x the timeout + 5 s), which
config/settings.py does not read from the environment."""

import os

from config.settings import *  # noqa: F403 - these settings, amended below
from config.settings import INTEGRATIONS

if os.environ.get("SCALE_HTTP_TIMEOUT_SECONDS"):
    INTEGRATIONS["HTTP_TIMEOUT_SECONDS"] = float(os.environ["SCALE_HTTP_TIMEOUT_SECONDS"])
