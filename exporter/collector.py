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

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.aws import Account, ApiCallCounter, Sessions, error_code, fetch_pack_statuses
from exporter.config import AccountConfig, Config
from exporter.metrics import (
    LAST_SUCCESS,
    TargetResult,
    TargetSamples,
    api_requests_family,
    assemble_families,
    target_samples,
)
from exporter.shared_call import SharedCall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One region of one account: the unit that succeeds or fails on its own."""

    account: Account
    region: str

    @property
    def client(self) -> Any:
        return self.account.clients[self.region]


def build_targets(
    config: Config,
    sessions: Sessions,
    counter: ApiCallCounter,
    default_regions: tuple[str, ...],
) -> list[Target]:
    """One target per (account, region); without `accounts`, the default credentials' account.

    An account's regions are its own, else the config's, else `default_regions` (the SDK's).

    Raises ValueError when an account ends up with no region to read.
    """
    targets = []
    for account_config in config.accounts or (AccountConfig(),):
        regions = account_config.regions or config.regions or default_regions
        if not regions:
            raise ValueError(
                "no AWS region: set `regions` in the config file, AWS_REGION or AWS_DEFAULT_REGION"
            )
        account = Account(sessions, account_config, regions, config, counter)
        targets += [Target(account, region) for region in regions]
    return targets


class UnknownTargetError(LookupError):
    """A probe asked for an account or region that is not configured."""


class ConformancePackCollector:
    """A prometheus_client custom collector that reads every target on each collection.

    Scrapes share work per target: a scrape that finds a target's call in flight waits for
    it instead of calling again (two Prometheus replicas cost one set of AWS calls), and
    with `min_interval_seconds` a result that young is served again. At most one call per
    target is ever in flight.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        states: Sequence[str],
        counter: ApiCallCounter,
        *,
        pack_names: tuple[str, ...] = (),
        export_status_reason: bool = True,
        concurrency: int = 64,
        default_timeout_seconds: float = 10.0,
        min_interval_seconds: float = 0.0,
    ) -> None:
        self.targets = tuple(targets)
        self._states = tuple(states)
        self._counter = counter
        self._pack_names = pack_names
        self._export_status_reason = export_status_reason
        self._default_timeout = default_timeout_seconds
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(self.targets))),
            thread_name_prefix="collect",
        )
        self.reads: dict[Target, SharedCall[TargetSamples]] = {
            target: SharedCall(self._pool, lambda samples: samples.success, min_interval_seconds)
            for target in self.targets
        }

    def select(self, account: str, region: str = "") -> list[Target]:
        """The targets `/probe` asks for: an account by id or name, optionally one region."""
        if not account:
            raise UnknownTargetError("the account parameter is required")
        chosen = [
            target
            for target in self.targets
            if account in (target.account.account_id, target.account.name)
        ]
        if not chosen and any(target.account.account_id is None for target in self.targets):
            # Profile and default-chain accounts learn their id from their first read; ask
            # STS now (once per account, ever) rather than turn away a valid id.
            chosen = [t for t in self.targets if t.account.resolve_account_id() == account]
        if not chosen:
            known = sorted({t.account.name or t.account.account_id or "" for t in self.targets})
            raise UnknownTargetError(f"unknown account {account!r}; configured: {known}")
        if region:
            regions = sorted({target.region for target in chosen})
            chosen = [target for target in chosen if target.region == region]
            if not chosen:
                raise UnknownTargetError(f"{account!r} has no region {region!r}; it has {regions}")
        return chosen

    def probe(self, parameters: dict[str, str], timeout_seconds: float) -> list[Metric]:
        """Collect the targets named by `/probe` parameters (`account`, optional `region`)."""
        unknown = set(parameters) - {"account", "region"}
        if unknown:
            raise UnknownTargetError(f"unknown parameters {sorted(unknown)}; use account, region")
        targets = self.select(parameters.get("account", ""), parameters.get("region", ""))
        return self.collect_within(timeout_seconds, targets)

    def describe(self) -> list[Metric]:
        """Empty, so registering the collector makes no AWS call."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Collect with the default timeout (the HTTP layer uses `collect_within`)."""
        yield from self.collect_within(self._default_timeout)

    def collect_within(
        self, timeout_seconds: float, targets: Sequence[Target] | None = None
    ) -> list[Metric]:
        """Read `targets` (default: all) in parallel; those unfinished in time fail."""
        started = time.monotonic()
        deadline = started + timeout_seconds
        chosen = self.targets if targets is None else tuple(targets)
        pending = {target: self._result_for(target, deadline) for target in chosen}
        futures = [result for result in pending.values() if isinstance(result, Future)]
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        results = []
        for target, result in pending.items():
            if isinstance(result, TargetSamples):
                results.append(result)
            elif result.done():
                results.append(result.result())
            else:
                results.append(self._failed(target, "timeout", started, target.account.account_id))
        families = assemble_families(results, self._export_status_reason)
        families.append(self._last_success_family(chosen))
        accounts = {target.account for target in chosen}
        families.append(api_requests_family(self._counter.samples(accounts)))
        return families

    def close(self) -> None:
        """Stop the worker threads without waiting for calls still in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _result_for(self, target: Target, deadline: float) -> Future[TargetSamples] | TargetSamples:
        """A fresh enough result, the call in flight, or a new call."""
        result = self.reads[target].result_for(
            lambda read_deadline: self._collect_target(target, read_deadline), deadline
        )
        if result is None:
            return self._failed(target, "timeout", time.monotonic(), target.account.account_id)
        return result

    def _last_success_family(self, targets: Sequence[Target]) -> Metric:
        family = GaugeMetricFamily(
            LAST_SUCCESS,
            "Unix time of the last successful read of this account and region; with "
            "min_interval_seconds set, the data served can be up to that old.",
            labels=("account_id", "region"),
        )
        for target in sorted(targets, key=lambda t: (t.account.account_id or "", t.region)):
            success_at = self.reads[target].last_success_at
            if success_at is not None:
                family.add_metric([target.account.account_id or "", target.region], success_at)
        return family

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
        if statuses:  # every pack's ARN names the same account: one is enough
            target.account.observe_arn(str(statuses[0].get("ConformancePackArn", "")))
        collected = TargetResult(
            account_id=target.account.resolve_account_id(),
            region=target.region,
            success=True,
            duration_seconds=time.monotonic() - started,
            pack_statuses=statuses,
        )
        return self._samples(collected)
