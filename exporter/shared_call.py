"""One AWS read shared by every scrape that needs it, with at most one in flight.

Two Prometheus replicas (or /metrics and /probe) asking at once cost one read; with
`min_interval` a result that young is served again. A read that overran its deadline is
never piled on; whether its late result is kept for the next scrape is the owner's choice.
"""

from __future__ import annotations

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
        keep_late: bool = False,
    ) -> None:
        self._pool = pool
        self._succeeded = succeeded
        self._min_interval = min_interval_seconds
        self._keep_late = keep_late
        self._lock = threading.Lock()
        self._in_flight: Future[Result] | None = None
        self._in_flight_deadline = 0.0
        self._last: Result | None = None
        self._last_at = -math.inf
        self.last_success_at: float | None = None  # Unix time of the last good, kept read

    @property
    def last(self) -> Result | None:
        """The last result kept, however old."""
        return self._last

    def result_for(
        self, read: Callable[[], Result], deadline: float
    ) -> Result | Future[Result] | None:
        """A young enough result, the read in flight, or a new `read()` due by `deadline`.

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

    def cancel(self) -> None:
        """Drop the read in flight if it has not started: its target is no longer read (an
        account discovery or a reload dropped), and a queued read would still call AWS."""
        with self._lock:
            if self._in_flight is not None and self._in_flight.cancel():
                self._in_flight = None

    def _read_and_remember(self, read: Callable[[], Result], deadline: float) -> Result:
        """Keep a result that arrived in time (before anyone waiting sees it), or any if
        `keep_late`; a late one is otherwise dropped so it is not served as fresh."""
        result = read()
        if time.monotonic() > deadline and not self._keep_late:
            return result
        with self._lock:
            self._last, self._last_at = result, time.monotonic()
            if self._succeeded(result):
                self.last_success_at = time.time()
        return result
