"""DescribeConformancePackStatus: the deployment state of the packs of one (account, region)."""

from __future__ import annotations

from exporter.simulator.packs import Shelf, SimulatedPack, pack_ids
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.service_model import Params

OPERATION = "DescribeConformancePackStatus"


def describe_status(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """One page of pack states, in name order, filtered by name and type."""
    params = Params(OPERATION, payload)
    names = set(params.strings("ConformancePackNames"))
    types = set(params.strings("Filters", "Types"))
    query = query_key(OPERATION, shelf.account, shelf.region, sorted(names), sorted(types))
    start = after(shelf.names, tokens.read(params.string("NextToken"), query))
    page, more = take(
        (
            pack
            for pack in shelf.packs[start:]
            if (not names or pack.name in names) and (not types or pack.type in types)
        ),
        params.page_size,
    )
    result: dict[str, object] = {
        "ConformancePackStatusDetails": [
            _status_detail(shelf, pack.effective(started_at, now)) for pack in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1].name)
    return result


def _status_detail(shelf: Shelf, pack: SimulatedPack) -> dict[str, object]:
    ids = pack_ids(shelf.account, shelf.region, pack.name)
    detail: dict[str, object] = {
        "ConformancePackName": pack.name,
        "ConformancePackId": ids.pack_id,
        "ConformancePackArn": ids.arn,
        "ConformancePackState": pack.state,
        "StackArn": ids.stack_arn,
        "LastUpdateRequestedTime": round(pack.requested_at, 3),
    }
    if pack.reason:
        detail["ConformancePackStatusReason"] = pack.reason
    if pack.completed_at is not None:
        detail["LastUpdateCompletedTime"] = round(pack.completed_at, 3)
    if pack.type is not None:
        detail["Type"] = pack.type
    return detail
