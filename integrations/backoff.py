"""Trying a provider request again after a failure that may pass.

A refresh is tried again (``REFRESH_RETRY_ATTEMPTS`` in all) only when the
provider certainly did not act on it: the connection was refused or timed out
before the request left, or the provider answered 429, 503 or
``temporarily_unavailable`` (see :attr:`OAuthFlowError.unsent`). After a read
timeout, a dropped connection or another 5xx it may have rotated the refresh
token we sent, and sending that token again is what a provider detecting reuse
punishes by revoking the grant: such a failure is handed back at once. Waits are
random and double each time (tenacity's exponential backoff with full jitter, so
that workers that failed together do not come back together), and never shorter
than a ``Retry-After`` the provider sent. Only the worker holding the row's
refresh lease calls it, so retrying never makes a second refresh of one expiry,
and the waiting workers keep polling the row as before. The caller passes the
time it can spend (its lease's remaining length): no try starts that could end
after it.
"""

import logging
import time

import tenacity

from .conf import app_settings
from .oauth import OAuthFlowError

logger = logging.getLogger("integrations.backoff")

# How the waits are slept; a test replaces it to count them without waiting.
sleep = time.sleep


def _safe_to_send_again(exc):
    return isinstance(exc, OAuthFlowError) and exc.transient and exc.unsent


def _log_retry(retry_state):
    exc = retry_state.outcome.exception()
    # The error code only: never the exception's text, which may quote a response.
    logger.warning(
        "Provider request failed (%s); try %d of %d in %.2f s",
        getattr(exc, "code", type(exc).__name__),
        retry_state.attempt_number + 1,
        app_settings.REFRESH_RETRY_ATTEMPTS,
        retry_state.upcoming_sleep,
    )


def _stop_before(budget):
    """Stop when the next try would start ``budget`` seconds or more after the
    first (tenacity's ``stop_before_delay``, also counting the waits planned so
    far, which a test's ``sleep`` records without waiting)."""

    def stop(retry_state):
        spent = max(retry_state.seconds_since_start or 0, retry_state.idle_for)
        return spent + (retry_state.upcoming_sleep or 0) >= budget

    return stop


def _at_least_retry_after(backoff):
    """``backoff``'s wait, or the provider's ``Retry-After`` when it is longer."""

    def wait(retry_state):
        asked = getattr(retry_state.outcome.exception(), "retry_after", None) or 0
        return max(backoff(retry_state), asked)

    return wait


def call_with_backoff(call, *, budget):
    """``call()``, tried again while it raises a transient :class:`OAuthFlowError`
    the provider certainly did not act on, at most ``REFRESH_RETRY_ATTEMPTS``
    times, with no try starting later than ``budget`` seconds after the first;
    the last failure is raised as it was."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_safe_to_send_again),
        stop=(
            tenacity.stop_after_attempt(app_settings.REFRESH_RETRY_ATTEMPTS) | _stop_before(budget)
        ),
        wait=_at_least_retry_after(
            tenacity.wait_random_exponential(
                multiplier=app_settings.REFRESH_RETRY_BACKOFF_SECONDS, max=max(budget, 0)
            )
        ),
        sleep=lambda seconds: sleep(seconds),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(call)
