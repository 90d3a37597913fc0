"""One scrape: every collector's reads of every target, fanned out under one deadline.

Every collector gets the same treatment here: reads shared between concurrent scrapes, at
most one in flight per (collector, target), `min_interval` reuse, a failing target that
fails alone, one log line per failure, and the self-metrics with a `collector` label.
A collector only turns one target's AWS answers into samples (see exporter/collectors/).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.samples import Sample

from exporter.aws.errors import error_code
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target, UnknownTargetError, select_targets
from exporter.deadline import Deadline
from exporter.metrics import (
    COLLECTOR_LABELS,
    LAST_SUCCESS,
    SCRAPE_DURATION,
    SCRAPE_SUCCESS,
    SELF_HELP,
    STATE,
    STATUS_REASON,
    api_requests_family,
    build_info_family,
    first_of_each_series,
    gauge_families,
)
from exporter.shared_call import SharedCall
from exporter.status_page import Collection, Snapshot, UnsettledPack

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


@dataclass(frozen=True)
class Reading:
    """One collector's read of one target, as served."""

    account_id: str
    region: str
    success: bool
    duration_seconds: float
    samples: Samples = field(default_factory=dict)
    error_code: str = ""


class _Slot:
    """The reads of one (collector, target), and the last good one for background policies."""

    def __init__(self, collector: Collector, target: Target, pool: ThreadPoolExecutor) -> None:
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
        """Runs in a worker, so building samples overlaps other targets' network waits."""
        started = time.monotonic()
        try:
            samples = self.collector.read(self.target, deadline)
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


