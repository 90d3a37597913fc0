"""The estate ``--demo`` serves: one account in two regions, with packs that move, fail, lose
compliance and fail to remediate, organization packs over four accounts, and a pipeline."""

from __future__ import annotations

from dataclasses import replace

from exporter.simulator.compliance import (
    INSUFFICIENT_DATA,
    ComplianceChange,
    SimulatedRule,
    estimated_score,
)
from exporter.simulator.demo_remediation import remediated
from exporter.simulator.demo_rules import demo_rules, regression
from exporter.simulator.organization import MemberPack, OrganizationPack
from exporter.simulator.packs import PackState, PackType, SimulatedPack, Transition, pack_ids
from exporter.simulator.pipeline import (
    Delivery,
    RecorderChange,
    SimulatedDeliveryChannel,
    SimulatedRecorder,
)
from exporter.simulator.scenario import DEFAULT_ACCOUNT, Scenario

DEMO_REGIONS = ("us-east-1", "eu-west-1")
_HOUR = 3600.0
_DAY = 24 * _HOUR
_MEMBER_ACCOUNTS = (DEFAULT_ACCOUNT, "111122223333", "444455556666", "777788889999")
RECORDER_STOPS_AFTER = 60.0
FAILING_EVALUATION_PACK = "Operational-Best-Practices-for-PCI-DSS"


def demo_scenario(now: float) -> Scenario:
    """A small, lively estate for ``--demo``: mostly healthy, with packs that move and fail,
    a recorder that stops in the second region after a minute, a rule of the first region's
    PCI-DSS pack that fails to evaluate and remediations (exporter/simulator/demo_remediation)."""
    east, west = DEMO_REGIONS
    channel = SimulatedDeliveryChannel(
        "default",
        history=Delivery(attempted_at=now - 1500),
        snapshot=Delivery(attempted_at=now - 5 * _HOUR),
    )
    return Scenario(
        packs={
            (DEFAULT_ACCOUNT, east): remediated(east, _east_packs(now)),
            (DEFAULT_ACCOUNT, west): remediated(west, _west_packs(now)),
        },
        default_account=DEFAULT_ACCOUNT,
        organization_packs={
            (DEFAULT_ACCOUNT, east): _east_organization_packs(now),
            (DEFAULT_ACCOUNT, west): _west_organization_packs(now),
        },
        recorders={
            (DEFAULT_ACCOUNT, east): [
                SimulatedRecorder("default", started_at=now - 41 * _DAY),
                SimulatedRecorder(
                    "AWSConfigurationRecorderForConfigConforms",
                    service_principal="config-conforms.amazonaws.com",
                    started_at=now - 120 * _DAY,
                ),
            ],
            (DEFAULT_ACCOUNT, west): [
                SimulatedRecorder(
                    "default",
                    started_at=now - 41 * _DAY,
                    timeline=(RecorderChange(RECORDER_STOPS_AFTER, recording=False),),
                )
            ],
        },
        delivery_channels={(DEFAULT_ACCOUNT, east): [channel], (DEFAULT_ACCOUNT, west): [channel]},
    )


def _settled(
    now: float,
    region: str,
    name: str,
    state: PackState,
    age_days: float,
    rule_count: int,
    pack_type: PackType = "CUSTOM",
    failure_rate: float = 0.14,
) -> SimulatedPack:
    requested = now - age_days * _DAY
    rules = demo_rules(f"{region}/{name}", rule_count, failure_rate=failure_rate)
    return SimulatedPack(
        name,
        state,
        type=pack_type,
        requested_at=requested,
        completed_at=requested + 240,
        rules=rules,
        score=estimated_score(rules),
        scored_at=now - 1200,
    )


def _failing_evaluation(pack: SimulatedPack) -> SimulatedPack:
    """`pack` with its first rule failing to evaluate since its last successful evaluation."""
    first, *others = pack.rules
    return replace(pack, rules=(replace(first, evaluation="failing_evaluation"), *others))


def _east_packs(now: float) -> list[SimulatedPack]:
    east = DEMO_REGIONS[0]
    regressing = _settled(
        now, east, "Operational-Best-Practices-for-CIS-AWS-v14-Level1", "CREATE_COMPLETE", 41, 45
    )
    s3 = "Operational-Best-Practices-for-Amazon-S3"
    s3_rules = demo_rules(f"{east}/{s3}", 12)
    return [
        replace(regressing, compliance_timeline=(regression(regressing.rules, 150),)),
        _settled(
            now, east, "Operational-Best-Practices-for-CIS-AWS-v14-Level2", "UPDATE_COMPLETE", 9, 60
        ),
        _failing_evaluation(
            _settled(now, east, FAILING_EVALUATION_PACK, "UPDATE_COMPLETE", 3.5, 120)
        ),
        _settled(
            now,
            east,
            "OrgConformsPack-security-baseline-k3x9q2lm",
            "CREATE_COMPLETE",
            120,
            30,
            "MANAGED",
        ),
        _settled(
            now,
            east,
            "OrgConformsPack-encryption-at-rest-m8c4v1tz",
            "UPDATE_COMPLETE",
            17,
            25,
            "MANAGED",
            failure_rate=0.0,
        ),
        SimulatedPack(
            s3,
            "CREATE_IN_PROGRESS",
            requested_at=now,
            timeline=(Transition(60, "CREATE_COMPLETE"),),
            rules=tuple(SimulatedRule(rule.name, INSUFFICIENT_DATA) for rule in s3_rules),
            compliance_timeline=(ComplianceChange(90, estimated_score(s3_rules), s3_rules),),
        ),
        replace(
            _settled(
                now,
                east,
                "Operational-Best-Practices-for-NIST-800-53-rev5",
                "UPDATE_IN_PROGRESS",
                12,
                400,
            ),
            requested_at=now - 3 * _HOUR,
        ),
    ]


