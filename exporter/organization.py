"""Organization conformance packs: each pack's status and every member account's, read from
the management or delegated-admin account. Opt-in: `organization_conformance_packs: true`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from prometheus_client.core import Metric

from exporter.aws import error_code, read_all_pages
from exporter.collector import Target
from exporter.metrics import OrganizationResult, organization_families
from exporter.shared_call import SharedCall

log = logging.getLogger(__name__)

STATUS_OPERATION = "describe_organization_conformance_pack_statuses"
STATUS_KEY = "OrganizationConformancePackStatuses"
DETAIL_OPERATION = "get_organization_conformance_pack_detailed_status"
DETAIL_KEY = "OrganizationConformancePackDetailedStatuses"
PAGE_SIZE = 100  # both operations' maximum


def fetch_organization_packs(
    client: Any, deadline: float
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every organization pack's status, each with its member accounts' statuses."""
    packs = read_all_pages(client, STATUS_OPERATION, STATUS_KEY, PAGE_SIZE, deadline)
    return [
        (
            pack,
            read_all_pages(
                client,
                DETAIL_OPERATION,
                DETAIL_KEY,
                PAGE_SIZE,
                deadline,
                OrganizationConformancePackName=pack["OrganizationConformancePackName"],
            ),
        )
        for pack in packs
    ]


class OrganizationCollector:
    """Reads the organization packs through one target, alongside the pack collection.

    `begin` starts (or joins) the read so it runs while the member packs are collected;
    `end` waits for it until the same deadline.
    """

    def __init__(
        self,
        target: Target,
        *,
        export_status_reason: bool = True,
        min_interval_seconds: float = 0.0,
    ) -> None:
        self._target = target
        self._export_status_reason = export_status_reason
        model = target.client.meta.service_model
        self._states = tuple(model.shape_for("OrganizationResourceStatus").enum)
        self._member_states = tuple(model.shape_for("OrganizationResourceDetailedStatus").enum)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="organization")
        self.read: SharedCall[OrganizationResult] = SharedCall(
            self._pool, lambda result: result.success, min_interval_seconds
        )

    def begin(self, deadline: float) -> OrganizationResult | Future[OrganizationResult] | None:
        """Start or join the read for a scrape ending at `deadline` (monotonic)."""
        return self.read.result_for(self._read, deadline)

    def end(
        self, pending: OrganizationResult | Future[OrganizationResult] | None, deadline: float
    ) -> list[Metric]:
        """The organization families, the read counted as failed if it isn't done in time."""
        if isinstance(pending, Future):
            wait([pending], timeout=max(0.0, deadline - time.monotonic()))
            pending = pending.result() if pending.done() else None
        if pending is None:
            pending = self._failed("timeout", 0.0)
        return organization_families(
            pending, self._states, self._member_states, self._export_status_reason
        )

    def close(self) -> None:
        """Stop the worker thread without waiting for a call still in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _failed(self, code: str, duration: float) -> OrganizationResult:
        account_id = self._target.account.account_id or ""
        log.warning(
            "organization collection failed",
            extra={"account_id": account_id, "region": self._target.region, "error_code": code},
        )
        return OrganizationResult(account_id, self._target.region, False, duration)

    def _read(self, deadline: float) -> OrganizationResult:
        started = time.monotonic()
        try:
            packs = fetch_organization_packs(self._target.client, deadline)
        except Exception as error:
            self._target.account.resolve_account_id()
            return self._failed(error_code(error), time.monotonic() - started)
        return OrganizationResult(
            self._target.account.resolve_account_id(),
            self._target.region,
            True,
            time.monotonic() - started,
            packs,
        )
