"""One AWS read shared by every scrape that needs it, with at most one in flight.

Two Prometheus replicas (or /metrics and /probe) asking at once cost one read; a read that
overran its scrape's deadline is neither piled on nor served later; with `min_interval` a
result that young is served again.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

Result = TypeVar("Result")


class SharedCall(Generic[Result]):
    """The reads of one target; `result_for` is called by every scrape that needs it."""

    def __init__(
        self,
        pool: Executor,
        succeeded: Callable[[Result], bool],
        min_interval_seconds: float = 0.0,
    ) -> None:
        self._pool = pool
        self._succeeded = succeeded
        self._min_interval = min_interval_seconds
        self._lock = threading.Lock()
        self._in_flight: Future[Result] | None = None
        self._in_flight_deadline = 0.0
        self._last: Result | None = None
        self._last_at = -math.inf
        self.last_success_at: float | None = None  # Unix time of the last good, timely read

    def result_for(
        self, read: Callable[[float], Result], deadline: float
    ) -> Result | Future[Result] | None:
        """A young enough result, the read in flight, or a new read of `read(deadline)`.

        None means a read that overran its own deadline is still running: the caller reports
        the target as timed out rather than start a second one.
        """
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last_at < self._min_interval:
                return self._last
            if self._in_flight is not None and not self._in_flight.done():
                return self._in_flight if now < self._in_flight_deadline else None
            future = self._pool.submit(self._read_and_remember, read, deadline)
            self._in_flight, self._in_flight_deadline = future, deadline
        return future

    def wait_idle(self, timeout: float) -> None:
        """Wait for the read in flight, if any, to end: how tests await a hung read."""
        in_flight = self._in_flight
        if in_flight is not None:
            with contextlib.suppress(TimeoutError):
                in_flight.exception(timeout)

    def _read_and_remember(self, read: Callable[[float], Result], deadline: float) -> Result:
        """Keep a result that arrived in time (before anyone waiting sees it); drop a late one."""
        result = read(deadline)
        if time.monotonic() > deadline:
            return result
        with self._lock:
            self._last, self._last_at = result, time.monotonic()
            if self._succeeded(result):
                self.last_success_at = time.time()
        return result
