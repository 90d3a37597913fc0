"""exporter/workers.py: a collector's workers, resized while reads run."""

from __future__ import annotations

import threading

from exporter.workers import Workers
from tests.conftest import wait_for


class Reads:
    """Reads that hold their thread until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return True


def test_a_resize_bounds_new_reads_and_lets_earlier_ones_finish() -> None:
    reads = Reads()
    workers = Workers(1, "test")
    earlier = [workers.submit(reads) for _ in range(2)]  # one runs, one waits its turn
    wait_for(lambda: reads.running == 1, 5, "the first read", 0.01)

    workers.resize(3)
    later = [workers.submit(reads) for _ in range(4)]
    wait_for(lambda: reads.running == 4, 5, "three new reads beside the first", 0.01)
    reads.release.set()

    assert all(future.result(5) for future in [*earlier, *later]), "a read was dropped"
    assert reads.most == 4, "more than the old read and three new ones ran at once"
    workers.shutdown(wait=True)


def test_shutdown_cancels_reads_that_have_not_started() -> None:
    reads = Reads()
    workers = Workers(1, "test")
    started, waiting = workers.submit(reads), workers.submit(reads)
    wait_for(lambda: reads.running == 1, 5, "the first read", 0.01)

    workers.shutdown(wait=False, cancel_futures=True)
    reads.release.set()

    assert started.result(5)
    assert waiting.cancelled()
