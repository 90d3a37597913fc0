"""Pack status: each conformance pack's deployment state, timestamps and metadata.

Read on every scrape through botocore's `describe_conformance_pack_status` paginator at the
model's largest page (20 packs), the configured pack names a page's worth a call: N packs or
names cost ceil(N/20) calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.samples import Sample

from exporter.aws.packs import IAM_ACTION, fetch_pack_statuses
from exporter.aws.targets import Target
from exporter.collection import ReadPolicy
from exporter.config import Config
from exporter.deadline import Deadline
from exporter.metrics import (
    INFO,
    LAST_UPDATE_COMPLETED,
    LAST_UPDATE_REQUESTED,
    STATE,
    STATUS_HELP,
    STATUS_REASON,
    one_hot,
    timestamp,
)
from exporter.pack_rules import PackRules


def pack_samples(
    account_id: str,
    region: str,
    statuses: Sequence[Mapping[str, Any]],
    states: Sequence[str],
    export_status_reason: bool,
) -> dict[str, list[Sample]]:
    """Every sample of one target's packs; a state the model doesn't know is still exported."""
    samples: dict[str, list[Sample]] = {name: [] for name in STATUS_HELP}
    target = {"account_id": account_id, "region": region}
    for pack in sorted(statuses, key=lambda p: str(p["ConformancePackName"])):
        labels = {**target, "conformance_pack": pack["ConformancePackName"]}
        samples[STATE] += one_hot(STATE, labels, "state", pack["ConformancePackState"], states)
        info = {
            **labels,
            "conformance_pack_id": pack["ConformancePackId"],
            "conformance_pack_arn": pack["ConformancePackArn"],
            "stack_arn": pack.get("StackArn", ""),
            "type": pack.get("Type", ""),
        }
        samples[INFO].append(Sample(INFO, info, 1.0))
        requested = timestamp(pack["LastUpdateRequestedTime"])
        samples[LAST_UPDATE_REQUESTED].append(Sample(LAST_UPDATE_REQUESTED, labels, requested))
        if "LastUpdateCompletedTime" in pack:
            completed = timestamp(pack["LastUpdateCompletedTime"])
            samples[LAST_UPDATE_COMPLETED].append(Sample(LAST_UPDATE_COMPLETED, labels, completed))
        reason = pack.get("ConformancePackStatusReason", "")
        if export_status_reason and reason:
            samples[STATUS_REASON].append(Sample(STATUS_REASON, {**labels, "reason": reason}, 1.0))
    return samples


class StatusCollector:
    """Every target's packs, on every scrape (or every `min_interval_seconds`)."""

    name = "status"
    IAM_ACTIONS = frozenset({IAM_ACTION})

    def __init__(self, config: Config, service_model: Any) -> None:
        self.states = tuple(service_model.shape_for("ConformancePackState").enum)
        self._pack_names = config.conformance_packs
        self._export_status_reason = config.export_status_reason
        self.help_texts: Mapping[str, str] = {
            name: text
            for name, text in STATUS_HELP.items()
            if config.export_status_reason or name != STATUS_REASON
        }
        self.policy = ReadPolicy(config.min_interval_seconds)

    @classmethod
    def from_config(
        cls, config: Config, service_model: Any, pack_rules: PackRules
    ) -> StatusCollector:
        """Always on: pack status is what the exporter is for."""
        return cls(config, service_model)

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        """Every target."""
        return targets

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        """One target's pack statuses as samples."""
        statuses = fetch_pack_statuses(target.client, self._pack_names, deadline)
        if statuses:  # every pack's ARN names the same account: one is enough
            target.account.observe_arn(str(statuses[0].get("ConformancePackArn", "")))
        account_id = target.account.resolve_account_id()
        return pack_samples(
            account_id, target.region, statuses, self.states, self._export_status_reason
        )
