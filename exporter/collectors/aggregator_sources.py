"""How each source of an aggregator last updated: organisation-wide numbers are only as fresh as
their sources, and a source that stops updating leaves them stale without any error.

One paginated DescribeConfigurationAggregatorSourcesStatus per aggregator (the model's page,
100 sources). A source's series carry its own account and region: `account_id` is the
SourceId, which for an ORGANIZATION source is the organisation's id (o-…), not an account.

Example exposition::

    aws_config_aggregator_source_status{account_id="210987654321",region="eu-west-1",
        aggregator="org",source_type="ACCOUNT",status="OUTDATED"} 1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.samples import Sample

from exporter.aws.pages import input_max, read_all_pages
from exporter.deadline import Deadline
from exporter.metrics import SOURCE_HELP, SOURCE_STATUS, SOURCE_UPDATE, one_hot, timestamp

OPERATION = "DescribeConfigurationAggregatorSourcesStatus"
IAM_ACTION = f"config:{OPERATION}"


def fetch_sources(client: Any, aggregator: str, deadline: Deadline) -> list[dict[str, Any]]:
    """Every source of `aggregator` with its last update, a model's page at a time."""
    return read_all_pages(
        client,
        "describe_configuration_aggregator_sources_status",
        "AggregatedSourceStatusList",
        input_max(client.meta.service_model, OPERATION, "Limit"),
        deadline,
        ConfigurationAggregatorName=aggregator,
    )


def source_samples(
    sources: Iterable[tuple[str, Mapping[str, Any]]], statuses: Sequence[str]
) -> dict[str, list[Sample]]:
    """Samples for (aggregator, source row) pairs; `statuses` are the model's
    AggregatedSourceStatusType values, and an unknown status still gets its 1."""
    samples: dict[str, list[Sample]] = {name: [] for name in SOURCE_HELP}
    rows = sorted(
        sources,
        key=lambda row: (row[0], str(row[1].get("SourceId", "")), str(row[1].get("AwsRegion", ""))),
    )
    for aggregator, row in rows:
        labels = {
            "account_id": str(row.get("SourceId", "")),
            "region": str(row.get("AwsRegion", "")),
            "aggregator": aggregator,
            "source_type": str(row.get("SourceType", "")),
        }
        if "LastUpdateStatus" in row:
            samples[SOURCE_STATUS] += one_hot(
                SOURCE_STATUS, labels, "status", row["LastUpdateStatus"], statuses
            )
        if "LastUpdateTime" in row:
            updated = timestamp(row["LastUpdateTime"])
            samples[SOURCE_UPDATE].append(Sample(SOURCE_UPDATE, labels, updated))
    return samples
