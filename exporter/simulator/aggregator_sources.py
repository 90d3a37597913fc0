"""DescribeConfigurationAggregatorSourcesStatus: how each source of an aggregator last updated,
so organisation-wide numbers that went stale can be told from fresh ones."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.simulator.aggregator import SimulatedAggregator, SourceStatus, named_aggregator
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.service_model import Params

OPERATION = "DescribeConfigurationAggregatorSourcesStatus"


def sources_status(
    payload: dict[str, object],
    caller: tuple[str, str],
    aggregators: Mapping[str, SimulatedAggregator],
    tokens: PageTokens,
    started_at: float,
) -> dict[str, object]:
    """The sources of one of the `caller`'s aggregators by account and region, filtered by
    their last update's status."""
    params = Params(OPERATION, payload)
    aggregator = named_aggregator(params, aggregators)
    wanted = set(params.strings("UpdateStatus"))
    query = query_key(OPERATION, *caller, aggregator.name, sorted(wanted))
    healthy = SourceStatus()
    rows = [
        (
            f"{account} {region}",
            account,
            region,
            aggregator.statuses.get((account, region), healthy),
        )
        for account, region in sorted(aggregator.sources)
    ]
    start = after([key for key, *_ in rows], tokens.read(params.string("NextToken"), query))
    page, more = take(
        (row for row in rows[start:] if not wanted or row[3].status in wanted),
        params.page_size,
    )
    result: dict[str, object] = {
        "AggregatedSourceStatusList": [
            _row(aggregator, account, region, status, started_at)
            for _, account, region, status in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1][0])
    return result


def _row(
    aggregator: SimulatedAggregator,
    account: str,
    region: str,
    status: SourceStatus,
    started_at: float,
) -> dict[str, object]:
    updated = started_at if status.updated_at is None else status.updated_at
    row: dict[str, object] = {
        "SourceId": account,
        "SourceType": aggregator.source_type,
        "AwsRegion": region,
        "LastUpdateStatus": status.status,
        "LastUpdateTime": round(updated, 3),
    }
    if status.error_code:
        row["LastErrorCode"] = status.error_code
    if status.error_message:
        row["LastErrorMessage"] = status.error_message
    return row
