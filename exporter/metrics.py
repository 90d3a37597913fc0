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
from prometheus_client.samples import Sample

from exporter import __version__

TARGET_LABELS = ("account_id", "region")

STATE = "aws_config_conformance_pack_state"
INFO = "aws_config_conformance_pack_info"
LAST_UPDATE_REQUESTED = "aws_config_conformance_pack_last_update_requested_timestamp_seconds"
LAST_UPDATE_COMPLETED = "aws_config_conformance_pack_last_update_completed_timestamp_seconds"
STATUS_REASON = "aws_config_conformance_pack_status_reason_info"
SCRAPE_SUCCESS = "aws_config_exporter_scrape_success"
SCRAPE_DURATION = "aws_config_exporter_scrape_duration_seconds"
LAST_SUCCESS = "aws_config_exporter_last_success_timestamp_seconds"
ORG_STATE = "aws_config_organization_conformance_pack_state"
ORG_LAST_UPDATE = "aws_config_organization_conformance_pack_last_update_timestamp_seconds"
ORG_REASON = "aws_config_organization_conformance_pack_status_reason_info"
MEMBER_STATE = "aws_config_organization_conformance_pack_member_state"
MEMBER_LAST_UPDATE = "aws_config_organization_conformance_pack_member_last_update_timestamp_seconds"
MEMBER_REASON = "aws_config_organization_conformance_pack_member_status_reason_info"
ORG_SCRAPE_SUCCESS = "aws_config_exporter_organization_scrape_success"
ORG_SCRAPE_DURATION = "aws_config_exporter_organization_scrape_duration_seconds"
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


HELP = {
    STATE: "Deployment state of the conformance pack: 1 for the current state, 0 for the others.",
    INFO: "Conformance pack metadata; always 1. Empty stack_arn or type: AWS did not report it.",
    LAST_UPDATE_REQUESTED: (
        "Unix time of the last create, update or delete requested for the conformance pack."
    ),
    LAST_UPDATE_COMPLETED: (
        "Unix time the last requested change completed; absent while AWS reports none."
    ),
    STATUS_REASON: (
        "Why the conformance pack is in its state, verbatim from AWS; present only when non-empty."
    ),
    SCRAPE_SUCCESS: (
        "1 if the conformance packs of this account and region were read in this scrape, else 0."
    ),
    SCRAPE_DURATION: (
        "Seconds this scrape spent reading the conformance packs of this account and region."
    ),
}
ORGANIZATION_HELP = {
    ORG_STATE: (
        "Deployment state of the organization conformance pack across its member accounts: "
        "1 for the current state, 0 for the others."
    ),
    ORG_LAST_UPDATE: "Unix time of the organization conformance pack's last status change.",
    ORG_REASON: "Why the organization conformance pack failed, verbatim from AWS; 1 when present.",
    MEMBER_STATE: (
        "Deployment state of the organization conformance pack in one member account: "
        "1 for the current state, 0 for the others."
    ),
    MEMBER_LAST_UPDATE: "Unix time of the pack's last status change in the member account.",
    MEMBER_REASON: "Why the pack failed in the member account, verbatim from AWS; 1 when present.",
    ORG_SCRAPE_SUCCESS: (
        "1 if the organization conformance packs were read in this scrape from this management "
        "or delegated-admin account and region, else 0."
    ),
    ORG_SCRAPE_DURATION: "Seconds this scrape spent reading the organization conformance packs.",
}
PACK_FAMILIES = (STATE, INFO, LAST_UPDATE_REQUESTED, LAST_UPDATE_COMPLETED, STATUS_REASON)
TARGET_FAMILIES = (SCRAPE_SUCCESS, SCRAPE_DURATION)


@dataclass(frozen=True)
class TargetSamples:
    """One target's samples by family name, built as soon as its collection ends."""

    account_id: str
    region: str
    success: bool
    samples: Mapping[str, Sequence[Sample]]


