"""Fan-out over (account, region) targets under the scrape deadline; results become families.

One failing target never blanks another: each target's errors are caught here, turned into
`scrape_success 0` and one log line, and the scrape still answers in time.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import Metric

from exporter.aws import Account, ApiCallCounter, error_code, fetch_pack_statuses
from exporter.metrics import (
    TargetResult,
    TargetSamples,
    api_requests_family,
    assemble_families,
    target_samples,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One region of one account: the unit that succeeds or fails on its own."""

    account: Account
    region: str

    @property
    def client(self) -> Any:
        return self.account.clients[self.region]


class ConformancePackCollector:
    """A prometheus_client custom collector that reads every target on each collection."""

    def __init__(
        self,
        targets: Sequence[Target],
        states: Sequence[str],
        counter: ApiCallCounter,
        *,
        pack_names: tuple[str, ...] = (),
        export_status_reason: bool = True,
        concurrency: int = 16,
        default_timeout_seconds: float = 10.0,
    ) -> None:
        self._targets = tuple(targets)
        self._states = tuple(states)
        self._counter = counter
        self._pack_names = pack_names
        self._export_status_reason = export_status_reason
        self._default_timeout = default_timeout_seconds
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(self._targets))),
            thread_name_prefix="collect",
        )

    def describe(self) -> list[Metric]:
        """Empty, so registering the collector makes no AWS call."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Collect with the default timeout (the HTTP layer uses `collect_within`)."""
        yield from self.collect_within(self._default_timeout)

    def collect_within(self, timeout_seconds: float) -> list[Metric]:
        """Read every target in parallel; targets unfinished after `timeout_seconds` fail."""
        started = time.monotonic()
        deadline = started + timeout_seconds
        futures: dict[Future[TargetSamples], Target] = {
            self._pool.submit(self._collect_target, target, deadline): target
            for target in self._targets
        }
        done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        results = []
        for future, target in futures.items():
            if future in done:
                results.append(future.result())
                continue
            future.cancel()
            results.append(self._failed(target, "timeout", started, target.account.account_id))
        families = assemble_families(results, self._export_status_reason)
        families.append(api_requests_family(self._counter.samples()))
        return families

    def close(self) -> None:
        """Stop the worker threads without waiting for calls still in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _samples(self, result: TargetResult) -> TargetSamples:
        return target_samples(result, self._states, self._export_status_reason)

    def _failed(
        self, target: Target, code: str, started: float, account_id: str | None
    ) -> TargetSamples:
        """Log the one line a failed target gets, and report it with `scrape_success` 0."""
        log.warning(
            "collection failed",
            extra={"account_id": account_id or "", "region": target.region, "error_code": code},
            exc_info=log.isEnabledFor(logging.DEBUG) and sys.exc_info()[0] is not None,
        )
        failed = TargetResult(
            account_id=account_id or "",
            region=target.region,
            success=False,
            duration_seconds=time.monotonic() - started,
        )
        return self._samples(failed)

    def _collect_target(self, target: Target, deadline: float) -> TargetSamples:
        """Runs in a worker, so building samples overlaps other targets' network waits."""
        started = time.monotonic()
        try:
            statuses = fetch_pack_statuses(target.client, self._pack_names, deadline)
        except Exception as error:
            account_id = target.account.resolve_account_id()
            return self._failed(target, error_code(error), started, account_id)
        for status in statuses:
            target.account.observe_arn(str(status.get("ConformancePackArn", "")))
        collected = TargetResult(
            account_id=target.account.resolve_account_id(),
            region=target.region,
            success=True,
            duration_seconds=time.monotonic() - started,
            pack_statuses=statuses,
        )
        return self._samples(collected)