def _west_packs(now: float) -> list[SimulatedPack]:
    west = DEMO_REGIONS[1]
    dynamodb = "Operational-Best-Practices-for-Amazon-DynamoDB"
    failing_stack = pack_ids(DEFAULT_ACCOUNT, west, dynamodb)
    return [
        _settled(
            now,
            west,
            "Operational-Best-Practices-for-CIS-AWS-v14-Level1",
            "CREATE_COMPLETE",
            41,
            45,
        ),
        _settled(
            now, west, "Operational-Best-Practices-for-HIPAA-Security", "UPDATE_COMPLETE", 6, 150
        ),
        _settled(
            now,
            west,
            "OrgConformsPack-security-baseline-p7d2w8zt",
            "CREATE_COMPLETE",
            120,
            30,
            "MANAGED",
        ),
        SimulatedPack(
            "OrgConformsPack-data-residency-f4h6j1ns",
            "UPDATE_COMPLETE",
            type="MANAGED",
            requested_at=now - 2 * _DAY,
            completed_at=now - 2 * _DAY + 240,
            rules=demo_rules(f"{west}/data-residency", 10, evaluated=False),
            score=INSUFFICIENT_DATA,
            scored_at=now - 2 * _DAY + 900,
        ),
        SimulatedPack(
            dynamodb,
            "CREATE_IN_PROGRESS",
            requested_at=now,
            timeline=(
                Transition(
                    45,
                    "CREATE_FAILED",
                    f"Embedded stack {failing_stack.stack_arn} was not successfully"
                    " created: The following resource(s) failed to create:"
                    " [DynamodbPitrEnabled]. Resource handler returned message:"
                    ' "The maximum number of AWS Config rules in this account has been'
                    ' reached. (Service: Config, Status Code: 400)"',
                ),
            ),
            rules=demo_rules(f"{west}/{dynamodb}", 10, evaluated=False),
        ),
        replace(
            _settled(
                now,
                west,
                "Operational-Best-Practices-for-Well-Architected-Security",
                "DELETE_FAILED",
                2 / 24,
                80,
            ),
            reason="The following resource(s) failed to delete:"
            " [RemediationS3BucketSslRequestsOnly]. Resource handler returned message:"
            ' "Cannot delete the remediation configuration while a remediation'
            ' execution is in progress."',
            completed_at=now - 2 * _HOUR + 95,
        ),
    ]


def _organization_pack(
    now: float, name: str, status: str, age_days: float, member_pack: str
) -> OrganizationPack:
    """An organization pack every member account runs, as `member_pack`, in `status`."""
    return OrganizationPack(
        name,
        status,
        updated_at=now - age_days * _DAY,
        members=tuple(
            MemberPack(account, member_pack, status, updated_at=now - age_days * _DAY + 300)
            for account in _MEMBER_ACCOUNTS
        ),
    )


def _east_organization_packs(now: float) -> list[OrganizationPack]:
    return [
        _organization_pack(
            now,
            "security-baseline",
            "CREATE_SUCCESSFUL",
            120,
            "OrgConformsPack-security-baseline-k3x9q2lm",
        ),
        _organization_pack(
            now,
            "encryption-at-rest",
            "UPDATE_SUCCESSFUL",
            17,
            "OrgConformsPack-encryption-at-rest-m8c4v1tz",
        ),
    ]


def _west_organization_packs(now: float) -> list[OrganizationPack]:
    member_pack = "OrgConformsPack-data-residency-f4h6j1ns"
    updated = now - 2 * _DAY + 300
    new_account = _MEMBER_ACCOUNTS[2]
    return [
        _organization_pack(
            now,
            "security-baseline",
            "CREATE_SUCCESSFUL",
            120,
            "OrgConformsPack-security-baseline-p7d2w8zt",
        ),
        OrganizationPack(
            "data-residency",
            "CREATE_FAILED",
            updated_at=now - 6 * _HOUR,
            members=(
                *(
                    MemberPack(account, member_pack, "UPDATE_SUCCESSFUL", updated_at=updated)
                    for account in _MEMBER_ACCOUNTS
                    if account != new_account
                ),
                MemberPack(
                    new_account,
                    member_pack,
                    "CREATE_FAILED",
                    updated_at=now - 6 * _HOUR,
                    error_code="NoAvailableConfigurationRecorderException",
                    error_message="Failed to put conformance pack"
                    f" {member_pack} because there is no configuration recorder available"
                    " in this account and region. Start the configuration recorder and"
                    " try again.",
                ),
            ),
        ),
    ]
