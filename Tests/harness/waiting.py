"""Waiting on a condition, never on the clock alone."""

from __future__ import annotations

import time


class Timeout(AssertionError):
    pass


def wait_for(condition, timeout: float = 15, interval: float = 0.1, message: str = "condition"):
    """Polls `condition()` until it returns something truthy; returns it. An exception raised by
    `condition` counts as not yet (the thing may be between states) and is named if time runs out."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:
            last_error = e
        time.sleep(interval)
    raise Timeout(f"timed out after {timeout} s waiting for {message}" + (f" (last error: {last_error!r})" if last_error else ""))