def _timestamp(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _one_hot(
    name: str, labels: dict[str, str], current: str, states: Sequence[str]
) -> list[Sample]:
    """A state set: every known state 0 but the current one; an unknown state still gets 1."""
    samples = [
        Sample(name, {**labels, "state": state}, 1.0 if state == current else 0.0)
        for state in states
    ]
    if current not in states:
        samples.append(Sample(name, {**labels, "state": current}, 1.0))
    return samples


def target_samples(
    result: TargetResult, states: Sequence[str], export_status_reason: bool
) -> TargetSamples:
    """Every sample of one target; a state the model doesn't know is still exported with 1."""
    samples: dict[str, list[Sample]] = {name: [] for name in (*PACK_FAMILIES, *TARGET_FAMILIES)}
    target = {"account_id": result.account_id, "region": result.region}
    samples[SCRAPE_SUCCESS].append(Sample(SCRAPE_SUCCESS, target, float(result.success)))
    samples[SCRAPE_DURATION].append(Sample(SCRAPE_DURATION, target, result.duration_seconds))
    if not result.success:
        return TargetSamples(result.account_id, result.region, result.success, samples)
    state_samples = samples[STATE]
    for pack in sorted(result.pack_statuses, key=lambda p: str(p["ConformancePackName"])):
        labels = {**target, "conformance_pack": pack["ConformancePackName"]}
        state_samples += _one_hot(STATE, labels, pack["ConformancePackState"], states)
        info = {
            **labels,
            "conformance_pack_id": pack["ConformancePackId"],
            "conformance_pack_arn": pack["ConformancePackArn"],
            "stack_arn": pack.get("StackArn", ""),
            "type": pack.get("Type", ""),
        }
        samples[INFO].append(Sample(INFO, info, 1.0))
        requested = _timestamp(pack["LastUpdateRequestedTime"])
        samples[LAST_UPDATE_REQUESTED].append(Sample(LAST_UPDATE_REQUESTED, labels, requested))
        if "LastUpdateCompletedTime" in pack:
            completed = _timestamp(pack["LastUpdateCompletedTime"])
            samples[LAST_UPDATE_COMPLETED].append(Sample(LAST_UPDATE_COMPLETED, labels, completed))
        reason = pack.get("ConformancePackStatusReason", "")
        if export_status_reason and reason:
            samples[STATUS_REASON].append(Sample(STATUS_REASON, {**labels, "reason": reason}, 1.0))
    return TargetSamples(result.account_id, result.region, result.success, samples)


def assemble_families(targets: Iterable[TargetSamples], export_status_reason: bool) -> list[Metric]:
    """The pack and target families, targets in a stable order."""
    ordered = sorted(targets, key=lambda t: (t.account_id, t.region))
    names = [name for name in PACK_FAMILIES if export_status_reason or name != STATUS_REASON]
    families: list[Metric] = []
    for name in (*names, *TARGET_FAMILIES):
        family = Metric(name, HELP[name], "gauge")
        for target in ordered:
            family.samples.extend(target.samples[name])
        families.append(family)
    return families


def pack_families(
    results: Iterable[TargetResult], states: Sequence[str], export_status_reason: bool
) -> list[Metric]:
    """Families for every pack and target, from collection results."""
    return assemble_families(
        (target_samples(result, states, export_status_reason) for result in results),
        export_status_reason,
    )


@dataclass(frozen=True)
class OrganizationResult:
    """One read of the organization conformance packs: each pack with its member statuses."""

    account_id: str
    region: str
    success: bool
    duration_seconds: float
    packs: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]] = ()


def _reason_labels(status: Mapping[str, Any]) -> dict[str, str] | None:
    code, message = status.get("ErrorCode", ""), status.get("ErrorMessage", "")
    return {"error_code": code, "reason": message} if code or message else None


def organization_families(
    result: OrganizationResult,
    states: Sequence[str],
    member_states: Sequence[str],
    export_status_reason: bool,
) -> list[Metric]:
    """Families for the organization packs and their member accounts (an opt-in collector)."""
    samples: dict[str, list[Sample]] = {name: [] for name in ORGANIZATION_HELP}
    target = {"account_id": result.account_id, "region": result.region}
    samples[ORG_SCRAPE_SUCCESS].append(Sample(ORG_SCRAPE_SUCCESS, target, float(result.success)))
    samples[ORG_SCRAPE_DURATION].append(
        Sample(ORG_SCRAPE_DURATION, target, result.duration_seconds)
    )
    ordered = sorted(result.packs, key=lambda pack: str(pack[0]["OrganizationConformancePackName"]))
    for pack, members in ordered:
        labels = {
            **target,
            "organization_conformance_pack": pack["OrganizationConformancePackName"],
        }
        samples[ORG_STATE] += _one_hot(ORG_STATE, labels, pack["Status"], states)
        if "LastUpdateTime" in pack:
            updated = _timestamp(pack["LastUpdateTime"])
            samples[ORG_LAST_UPDATE].append(Sample(ORG_LAST_UPDATE, labels, updated))
        if export_status_reason and (reason := _reason_labels(pack)):
            samples[ORG_REASON].append(Sample(ORG_REASON, {**labels, **reason}, 1.0))
        for member in sorted(
            members, key=lambda m: (str(m["AccountId"]), str(m["ConformancePackName"]))
        ):
            member_labels = {
                **labels,
                "member_account_id": member["AccountId"],
                "conformance_pack": member["ConformancePackName"],
            }
            samples[MEMBER_STATE] += _one_hot(
                MEMBER_STATE, member_labels, member["Status"], member_states
            )
            if "LastUpdateTime" in member:
                updated = _timestamp(member["LastUpdateTime"])
                samples[MEMBER_LAST_UPDATE].append(
                    Sample(MEMBER_LAST_UPDATE, member_labels, updated)
                )
            if export_status_reason and (reason := _reason_labels(member)):
                samples[MEMBER_REASON].append(
                    Sample(MEMBER_REASON, {**member_labels, **reason}, 1.0)
                )
    families = []
    for name, help_text in ORGANIZATION_HELP.items():
        if name in (ORG_REASON, MEMBER_REASON) and not export_status_reason:
            continue
        family = Metric(name, help_text, "gauge")
        family.samples.extend(samples[name])
        families.append(family)
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
