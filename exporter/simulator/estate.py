"""`Estate`: what the simulator's AWS Config holds per (account, region) (packs, organization
packs, aggregators, recorders and delivery channels) and which operation reads which of them,
kept apart from the HTTP server so each operation family stays one small module."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from exporter.simulator import (
    aggregator,
    aggregator_sources,
    compliance_api,
    evaluation_api,
    organization,
    pipeline_api,
    remediation_api,
    status_api,
)
from exporter.simulator.aggregator import SimulatedAggregator
from exporter.simulator.errors import ApiError
from exporter.simulator.organization import OrganizationPack, OrganizationShelf
from exporter.simulator.packs import Shelf, SimulatedPack
from exporter.simulator.paging import PageTokens
from exporter.simulator.pipeline import (
    Pipeline,
    SimulatedDeliveryChannel,
    SimulatedRecorder,
    pipelines,
)
from exporter.simulator.scenario import Scenario
from exporter.simulator.wire import Request, json_payload

PackOperation = Callable[[dict[str, object], Shelf, PageTokens, float, float], dict[str, object]]
OrganizationOperation = Callable[
    [dict[str, object], OrganizationShelf | None, PageTokens], dict[str, object]
]

_PACK_OPERATIONS: dict[str, PackOperation] = {
    status_api.OPERATION: status_api.describe_status,
    compliance_api.SUMMARY: compliance_api.compliance_summary,
    compliance_api.SCORES: compliance_api.compliance_scores,
    compliance_api.PACK_RULES: compliance_api.pack_rule_compliance,
    compliance_api.RULES: compliance_api.rule_compliance,
    evaluation_api.OPERATION: evaluation_api.evaluation_status,
    remediation_api.CONFIGURATIONS: remediation_api.remediation_configurations,
    remediation_api.EXECUTIONS: remediation_api.execution_status,
}
_ORGANIZATION_OPERATIONS: dict[str, OrganizationOperation] = {
    organization.STATUSES: organization.organization_statuses,
    organization.MEMBERS: organization.member_statuses,
}


class Estate:
    """A `Scenario`'s Config data, replaceable per (account, region) while requests are served."""

    def __init__(self, scenario: Scenario) -> None:
        self._lock = threading.Lock()
        self._shelves = {
            (account, region): Shelf(account, region, packs)
            for (account, region), packs in scenario.packs.items()
        }
        self._organization_shelves = {
            (account, region): OrganizationShelf(account, region, packs)
            for (account, region), packs in scenario.organization_packs.items()
        }
        self._aggregators = {
            target: aggregator.aggregators_by_name(aggregators)
            for target, aggregators in scenario.aggregators.items()
        }
        self._pipelines = pipelines(scenario.recorders, scenario.delivery_channels)

    def set_packs(self, account: str, region: str, packs: Iterable[SimulatedPack]) -> None:
        """Replace the packs of one (account, region)."""
        shelf = Shelf(account, region, packs)
        with self._lock:
            self._shelves[(account, region)] = shelf

    def set_organization_packs(
        self, account: str, region: str, packs: Iterable[OrganizationPack]
    ) -> None:
        """Replace the organization packs of one management (account, region)."""
        shelf = OrganizationShelf(account, region, packs)
        with self._lock:
            self._organization_shelves[(account, region)] = shelf

    def set_aggregators(
        self, account: str, region: str, aggregators: Iterable[SimulatedAggregator]
    ) -> None:
        """Replace the aggregators reachable from one (account, region)."""
        by_name = aggregator.aggregators_by_name(list(aggregators))
        with self._lock:
            self._aggregators[(account, region)] = by_name

    def set_pipeline(
        self,
        account: str,
        region: str,
        recorders: Iterable[SimulatedRecorder] | None = None,
        delivery_channels: Iterable[SimulatedDeliveryChannel] | None = None,
    ) -> None:
        """Replace the recorders or the delivery channels of one (account, region)."""
        with self._lock:
            pipeline = self._pipeline(account, region).replaced(recorders, delivery_channels)
            self._pipelines[(account, region)] = pipeline

    def answer(
        self, request: Request, tokens: PageTokens, started_at: float, now: float
    ) -> dict[str, object]:
        """The reply document of one Config request, or the ApiError AWS would answer."""
        target = (request.account, request.region)
        pack_operation = _PACK_OPERATIONS.get(request.operation)
        if pack_operation is not None:
            with self._lock:
                shelf = self._shelves.get(target)
            if shelf is None:
                shelf = Shelf(*target, ())
            return pack_operation(json_payload(request.body), shelf, tokens, started_at, now)
        pipeline_operation = pipeline_api.OPERATIONS.get(request.operation)
        if pipeline_operation is not None:
            with self._lock:
                pipeline = self._pipeline(*target)
            payload = json_payload(request.body)
            return pipeline_operation(payload, pipeline, tokens, started_at, now)
        if request.operation == aggregator_sources.OPERATION:
            with self._lock:
                aggregators = self._aggregators.get(target, {})
            return aggregator_sources.sources_status(
                json_payload(request.body), target, aggregators, tokens, started_at
            )
        if request.operation == aggregator.AGGREGATE:
            with self._lock:
                aggregators = self._aggregators.get(target, {})
                shelves = dict(self._shelves)
            return aggregator.aggregate_compliance(
                json_payload(request.body), target, aggregators, shelves, tokens, (started_at, now)
            )
        organization_operation = _ORGANIZATION_OPERATIONS.get(request.operation)
        if organization_operation is not None:
            with self._lock:
                organization_shelf = self._organization_shelf(*target)
            return organization_operation(json_payload(request.body), organization_shelf, tokens)
        raise ApiError.of("unknown_operation", "config", operation=request.operation)

    def _pipeline(self, account: str, region: str) -> Pipeline:
        """The recorders and channels of (account, region): none unless the scenario or a test
        gave some. Call with the lock held."""
        return self._pipelines.get((account, region)) or Pipeline(account, region)

    def _organization_shelf(self, account: str, region: str) -> OrganizationShelf | None:
        """The management account's shelf for `region`, empty if it has no packs there; None
        for any other account. Call with the lock held."""
        shelf = self._organization_shelves.get((account, region))
        if shelf is None and any(owner == account for owner, _ in self._organization_shelves):
            return OrganizationShelf(account, region, ())
        return shelf
