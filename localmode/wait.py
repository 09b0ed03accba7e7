"""wait_until: the one bounded poll, for the launcher, the Docker helpers and the tests alike."""

import time


class TimedOut(AssertionError):
    """The condition did not come true in time (an AssertionError, so a test reads it as a failure)."""


def wait_until(predicate, timeout, what, interval=0.05):
    """Poll `predicate` until it returns something true, at most `timeout` seconds.

    Returns the monotonic time it came true. The predicate may raise to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise TimedOut(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)  # the poll interval, bounded by the deadline
