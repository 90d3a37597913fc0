"""The metric contract: names, HELP texts, labels, and the pure function from results to families.

Nothing here calls AWS: collection results go in, prometheus_client metric families come out,
so the contract is tested without HTTP or botocore (see tests/golden/).

Example exposition::

    aws_config_conformance_pack_state{account_id="123456789012",region="eu-west-1",
        conformance_pack="security",state="CREATE_COMPLETE"} 1.0
    aws_config_conformance_pack_info{account_id="123456789012",region="eu-west-1",
        conformance_pack="security",conformance_pack_id="conformance-pack-1a2b3c",
        conformance_pack_arn="arn:aws:config:...",stack_arn="arn:aws:cloudformation:...",
        type="CUSTOM"} 1.0
    aws_config_exporter_scrape_success{account_id="123456789012",region="eu-west-1"} 1.0
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import botocore
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter import __version__

TARGET_LABELS = ("account_id", "region")
PACK_LABELS = (*TARGET_LABELS, "conformance_pack")

STATE = "aws_config_conformance_pack_state"
INFO = "aws_config_conformance_pack_info"
LAST_UPDATE_REQUESTED = "aws_config_conformance_pack_last_update_requested_timestamp_seconds"
LAST_UPDATE_COMPLETED = "aws_config_conformance_pack_last_update_completed_timestamp_seconds"
STATUS_REASON = "aws_config_conformance_pack_status_reason_info"
SCRAPE_SUCCESS = "aws_config_exporter_scrape_success"
SCRAPE_DURATION = "aws_config_exporter_scrape_duration_seconds"
API_REQUESTS = "aws_config_exporter_api_requests"
BUILD_INFO = "aws_config_exporter_build_info"


@dataclass(frozen=True)
class TargetResult:
    """What one (account, region) collection produced; `pack_statuses` as botocore parsed them."""

    account_id: str
    region: str
    success: bool
    duration_seconds: float
    pack_statuses: Sequence[Mapping[str, Any]] = ()


def _timestamp(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def pack_families(
    results: Iterable[TargetResult], states: Sequence[str], export_status_reason: bool
) -> list[Metric]:
    """Families for every pack and target; a state the model doesn't know is still exported."""
    state = GaugeMetricFamily(
        STATE,
        "Deployment state of the conformance pack: 1 for the current state, 0 for the others.",
        labels=(*PACK_LABELS, "state"),
    )
    info = GaugeMetricFamily(
        INFO,
        "Conformance pack metadata; always 1. Empty stack_arn or type: AWS did not report it.",
        labels=(*PACK_LABELS, "conformance_pack_id", "conformance_pack_arn", "stack_arn", "type"),
    )
    requested = GaugeMetricFamily(
        LAST_UPDATE_REQUESTED,
        "Unix time of the last create, update or delete requested for the conformance pack.",
        labels=PACK_LABELS,
    )
    completed = GaugeMetricFamily(
        LAST_UPDATE_COMPLETED,
        "Unix time the last requested change completed; absent while AWS reports none.",
        labels=PACK_LABELS,
    )
    reason = GaugeMetricFamily(
        STATUS_REASON,
        "Why the conformance pack is in its state, verbatim from AWS; present only when non-empty.",
        labels=(*PACK_LABELS, "reason"),
    )
    success = GaugeMetricFamily(
        SCRAPE_SUCCESS,
        "1 if the conformance packs of this account and region were read in this scrape, else 0.",
        labels=TARGET_LABELS,
    )
    duration = GaugeMetricFamily(
        SCRAPE_DURATION,
        "Seconds this scrape spent reading the conformance packs of this account and region.",
        labels=TARGET_LABELS,
    )
    for result in sorted(results, key=lambda r: (r.account_id, r.region)):
        target = [result.account_id, result.region]
        success.add_metric(target, 1.0 if result.success else 0.0)
        duration.add_metric(target, result.duration_seconds)
        if not result.success:
            continue
        for pack in sorted(result.pack_statuses, key=lambda p: str(p["ConformancePackName"])):
            labels = [*target, pack["ConformancePackName"]]
            current = pack["ConformancePackState"]
            for known in states:
                state.add_metric([*labels, known], 1.0 if known == current else 0.0)
            if current not in states:
                state.add_metric([*labels, current], 1.0)
            info.add_metric(
                [
                    *labels,
                    pack["ConformancePackId"],
                    pack["ConformancePackArn"],
                    pack.get("StackArn", ""),
                    pack.get("Type", ""),
                ],
                1.0,
            )
            requested.add_metric(labels, _timestamp(pack["LastUpdateRequestedTime"]))
            if "LastUpdateCompletedTime" in pack:
                completed.add_metric(labels, _timestamp(pack["LastUpdateCompletedTime"]))
            status_reason = pack.get("ConformancePackStatusReason", "")
            if export_status_reason and status_reason:
                reason.add_metric([*labels, status_reason], 1.0)
    families: list[Metric] = [state, info, requested, completed]
    if export_status_reason:
        families.append(reason)
    families += [success, duration]
    return families


def api_requests_family(samples: Iterable[tuple[str, str, str, str, int]]) -> Metric:
    """The API-call counter from (account_id, region, operation, outcome, count) rows."""
    family = CounterMetricFamily(
        API_REQUESTS,
        "HTTP requests made to AWS, retries included, by operation and outcome "
        "(success, an AWS error code, timeout, connection_error, invalid_response or other).",
        labels=(*TARGET_LABELS, "operation", "outcome"),
    )
    for account_id, region, operation, outcome, count in samples:
        family.add_metric([account_id, region, operation, outcome], count)
    return family


def build_info_family() -> Metric:
    """Versions that explain behaviour: the state list depends on the botocore model."""
    family = GaugeMetricFamily(
        BUILD_INFO,
        "Versions of the exporter and of the libraries that shape its output; always 1.",
        labels=("version", "boto3_version", "botocore_version", "python_version"),
    )
    family.add_metric(
        [__version__, boto3.__version__, botocore.__version__, platform.python_version()], 1.0
    )
    return family
