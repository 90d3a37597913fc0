"""One scrape: every collector's reads of every target, fanned out under one deadline.

Every collector gets the same treatment here: workers of its own, reads shared between
concurrent scrapes, at most one in flight per (collector, target), `min_interval` reuse, a
failing target that fails alone, one log line per failure, and the self-metrics with a
`collector` label.
A collector only turns one target's AWS answers into samples (see exporter/collectors/).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from concurrent.futures import Future, wait

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import Metric

from exporter.answer import account_info, collector_families, self_metrics
from exporter.aws.accounts import SOURCES
from exporter.aws.hooks import ApiCallCounter, Owner
from exporter.aws.targets import Target, UnknownTargetError, select_targets
from exporter.collection import Collector, Reading, Reporter, Slot
from exporter.deadline import Deadline
from exporter.metrics import (
    accounts_family,
    api_requests_family,
    build_info_family,
)
from exporter.status_page import Snapshot, snapshot_of
from exporter.workers import Workers

log = logging.getLogger(__name__)


class UnknownCollectorError(LookupError):
    """`collect[]` named a collector the exporter does not run."""


class Scraper:
    """Runs every collector over its targets for each scrape, within the scrape's deadline."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        targets: Sequence[Target],
        counter: ApiCallCounter,
        *,
        concurrency: int = 64,
        names: Iterable[str] = (),
    ) -> None:
        """`names` are the collector names `collect[]` may ask for besides the running ones:
        those of collectors the configuration leaves off, which then serve nothing."""
        self._counter = counter
        self._names = frozenset(names)
        self._build_info = build_info_family()
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)
        # One pool per collector, so no read ever queues behind another collector's: a status
        # read starts within its scrape however many slow compliance or aggregator reads are
        # running. Threads start as reads need them, so pools sized for the most targets cost
        # nothing until used; each is bounded by `concurrency`.
        self._concurrency = concurrency
        self._pools: dict[str, Workers] = {}
        self._collectors: tuple[Collector, ...] = ()
        self._reporters: tuple[Reporter, ...] = ()
        self._exporter_families: tuple[Callable[[], Iterable[Metric]], ...] = ()
        self._listed_names: Callable[[], Mapping[str, str]] = dict
        self._lock = threading.Lock()
        self._targets: tuple[Target, ...] = ()
        self._slots: tuple[Slot, ...] = ()
        self.set_targets(targets, collectors)

    @property
    def targets(self) -> tuple[Target, ...]:
        """The targets read now."""
        return self._targets

    @property
    def collectors(self) -> tuple[Collector, ...]:
        """The collectors that read them."""
        return self._collectors

    def set_targets(
        self, targets: Sequence[Target], collectors: Sequence[Collector] | None = None
    ) -> None:
        """Read `targets` from the next scrape on (discovery changes them while serving), with
        `collectors` if given (a reload changes them), in one step.

        A (collector, target) read before keeps its reads in flight, its timings and its last
        good reading; one no longer given is dropped with them (a read of it not started yet
        is cancelled), and so are its series. A collector is told from another by identity: a
        reload passes the running one when its settings did not change.
        """
        chosen = tuple(targets)
        with self._lock:
            running = self._collectors if collectors is None else tuple(collectors)
            for collector in running:
                if collector.name not in self._pools:
                    self._pools[collector.name] = Workers(self._concurrency, collector.name)
            before = self._slots
            kept = {(slot.collector, slot.target): slot for slot in before}
            self._slots = tuple(
                kept.get((collector, target))
                or Slot(collector, target, self._pools[collector.name])
                for collector in running
                for target in collector.targets(chosen)
            )
            for dropped in set(before) - set(self._slots):
                dropped.call.cancel()
            self._targets, self._collectors = chosen, running
            names = {collector.name for collector in running}
            for name in [name for name in self._pools if name not in names]:
                self._pools.pop(name).shutdown(wait=False)

    def resize(self, concurrency: int) -> None:
        """Bound each collector's reads to `concurrency` from now on; reads keep their slots."""
        with self._lock:
            self._concurrency = concurrency
            for pool in self._pools.values():
                pool.resize(concurrency)

    def set_reporters(self, reporters: Sequence[Reporter]) -> None:
        """Serve `reporters`' self-metrics, and no other's (a reload replaces discovery)."""
        self._reporters = tuple(reporters)

    def set_listed_names(self, names: Callable[[], Mapping[str, str]]) -> None:
        """Name the accounts the configuration leaves unnamed: discovery's listing, by id."""
        self._listed_names = names

    def add_exporter_families(self, families: Callable[[], Iterable[Metric]]) -> None:
        """Serve `families()` in `/metrics`, whatever `collect[]` asks, never in a probe: the
        exporter's own state (the last configuration reload), as the accounts gauge."""
        self._exporter_families = (*self._exporter_families, families)

    def add_reporter(self, reporter: Reporter) -> None:
        """Serve `reporter`'s self-metrics in `/metrics` and on the status page."""
        self._reporters = (*self._reporters, reporter)

    def metrics(self, deadline: Deadline, collectors: Sequence[str] = ()) -> list[Metric]:
        """What `/metrics` serves: every target, the exporter's own work, build and process.

        `collectors`, when given (`collect[]`), limits the reads and reports to those named.
        Raises UnknownCollectorError for a name no collector or reporter has.
        """
        known = {c.name for c in self._collectors} | {r.name for r in self._reporters}
        known |= self._names
        unknown = sorted(set(collectors) - known)
        if unknown:
            raise UnknownCollectorError(f"unknown collectors {unknown}; known: {sorted(known)}")
        only = frozenset(collectors) or None
        return [*self.collect(deadline, only=only), *self._process.collect()]

    def probe(self, parameters: dict[str, str], deadline: Deadline) -> list[Metric]:
        """What `/probe?account=…&region=…` serves; UnknownTargetError is the client's mistake."""
        unknown = set(parameters) - {"account", "region"}
        if unknown:
            raise UnknownTargetError(f"unknown parameters {sorted(unknown)}; use account, region")
        chosen = select_targets(
            self.targets, parameters.get("account", ""), parameters.get("region", "")
        )
        return self.collect(deadline, chosen)

    def collect(
        self,
        deadline: Deadline,
        targets: Sequence[Target] | None = None,
        only: Set[str] | None = None,
    ) -> list[Metric]:
        """Read `targets` (default: all, and then the reporters' work too) with every
        collector, or those in `only`; reads unfinished in time fail.

        The scrape waits for background reads only while it waits for the others anyway.
        """
        started = time.monotonic()
        with self._lock:
            slots, every_target = self._slots, self._targets
            collectors = self._collectors
        chosen = set(every_target if targets is None else targets)
        pending = {
            slot: self._start(slot, deadline)
            for slot in slots
            if slot.target in chosen and (only is None or slot.collector.name in only)
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
        by_name = collector_families(collectors, readings)
        reports = [
            (slot.collector.name, reading, slot.call.last_success_at)
            for slot, reading in readings.items()
            if reading is not None
        ]
        # The calls of each (account, region) read, and the reporters': a target's are
        # served once, by its own probe, whatever other targets its account has.
        read: set[tuple[Owner, str]] = {
            (slot.target.account, slot.target.region) for slot in pending
        }
        owners: set[Owner] = set()
        if targets is None:
            reporters = [r for r in self._reporters if only is None or r.name in only]
            reports += self._reports(reporters)
            owners.update(reporters)
        families = [*by_name.values(), *self_metrics(reports)]
        calls = self._counter.samples(
            lambda owner, region: (owner, region) in read or owner in owners
        )
        families.append(api_requests_family(calls))
        accounts = {target.account for target in chosen}
        families.append(account_info(accounts, self._listed_names()))
        if targets is None:
            sources = Counter(account.source for account in accounts)
            counts = {source: sources[source] for source in {*SOURCES, *sources}}
            families.append(accounts_family(counts))
            families += [family for source in self._exporter_families for family in source()]
        families.append(self._build_info)
        return families

    def snapshot(self) -> Snapshot:
        """What the last scrapes saw, for the status page: no AWS call of its own."""
        served = [
            (slot.collector.name, slot.served, slot.call.last_success_at) for slot in self._slots
        ]
        return snapshot_of([*served, *self._reports(self._reporters)], time.time())

    def close(self) -> None:
        """Stop the worker threads without waiting for calls still in flight."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, slot: Slot, deadline: Deadline) -> Reading | Future[Reading] | None:
        """A fresh enough reading, the read in flight, or a new read."""
        read_deadline = deadline
        if slot.collector.policy.background:
            own = Deadline.after(slot.collector.policy.min_interval_seconds)
            read_deadline = max(deadline, own, key=lambda d: d.at)
        return slot.call.result_for(lambda: slot.read(read_deadline), read_deadline.at)

    def _served(
        self, slot: Slot, result: Reading | Future[Reading] | None, started: float
    ) -> Reading | None:
        """The reading a scrape serves; None when a background read has nothing to serve yet."""
        if isinstance(result, Future):
            done = result.done() and not result.cancelled()  # cancelled: its target dropped
            result = result.result() if done else None
        if result is not None:
            return result
        if slot.collector.policy.background:
            return slot.call.last
        return slot.failed("timeout", started, slot.target.account.account_id)

    @staticmethod
    def _reports(reporters: Iterable[Reporter]) -> list[tuple[str, Reading, float | None]]:
        """The reporters' last attempts, as (collector label, reading, last success time)."""
        reports = []
        for reporter in reporters:
            last = reporter.last_reading()
            if last is not None:
                reports.append((reporter.name, *last))
        return reports