class Scraper:
    """Runs every collector over its targets for each scrape, within the scrape's deadline."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        targets: Sequence[Target],
        counter: ApiCallCounter,
        *,
        concurrency: int = 64,
    ) -> None:
        self.targets = tuple(targets)
        self._counter = counter
        self._build_info = build_info_family()
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)
        pairs = [(c, t) for c in collectors for t in c.targets(self.targets)]
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(pairs))), thread_name_prefix="collect"
        )
        self._collectors = tuple(collectors)
        self._slots = [_Slot(collector, target, self._pool) for collector, target in pairs]

    def metrics(self, deadline: Deadline) -> list[Metric]:
        """What `/metrics` serves: every target, the exporter's build and process metrics."""
        return [*self.collect(deadline), *self._process.collect()]

    def probe(self, parameters: dict[str, str], deadline: Deadline) -> list[Metric]:
        """What `/probe?account=…&region=…` serves; UnknownTargetError is the client's mistake."""
        unknown = set(parameters) - {"account", "region"}
        if unknown:
            raise UnknownTargetError(f"unknown parameters {sorted(unknown)}; use account, region")
        chosen = select_targets(
            self.targets, parameters.get("account", ""), parameters.get("region", "")
        )
        return self.collect(deadline, chosen)

    def collect(self, deadline: Deadline, targets: Sequence[Target] | None = None) -> list[Metric]:
        """Read `targets` (default: all) with every collector; reads unfinished in time fail.

        The scrape waits for background reads only while it waits for the others anyway.
        """
        started = time.monotonic()
        chosen = set(self.targets if targets is None else targets)
        pending = {
            slot: self._start(slot, deadline) for slot in self._slots if slot.target in chosen
        }
        waited = [
            result
            for slot, result in pending.items()
            if isinstance(result, Future) and not slot.collector.policy.background
        ]
        wait(waited, timeout=deadline.remaining())
        readings = {slot: self._served(slot, result, started) for slot, result in pending.items()}
        for slot, reading in readings.items():
            slot.served = reading
        by_collector: dict[str, list[Reading]] = {}
        for slot, reading in readings.items():
            served_by = by_collector.setdefault(slot.collector.name, [])
            if reading is not None:
                served_by.append(reading)
        by_name: dict[str, Metric] = {}  # a family two collectors serve is served once
        for collector in self._collectors:
            if collector.name not in by_collector:
                continue  # none of its targets was asked for
            served = sorted(
                by_collector[collector.name],
                key=lambda reading: (reading.account_id, reading.region),
            )
            samples = {
                name: [sample for reading in served for sample in reading.samples.get(name, ())]
                for name in collector.help_texts
            }
            if collector.policy.overlapping and len(served) > 1:
                samples = {name: first_of_each_series(found) for name, found in samples.items()}
            for family in gauge_families(collector.help_texts, samples):
                if by_name.setdefault(family.name, family) is not family:
                    by_name[family.name].samples.extend(family.samples)
        families = [*by_name.values(), *self._self_metrics(readings)]
        accounts = {target.account for target in chosen}
        families.append(api_requests_family(self._counter.samples(accounts)))
        families.append(self._build_info)
        return families

    def snapshot(self) -> Snapshot:
        """What the last scrapes saw, for the status page: no AWS call of its own."""
        now = time.time()
        collections, unsettled = [], []
        for slot in self._slots:
            reading, success_at = slot.served, slot.call.last_success_at
            if reading is None:
                continue
            age = None if success_at is None else now - success_at
            collections.append(
                Collection(
                    slot.collector.name,
                    reading.account_id,
                    reading.region,
                    reading.success,
                    reading.duration_seconds,
                    reading.error_code,
                    age,
                )
            )
            reasons = {
                sample.labels["conformance_pack"]: sample.labels["reason"]
                for sample in reading.samples.get(STATUS_REASON, ())
            }
            unsettled += [
                UnsettledPack(
                    reading.account_id,
                    reading.region,
                    sample.labels["conformance_pack"],
                    sample.labels["state"],
                    reasons.get(sample.labels["conformance_pack"], ""),
                )
                for sample in reading.samples.get(STATE, ())
                if sample.value == 1 and not sample.labels["state"].endswith("_COMPLETE")
            ]
        return Snapshot(collections, unsettled)

    def close(self) -> None:
        """Stop the worker threads without waiting for calls still in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, slot: _Slot, deadline: Deadline) -> Reading | Future[Reading] | None:
        """A fresh enough reading, the read in flight, or a new read."""
        read_deadline = deadline
        if slot.collector.policy.background:
            own = Deadline.after(slot.collector.policy.min_interval_seconds)
            read_deadline = max(deadline, own, key=lambda d: d.at)
        return slot.call.result_for(lambda: slot.read(read_deadline), read_deadline.at)

    def _served(
        self, slot: _Slot, result: Reading | Future[Reading] | None, started: float
    ) -> Reading | None:
        """The reading a scrape serves; None when a background read has nothing to serve yet."""
        if isinstance(result, Future):
            result = result.result() if result.done() else None
        if result is not None:
            return result
        if slot.collector.policy.background:
            return slot.call.last
        return slot.failed("timeout", started, slot.target.account.account_id)

    def _self_metrics(self, readings: Mapping[_Slot, Reading | None]) -> list[Metric]:
        samples: dict[str, list[Sample]] = {name: [] for name in SELF_HELP}
        for slot, reading in readings.items():
            if reading is None:
                continue
            labels = {
                "account_id": reading.account_id,
                "region": reading.region,
                "collector": slot.collector.name,
            }
            samples[SCRAPE_SUCCESS].append(Sample(SCRAPE_SUCCESS, labels, float(reading.success)))
            samples[SCRAPE_DURATION].append(
                Sample(SCRAPE_DURATION, labels, reading.duration_seconds)
            )
            if slot.call.last_success_at is not None:
                samples[LAST_SUCCESS].append(
                    Sample(LAST_SUCCESS, labels, slot.call.last_success_at)
                )
        for series in samples.values():
            series.sort(
                key=lambda sample: tuple(sample.labels[label] for label in COLLECTOR_LABELS)
            )
        return gauge_families(SELF_HELP, samples)
