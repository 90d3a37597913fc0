"""A collector's worker threads, whose number a configuration reload may change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
Result = TypeVar("Result")


class Workers(Executor):
    """One collector's worker threads, resizable while serving.

    Slots submit to the pool they were made with; a reload that changes `concurrency` swaps
    the threads behind it rather than the slots, which hold the last readings.
    """

    def __init__(self, size: int, name: str) -> None:
        self._name = f"collect-{name}"
        self._size = size
        self._swap = threading.Lock()
        self._current = ThreadPoolExecutor(max_workers=size, thread_name_prefix=self._name)

    def submit(
        self, fn: Callable[P, Result], /, *args: P.args, **kwargs: P.kwargs
    ) -> Future[Result]:
        with self._swap:
            return self._current.submit(fn, *args, **kwargs)

    def resize(self, size: int) -> None:
        """Run new reads on at most `size` threads; reads in flight or queued still run."""
        with self._swap:
            if size == self._size:
                return
            old, self._size = self._current, size
            self._current = ThreadPoolExecutor(max_workers=size, thread_name_prefix=self._name)
        old.shutdown(wait=False)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._swap:
            self._current.shutdown(wait=wait, cancel_futures=cancel_futures)
