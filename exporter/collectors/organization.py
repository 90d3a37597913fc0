"""Organization conformance packs: each pack's status and every member account's, read from
the management or delegated-admin account. Opt-in: `organization_conformance_packs: true`.

A read costs one call per pack (more past 100 members), one after the other, so a large
organisation's read can outlast a scrape: it runs in the background every
`organization_interval_seconds`, and scrapes serve the last good reading in between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.samples import Sample

from exporter.aws.pages import read_all_pages
from exporter.aws.targets import Target
from exporter.collection import ReadPolicy
from exporter.config import Config
from exporter.deadline import Deadline
from exporter.metrics import (
    MEMBER_LAST_UPDATE,
    MEMBER_REASON,
    MEMBER_STATE,
    ORG_LAST_UPDATE,
    ORG_REASON,
    ORG_STATE,
    ORGANIZATION_HELP,
    one_hot,
    timestamp,
)
from exporter.pack_rules import PackRules

STATUS_OPERATION = "describe_organization_conformance_pack_statuses"
STATUS_KEY = "OrganizationConformancePackStatuses"
DETAIL_OPERATION = "get_organization_conformance_pack_detailed_status"
DETAIL_KEY = "OrganizationConformancePackDetailedStatuses"
PAGE_SIZE = 100  # both operations' maximum

OrganizationPack = tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]


def fetch_organization_packs(client: Any, deadline: Deadline) -> list[OrganizationPack]:
    """Every organization pack's status, each with its member accounts' statuses."""
    packs = read_all_pages(client, STATUS_OPERATION, STATUS_KEY, PAGE_SIZE, deadline)
    return [
        (
            pack,
            read_all_pages(
                client,
                DETAIL_OPERATION,
                DETAIL_KEY,
                PAGE_SIZE,
                deadline,
                OrganizationConformancePackName=pack["OrganizationConformancePackName"],
            ),
        )
        for pack in packs
    ]


def _reason_labels(status: Mapping[str, Any]) -> dict[str, str] | None:
    code, message = status.get("ErrorCode", ""), status.get("ErrorMessage", "")
    return {"error_code": code, "reason": message} if code or message else None


def organization_samples(
    account_id: str,
    region: str,
    packs: Sequence[OrganizationPack],
    states: tuple[Sequence[str], Sequence[str]],
    export_status_reason: bool,
) -> dict[str, list[Sample]]:
    """Samples for the organization packs and their member accounts.

    `states` holds the pack states and the member states the botocore model knows.
    """
    pack_states, member_states = states
    samples: dict[str, list[Sample]] = {name: [] for name in ORGANIZATION_HELP}
    target = {"account_id": account_id, "region": region}
    for pack, members in sorted(packs, key=lambda p: str(p[0]["OrganizationConformancePackName"])):
        labels = {
            **target,
            "organization_conformance_pack": pack["OrganizationConformancePackName"],
        }
        samples[ORG_STATE] += one_hot(ORG_STATE, labels, "state", pack["Status"], pack_states)
        if "LastUpdateTime" in pack:
            updated = timestamp(pack["LastUpdateTime"])
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
            samples[MEMBER_STATE] += one_hot(
                MEMBER_STATE, member_labels, "state", member["Status"], member_states
            )
            if "LastUpdateTime" in member:
                updated = timestamp(member["LastUpdateTime"])
                samples[MEMBER_LAST_UPDATE].append(
                    Sample(MEMBER_LAST_UPDATE, member_labels, updated)
                )
            if export_status_reason and (reason := _reason_labels(member)):
                samples[MEMBER_REASON].append(
                    Sample(MEMBER_REASON, {**member_labels, **reason}, 1.0)
                )
    return samples


class OrganizationCollector:
    """The organization packs, read through the first configured target in the background."""

    name = "organization"
    IAM_ACTIONS = frozenset(
        {
            "config:DescribeOrganizationConformancePackStatuses",
            "config:GetOrganizationConformancePackDetailedStatus",
        }
    )

    def __init__(self, config: Config, service_model: Any) -> None:
        self.states = (
            tuple(service_model.shape_for("OrganizationResourceStatus").enum),
            tuple(service_model.shape_for("OrganizationResourceDetailedStatus").enum),
        )
        self._export_status_reason = config.export_status_reason
        self.help_texts: Mapping[str, str] = {
            name: text
            for name, text in ORGANIZATION_HELP.items()
            if config.export_status_reason or name not in (ORG_REASON, MEMBER_REASON)
        }
        self.policy = ReadPolicy(config.organization_interval_seconds, background=True)

    @classmethod
    def from_config(
        cls, config: Config, service_model: Any, pack_rules: PackRules
    ) -> OrganizationCollector | None:
        """Opt-in: only management and delegated-admin accounts may read organization packs."""
        return cls(config, service_model) if config.organization_conformance_packs else None

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        """The first target: the management or delegated-admin account and region."""
        return targets[:1]

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        """The organization packs and their members as samples."""
        packs = fetch_organization_packs(target.client, deadline)
        account_id = target.account.resolve_account_id()
        return organization_samples(
            account_id, target.region, packs, self.states, self._export_status_reason
        )
