"""What a collector is, and one collector's reads of one target: the contract between the
collectors (exporter/collectors/) and the scrape layer (exporter/scrape.py).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.samples import Sample

from exporter.aws.errors import error_code
from exporter.aws.hooks import Owner
from exporter.aws.targets import Target
from exporter.deadline import Deadline
from exporter.encoded_samples import EncodedSamples, encode_reading
from exporter.shared_call import SharedCall

log = logging.getLogger(__name__)

Samples = Mapping[str, Sequence[Sample]]


@dataclass(frozen=True)
class ReadPolicy:
    """How often a collector reads a target, and what scrapes serve in between.

    `background`: a read may outlive the scrape that started it (until `min_interval_seconds`
    from its start, at least the scrape's deadline) and its result is served by the next
    scrape; until a read succeeds, and after one fails, the last good samples are served.
    `overlapping`: reads of different targets may hold the same series (two aggregators of one
    organisation); each is served once, as the first target in (account, region) order has it.
    """

    min_interval_seconds: float = 0.0
    background: bool = False
    overlapping: bool = False


class Collector(Protocol):
    """What the scrape layer needs of a collector; each lives in exporter/collectors/."""

    name: str  # the `collector` label of its self-metrics
    help_texts: Mapping[str, str]  # its families, in exposition order, with their HELP
    policy: ReadPolicy

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        """The targets this collector reads, out of every configured one."""
        ...

    def read(self, target: Target, deadline: Deadline) -> Samples:
        """One target's samples by family name; raises when the target cannot be read."""
        ...


class Reporter(Owner, Protocol):
    """Work done outside the scrapes that reports in `/metrics` as a collector does: account
    discovery, which `/sd` and `/probe` depend on whether or not anything scrapes it."""

    name: str  # the `collector` label of its self-metrics; its calls are counted under it

    def last_reading(self) -> tuple[Reading, float | None] | None:
        """The last attempt and the time of the last success; None before the first attempt."""
        ...


@dataclass(frozen=True)
class Reading:
    """One collector's read of one target, as served."""

    account_id: str
    region: str
    success: bool
    duration_seconds: float
    samples: Mapping[str, EncodedSamples] = field(default_factory=dict)
    error_code: str = ""


class Slot:
    """The reads of one (collector, target), and the last good one for background policies."""

    def __init__(self, collector: Collector, target: Target, pool: Executor) -> None:
        self.collector = collector
        self.target = target
        self.call: SharedCall[Reading] = SharedCall(
            pool,
            lambda reading: reading.success,
            collector.policy.min_interval_seconds,
            keep_late=collector.policy.background,
        )
        self.last_good: Reading | None = None
        self.served: Reading | None = None  # what the last scrape served, for the status page

    def read(self, deadline: Deadline) -> Reading:
        """Runs in a worker, so building and encoding samples overlaps other targets' network
        waits, and a read done by the deadline needs no encoding after it: a background
        reading is served by every scrape until the next, and encoding every sample on each
        scrape was most of a large answer's time."""
        started = time.monotonic()
        try:
            samples = encode_reading(self.collector.read(self.target, deadline))
        except Exception as error:
            return self.failed(error_code(error), started, self.target.account.resolve_account_id())
        reading = Reading(
            self.target.account.resolve_account_id(),
            self.target.region,
            True,
            time.monotonic() - started,
            samples,
        )
        self.last_good = reading
        return reading

    def failed(self, code: str, started: float, account_id: str | None) -> Reading:
        """Log the one line a failed read gets, and report it with `scrape_success` 0."""
        log.warning(
            "collection failed",
            extra={
                "collector": self.collector.name,
                "account_id": account_id or "",
                "region": self.target.region,
                "error_code": code,
            },
            exc_info=log.isEnabledFor(logging.DEBUG) and sys.exc_info()[0] is not None,
        )
        kept = self.last_good if self.collector.policy.background else None
        return Reading(
            account_id or "",
            self.target.region,
            False,
            time.monotonic() - started,
            kept.samples if kept else {},
            code,
        )
