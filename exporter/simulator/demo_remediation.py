"""Remediations for the demo's packs: automatic fixes that worked, a manual one under way, and
one in the first region whose every execution fails for lack of permissions, the silent
failure `compliance.remediation` is there to show."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from exporter.simulator.compliance import SimulatedRule
from exporter.simulator.demo_rules import CATALOGUE
from exporter.simulator.packs import SimulatedPack
from exporter.simulator.remediation import RemediationExecution, SimulatedRemediation

REMEDIATION_FAILS_IN = ("us-east-1", "Operational-Best-Practices-for-CIS-AWS-v14-Level1")
_MANUAL_IN = ("us-east-1", "Operational-Best-Practices-for-PCI-DSS")
_FIXED_IN = ("eu-west-1", "Operational-Best-Practices-for-HIPAA-Security")
_FAILURE = (
    "Step fails when it is Executing. Fail Message: An error occurred (AccessDenied): the"
    " automation role is not authorized to change the resource"
)
_MOST_FAILED = 6


def remediated(region: str, packs: Iterable[SimulatedPack]) -> list[SimulatedPack]:
    """`packs` of `region` with the demo's remediations on the rules of three of them."""
    return [_remediated(region, pack) for pack in packs]


def _remediated(region: str, pack: SimulatedPack) -> SimulatedPack:
    changing = {rule.name for change in pack.compliance_timeline for rule in change.rules}
    steady = [rule for rule in pack.rules if rule.name not in changing]
    failing = [rule for rule in steady if rule.compliance == "NON_COMPLIANT"]
    compliant = [rule for rule in steady if rule.compliance == "COMPLIANT"]
    added: dict[str, SimulatedRemediation] = {}
    if (region, pack.name) == REMEDIATION_FAILS_IN:
        broken = failing[0]
        added[broken.name] = _remediation(
            broken,
            tuple(
                RemediationExecution(_resource(broken, index), "FAILED", _FAILURE)
                for index in range(min(broken.non_compliant_resources, _MOST_FAILED))
            ),
        )
        for count, rule in zip((3, 2), compliant, strict=False):
            added[rule.name] = _fixed(rule, count)
    elif (region, pack.name) == _MANUAL_IN:
        waiting = failing[0]
        executions = (
            RemediationExecution(_resource(waiting, 0), "IN_PROGRESS"),
            RemediationExecution(_resource(waiting, 1), "QUEUED"),
        )
        added[waiting.name] = replace(_remediation(waiting, executions), automatic=False)
    elif (region, pack.name) == _FIXED_IN:
        added[compliant[0].name] = _fixed(compliant[0], 4)
    if not added:
        return pack
    rules = tuple(replace(rule, remediation=added.get(rule.name)) for rule in pack.rules)
    return replace(pack, rules=rules)


def _fixed(rule: SimulatedRule, count: int) -> SimulatedRemediation:
    """A remediation that fixed `count` resources which broke `rule` before."""
    executions = tuple(RemediationExecution(_resource(rule, index)) for index in range(count))
    return _remediation(rule, executions)


def _remediation(
    rule: SimulatedRule, executions: tuple[RemediationExecution, ...]
) -> SimulatedRemediation:
    """An AWS-style SSM automation document named after the rule it fixes."""
    words = "".join(word.capitalize() for word in rule.name.split("-"))
    return SimulatedRemediation(f"AWSConfigRemediation-{words}", executions=executions)


def _resource(rule: SimulatedRule, index: int) -> str:
    """A bucket name: every demo remediation fixes S3 buckets."""
    return f"demo-{CATALOGUE.index(rule.name):03d}-bucket-{index:02d}"
