"""The packs of one target as DescribeConformancePackStatus lists them: the status collector
exports them and the compliance collector reads the compliance of exactly these, so both take
them from this one read."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from exporter.aws.pages import input_max, read_all_pages, unless_gone
from exporter.deadline import Deadline

IAM_ACTION = "config:DescribeConformancePackStatus"
OPERATION = "DescribeConformancePackStatus"
PAGINATOR = "describe_conformance_pack_status"
RESULT_KEY = "ConformancePackStatusDetails"
NO_SUCH_PACK = "NoSuchConformancePackException"


def fetch_pack_statuses(
    client: Any, names: tuple[str, ...], deadline: Deadline
) -> list[dict[str, Any]]:
    """Every pack's status (or the named packs') at the largest page the model allows.

    Names are asked a page's worth at a time, the fewer of the page size and the names a call
    takes, so N names cost ceil(N / page size) calls rather than a short extra page per chunk.
    """
    model = client.meta.service_model
    page_size = input_max(model, OPERATION, "Limit")
    if not names:
        return read_all_pages(client, PAGINATOR, RESULT_KEY, page_size, deadline)
    chunk = min(page_size, input_max(model, OPERATION, "ConformancePackNames"))
    statuses: list[dict[str, Any]] = []
    for start in range(0, len(names), chunk):
        statuses += read_all_pages(
            client,
            PAGINATOR,
            RESULT_KEY,
            page_size,
            deadline,
            ConformancePackNames=list(names[start : start + chunk]),
        )
    return statuses


def fetch_pack_rules(
    client: Any, names: Sequence[str], deadline: Deadline
) -> dict[str, list[dict[str, Any]]]:
    """Each named pack's rules with their compliance (DescribeConformancePackCompliance at the
    model's largest page); a pack deleted since it was listed has none."""
    operation = "DescribeConformancePackCompliance"
    page_size = input_max(client.meta.service_model, operation, "Limit")
    return {
        name: unless_gone(
            NO_SUCH_PACK,
            functools.partial(
                read_all_pages,
                client,
                "describe_conformance_pack_compliance",
                "ConformancePackRuleComplianceList",
                page_size,
                deadline,
                ConformancePackName=name,
            ),
        )
        for name in names
    }
