"""The pipeline collector's samples: recorders, delivery channels and rule evaluation from what
AWS answered (exporter/collectors/pipeline.py reads it), so they are tested without AWS.

`failing` and `not_started` are judged here, from the times AWS reports per rule. The per-rule
families follow `compliance.rule_series`: every rule for `all`, the failing rules alone for
`noncompliant`, none for `none`; the per-pack counts always count every rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.samples import Sample

from exporter.config_types import RuleSeries
from exporter.metrics import (
    DELIVERY_STATUS,
    DELIVERY_SUCCESS,
    EVALUATIONS,
    RECORDER_INFO,
    RECORDER_RECORDING,
    RECORDER_STATUS,
    RECORDER_STATUS_CHANGE,
    RULE_EVALUATION_FAILING,
    RULE_EVALUATION_FAMILIES,
    RULE_EVALUATION_SUCCESS,
    RULES_EVALUATION,
    one_hot,
    timestamp,
)

# The `delivery` label of each part of a DeliveryChannelStatus.
DELIVERIES = (
    ("config_history", "configHistoryDeliveryInfo"),
    ("config_snapshot", "configSnapshotDeliveryInfo"),
    ("config_stream", "configStreamDeliveryInfo"),
)


@dataclass(frozen=True)
class Pipeline:
    """What AWS says of one target's pipeline, as botocore parsed it."""

    recorders: Sequence[Mapping[str, Any]] = ()
    recorder_statuses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    channels: Sequence[Mapping[str, Any]] = ()
    pack_rules: Mapping[str, Sequence[str]] = field(default_factory=dict)
    evaluations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _newer(failed: datetime | float | None, succeeded: datetime | float | None) -> bool:
    return failed is not None and (succeeded is None or timestamp(failed) > timestamp(succeeded))


def evaluation_of(status: Mapping[str, Any]) -> str:
    """`failing` when the last failed invocation or evaluation is newer than the last
    successful one (a failure says more than never starting), `not_started` before the first
    evaluation, else `ok`."""
    if _newer(
        status.get("LastFailedInvocationTime"), status.get("LastSuccessfulInvocationTime")
    ) or _newer(status.get("LastFailedEvaluationTime"), status.get("LastSuccessfulEvaluationTime")):
        return "failing"
    if status.get("FirstEvaluationStarted") is False:
        return "not_started"
    return "ok"


@dataclass(frozen=True)
class PipelineValues:
    """The state sets' values, from the installed botocore model."""

    recorder_statuses: tuple[str, ...]
    delivery_statuses: tuple[str, ...]

    @classmethod
    def of(cls, service_model: Any) -> PipelineValues:
        return cls(
            tuple(service_model.shape_for("RecorderStatus").enum),
            tuple(service_model.shape_for("DeliveryStatus").enum),
        )


def _recorder_samples(
    target: Mapping[str, str], found: Pipeline, values: PipelineValues
) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for recorder in sorted(found.recorders, key=lambda r: str(r["name"])):
        labels = {**target, "recorder": str(recorder["name"])}
        info = {
            **labels,
            "arn": str(recorder.get("arn", "")),
            "service_principal": str(recorder.get("servicePrincipal", "")),
            "recording_scope": str(recorder.get("recordingScope", "")),
        }
        samples.setdefault(RECORDER_INFO, []).append(Sample(RECORDER_INFO, info, 1.0))
        status = found.recorder_statuses.get(str(recorder.get("arn", "")))
        if status is None:
            continue  # deleted between the listing and its status
        recording = float(bool(status.get("recording", False)))
        samples.setdefault(RECORDER_RECORDING, []).append(
            Sample(RECORDER_RECORDING, labels, recording)
        )
        if "lastStatus" in status:
            samples.setdefault(RECORDER_STATUS, []).extend(
                one_hot(
                    RECORDER_STATUS,
                    labels,
                    "status",
                    status["lastStatus"],
                    values.recorder_statuses,
                )
            )
        if "lastStatusChangeTime" in status:
            changed = timestamp(status["lastStatusChangeTime"])
            samples.setdefault(RECORDER_STATUS_CHANGE, []).append(
                Sample(RECORDER_STATUS_CHANGE, labels, changed)
            )
    return samples


def _delivery_samples(
    target: Mapping[str, str], found: Pipeline, values: PipelineValues
) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {DELIVERY_STATUS: [], DELIVERY_SUCCESS: []}
    for channel in sorted(found.channels, key=lambda c: str(c.get("name", ""))):
        for delivery, key in DELIVERIES:
            info = channel.get(key) or {}
            labels = {
                **target,
                "delivery_channel": str(channel.get("name", "")),
                "delivery": delivery,
            }
            if "lastStatus" in info:
                samples[DELIVERY_STATUS] += one_hot(
                    DELIVERY_STATUS, labels, "status", info["lastStatus"], values.delivery_statuses
                )
            if "lastSuccessfulTime" in info:
                succeeded = timestamp(info["lastSuccessfulTime"])
                samples[DELIVERY_SUCCESS].append(Sample(DELIVERY_SUCCESS, labels, succeeded))
    return samples


def _evaluation_samples(
    target: Mapping[str, str], found: Pipeline, rule_series: RuleSeries
) -> dict[str, list[Sample]]:
    per_rule = () if rule_series == "none" else RULE_EVALUATION_FAMILIES
    samples: dict[str, list[Sample]] = {name: [] for name in (RULES_EVALUATION, *per_rule)}
    for pack in sorted(found.pack_rules):
        labels = {**target, "conformance_pack": pack}
        tally: Counter[str] = Counter()
        for rule in sorted(set(found.pack_rules[pack])):
            status = found.evaluations.get(rule)
            if status is None:
                continue  # deleted since the pack listed it
            evaluation = evaluation_of(status)
            tally[evaluation] += 1
            if not per_rule or (rule_series == "noncompliant" and evaluation != "failing"):
                continue
            rule_labels = {**labels, "config_rule": rule}
            failing = float(evaluation == "failing")
            samples[RULE_EVALUATION_FAILING].append(
                Sample(RULE_EVALUATION_FAILING, rule_labels, failing)
            )
            if "LastSuccessfulEvaluationTime" in status:
                succeeded = timestamp(status["LastSuccessfulEvaluationTime"])
                samples[RULE_EVALUATION_SUCCESS].append(
                    Sample(RULE_EVALUATION_SUCCESS, rule_labels, succeeded)
                )
        for evaluation in EVALUATIONS:
            samples[RULES_EVALUATION].append(
                Sample(RULES_EVALUATION, {**labels, "evaluation": evaluation}, tally[evaluation])
            )
    return samples


def pipeline_samples(
    account_id: str,
    region: str,
    found: Pipeline,
    values: PipelineValues,
    rule_series: RuleSeries = "all",
) -> dict[str, list[Sample]]:
    """Samples for one target's pipeline; a status the model doesn't know is still exported."""
    target = {"account_id": account_id, "region": region}
    return {
        **_recorder_samples(target, found, values),
        **_delivery_samples(target, found, values),
        **_evaluation_samples(target, found, rule_series),
    }
