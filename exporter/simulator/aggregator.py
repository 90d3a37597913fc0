"""Configuration aggregators: the pack compliance of many accounts and regions, answered from one
account and region the way DescribeAggregateComplianceByConformancePacks does, computed from the
packs the simulator serves there so aggregated and direct reads always agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field

from exporter.simulator.compliance import pack_compliance
from exporter.simulator.errors import client_error
from exporter.simulator.packs import Shelf
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.service_model import Params, conforms, enum_values

AGGREGATE = "DescribeAggregateComplianceByConformancePacks"
_FILTERS = ("AccountId", "AwsRegion", "ConformancePackName", "ComplianceType")


@dataclass(frozen=True)
class SourceStatus:
    """How the aggregator's last update from one source went; None for `updated_at` means the
    simulator's start."""

    status: str = "SUCCEEDED"
    _: KW_ONLY
    updated_at: float | None = None
    error_code: str = ""
    error_message: str = ""

    def __post_init__(self) -> None:
        allowed = enum_values("AggregatedSourceStatusType")
        if self.status not in allowed:
            raise ValueError(f"source status {self.status!r} is not one of {allowed}")


@dataclass(frozen=True)
class SimulatedAggregator:
    """An aggregator and the (account, region) sources whose packs it reports.

    Sources without packs in the scenario report nothing, as an account without packs would.
    `source_type` is ACCOUNT for an aggregator of listed accounts, ORGANIZATION for one over an
    organization; `statuses` overrides the default SUCCEEDED update of some sources.
    """

    name: str
    sources: tuple[tuple[str, str], ...]
    source_type: str = "ACCOUNT"
    statuses: Mapping[tuple[str, str], SourceStatus] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not conforms("ConfigurationAggregatorName", self.name):
            raise ValueError(f"aggregator name {self.name!r} is not a ConfigurationAggregatorName")
        if self.source_type not in enum_values("AggregatedSourceType"):
            raise ValueError(f"{self.name}: source type {self.source_type!r} is not valid")
        strangers = sorted(set(self.statuses) - set(self.sources))
        if strangers:
            raise ValueError(f"{self.name}: statuses of sources it does not have: {strangers}")
        for account, region in self.sources:
            if not conforms("AccountId", account) or not conforms("AwsRegion", region):
                raise ValueError(f"{self.name}: source {(account, region)!r} is not valid")
        duplicates = sorted(source for source, seen in Counter(self.sources).items() if seen > 1)
        if duplicates:
            raise ValueError(f"{self.name}: sources must be unique: {duplicates}")


def aggregators_by_name(aggregators: list[SimulatedAggregator]) -> dict[str, SimulatedAggregator]:
    """One (account, region)'s aggregators by name; names are unique there, as on AWS."""
    names = Counter(aggregator.name for aggregator in aggregators)
    duplicates = sorted(name for name, seen in names.items() if seen > 1)
    if duplicates:
        raise ValueError(f"aggregator names must be unique per account and region: {duplicates}")
    return {aggregator.name: aggregator for aggregator in aggregators}


def aggregate_compliance(
    payload: dict[str, object],
    caller: tuple[str, str],
    aggregators: Mapping[str, SimulatedAggregator],
    shelves: Mapping[tuple[str, str], Shelf],
    tokens: PageTokens,
    times: tuple[float, float],
) -> dict[str, object]:
    """DescribeAggregateComplianceByConformancePacks: a row per source pack, by account,
    region and pack name; `aggregators` are those of the `caller`'s account and region and
    `times` the simulator's start and now."""
    params = Params(AGGREGATE, payload)
    aggregator = named_aggregator(params, aggregators)
    filters = {key: params.string("Filters", key) for key in _FILTERS}
    query = query_key(AGGREGATE, *caller, aggregator.name, filters)
    position = tokens.read(params.string("NextToken"), query)
    rows = sorted(_rows(aggregator, shelves, filters, times), key=lambda row: row[0])
    start = after([key for key, _ in rows], position)
    page, more = take(rows[start:], params.page_size)
    result: dict[str, object] = {"AggregateComplianceByConformancePacks": [r for _, r in page]}
    if more:
        result["NextToken"] = tokens.issue(query, page[-1][0])
    return result


def _rows(
    aggregator: SimulatedAggregator,
    shelves: Mapping[tuple[str, str], Shelf],
    filters: Mapping[str, str | None],
    times: tuple[float, float],
) -> Iterator[tuple[str, dict[str, object]]]:
    """(paging key, row) of every source pack the filters let through; a space sorts before
    every character of account ids, regions and pack names, so keys sort as their parts."""
    for account, region in aggregator.sources:
        shelf = shelves.get((account, region))
        if shelf is None or filters["AccountId"] not in (None, account):
            continue
        if filters["AwsRegion"] not in (None, region):
            continue
        for stored in shelf.packs:
            if filters["ConformancePackName"] not in (None, stored.name):
                continue
            rules = stored.effective(*times).rules
            verdict = pack_compliance(rules)
            if filters["ComplianceType"] not in (None, verdict):
                continue
            tally = Counter(rule.compliance for rule in rules)
            row: dict[str, object] = {
                "ConformancePackName": stored.name,
                "Compliance": {
                    "ComplianceType": verdict,
                    "CompliantRuleCount": tally["COMPLIANT"],
                    "NonCompliantRuleCount": tally["NON_COMPLIANT"],
                    "TotalRuleCount": len(rules),
                },
                "AccountId": account,
                "AwsRegion": region,
            }
            yield f"{account} {region} {stored.name}", row


def named_aggregator(
    params: Params, aggregators: Mapping[str, SimulatedAggregator]
) -> SimulatedAggregator:
    """The caller's aggregator the request names; AWS refuses one it does not have."""
    aggregator = aggregators.get(params.string("ConfigurationAggregatorName") or "")
    if aggregator is None:
        raise client_error(
            "NoSuchConfigurationAggregatorException",
            "The configuration aggregator does not exist. Check the configuration aggregator"
            " name and try again.",
        )
    return aggregator
