"""What a simulator serves: the packs, organization packs, Config pipeline and identities of a
`Scenario`, and large generated scenarios for benchmarks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter.simulator.aggregator import SimulatedAggregator
from exporter.simulator.compliance import SimulatedRule, estimated_score
from exporter.simulator.organization import MemberPack, OrganizationPack
from exporter.simulator.packs import SimulatedPack
from exporter.simulator.pipeline import (
    SimulatedDeliveryChannel,
    SimulatedRecorder,
    healthy_pipeline,
)

DEFAULT_ACCOUNT = "123456789012"


@dataclass
class Scenario:
    """The accounts, regions, packs and identities a simulator starts with.

    An account with `organization_packs` in any region is the organization's management
    account; the organization operations refuse every other account. `aggregators` are
    reachable from their (account, region) and report the packs of their sources. An
    (account, region) has no configuration recorder and no delivery channel unless
    `recorders` and `delivery_channels` give it some.
    """

    packs: dict[tuple[str, str], list[SimulatedPack]]
    default_account: str = DEFAULT_ACCOUNT
    access_key_accounts: dict[str, str] = field(default_factory=dict)
    denied_roles: frozenset[str] = frozenset()
    role_external_ids: dict[str, str] = field(default_factory=dict)
    organization_packs: dict[tuple[str, str], list[OrganizationPack]] = field(default_factory=dict)
    aggregators: dict[tuple[str, str], list[SimulatedAggregator]] = field(default_factory=dict)
    recorders: dict[tuple[str, str], list[SimulatedRecorder]] = field(default_factory=dict)
    delivery_channels: dict[tuple[str, str], list[SimulatedDeliveryChannel]] = field(
        default_factory=dict
    )


def generated_scenario(
    pack_count: int,
    regions: Sequence[str],
    accounts: Sequence[str] = (DEFAULT_ACCOUNT,),
    now: float | None = None,
    rules_per_pack: int = 0,
    organization_packs: int = 0,
) -> Scenario:
    """`pack_count` healthy packs of `rules_per_pack` rules in every (account, region), and
    `organization_packs` healthy organization packs over all `accounts` in every region of the
    first account, the management account. Every (account, region) has one recording customer
    managed recorder and one delivery channel whose deliveries succeed.

    Packs and rules are built once and shared by every target, so thousands of targets with
    hundreds of thousands of served rules still start in a blink.
    """
    if min(pack_count, rules_per_pack, organization_packs) < 0:
        raise ValueError(
            "pack_count, rules_per_pack and organization_packs must not be negative, got"
            f" {pack_count}, {rules_per_pack} and {organization_packs}"
        )
    if not regions or not accounts:
        raise ValueError("generated_scenario needs at least one region and one account")
    at = time.time() if now is None else now
    rules = _generated_rules(rules_per_pack)
    packs = [
        SimulatedPack(
            f"generated-pack-{index:05d}",
            "CREATE_COMPLETE" if index % 2 == 0 else "UPDATE_COMPLETE",
            type="MANAGED" if index % 4 == 3 else "CUSTOM",
            requested_at=at - 86400 - index,
            completed_at=at - 86400 - index + 180,
            rules=rules,
            score=estimated_score(rules) if rules else None,
            scored_at=at - 600 if rules else None,
        )
        for index in range(pack_count)
    ]
    organization = [
        OrganizationPack(
            f"generated-org-pack-{index:03d}",
            "CREATE_SUCCESSFUL",
            updated_at=at - 86400 - index,
            members=tuple(
                MemberPack(
                    account,
                    f"OrgConformsPack-generated-org-pack-{index:03d}",
                    "CREATE_SUCCESSFUL",
                    updated_at=at - 86400 - index + 300,
                )
                for account in accounts
            ),
        )
        for index in range(organization_packs)
    ]
    targets = [(account, region) for account in accounts for region in regions]
    recorder, channel = healthy_pipeline(at)
    return Scenario(
        packs={target: list(packs) for target in targets},
        default_account=accounts[0],
        organization_packs={(accounts[0], region): list(organization) for region in regions},
        recorders={target: [recorder] for target in targets},
        delivery_channels={target: [channel] for target in targets},
    )


def _generated_rules(count: int) -> tuple[SimulatedRule, ...]:
    """Every tenth rule fails, some on more resources than AWS counts exactly; every
    twenty-fifth has no data yet."""
    rules = []
    for index in range(count):
        name = f"generated-rule-{index:03d}"
        if index % 25 == 24:
            rules.append(SimulatedRule(name, "INSUFFICIENT_DATA"))
        elif index % 10 == 9:
            rules.append(SimulatedRule(name, "NON_COMPLIANT", 1 + index * 37 % 150))
        else:
            rules.append(SimulatedRule(name))
    return tuple(rules)
