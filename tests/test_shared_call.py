"""exporter/shared_call.py: joining, reuse within min_interval, late reads dropped or kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from exporter.shared_call import SharedCall


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(2)
    yield executor
    executor.shutdown(wait=True)


class Reads:
    """A read function that counts calls and blocks until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def __call__(self) -> str:
        self.calls += 1
        self.release.wait(10)
        return f"read {self.calls}"


def test_a_second_caller_joins_the_read_in_flight(pool) -> None:
    shared: SharedCall[str] = SharedCall(pool, lambda result: True)
    reads = Reads()
    deadline = time.monotonic() + 10

    first = shared.result_for(reads, deadline)
    second = shared.result_for(reads, deadline)
    reads.release.set()

    assert isinstance(first, Future)
    assert second is first
    assert first.result(5) == "read 1"
    assert reads.calls == 1


def test_min_interval_serves_the_last_result(pool) -> None:
    shared: SharedCall[str] = SharedCall(pool, lambda result: True, min_interval_seconds=60)
    reads = Reads()
    reads.release.set()
    first = shared.result_for(reads, time.monotonic() + 10)
    assert isinstance(first, Future)
    first.result(5)

    assert shared.result_for(reads, time.monotonic() + 10) == "read 1"
    assert reads.calls == 1
    assert shared.last_success_at is not None


def test_without_min_interval_every_scrape_reads(pool) -> None:
    shared: SharedCall[str] = SharedCall(pool, lambda result: True)
    reads = Reads()
    reads.release.set()
    for expected in ("read 1", "read 2"):
        future = shared.result_for(reads, time.monotonic() + 10)
        assert isinstance(future, Future)
        assert future.result(5) == expected


def test_an_overrunning_read_is_not_piled_on_and_its_result_is_dropped(pool) -> None:
    shared: SharedCall[str] = SharedCall(pool, lambda result: True, min_interval_seconds=60)
    reads = Reads()

    late = shared.result_for(reads, time.monotonic() - 1)  # its deadline has already passed
    assert shared.result_for(reads, time.monotonic() + 10) is None
    reads.release.set()

    assert isinstance(late, Future)
    assert late.result(5) == "read 1"
    assert shared.last is None
    fresh = shared.result_for(reads, time.monotonic() + 10)
    assert isinstance(fresh, Future)
    assert fresh.result(5) == "read 2"
    assert shared.last_success_at is not None


def test_failed_reads_do_not_count_as_success(pool) -> None:
    shared: SharedCall[str] = SharedCall(pool, lambda result: result == "ok")
    reads = Reads()
    reads.release.set()
    future = shared.result_for(reads, time.monotonic() + 10)
    assert isinstance(future, Future)
    future.result(5)
    assert shared.last_success_at is None


def test_a_late_read_is_kept_when_asked(pool) -> None:
    shared: SharedCall[str] = SharedCall(pool, lambda result: True, keep_late=True)
    reads = Reads()
    reads.release.set()

    late = shared.result_for(reads, time.monotonic() - 1)
    assert isinstance(late, Future)
    late.result(5)

    assert shared.last == "read 1"
    assert shared.last_success_at is not None
