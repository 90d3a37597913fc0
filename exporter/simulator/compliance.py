"""Rule compliance and compliance scores of simulated packs, so the compliance operations have
something to report that changes over time the way AWS Config re-evaluations do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from exporter.simulator.remediation import SimulatedRemediation
from exporter.simulator.service_model import enum_values

INSUFFICIENT_DATA: Literal["INSUFFICIENT_DATA"] = "INSUFFICIENT_DATA"
Score = float | Literal["INSUFFICIENT_DATA"]
Evaluation = Literal["ok", "failing_evaluation", "failing_invocation", "not_started"]
EVALUATIONS: tuple[Evaluation, ...] = get_args(Evaluation)


@dataclass(frozen=True)
class SimulatedRule:
    """One Config rule a pack deploys, named as in the pack's template; AWS serves it as
    ``<name>-<pack id>`` so that packs sharing a template rule keep distinct rule names.

    `compliance` is a ConformancePackComplianceType; `non_compliant_resources` is what
    DescribeComplianceByConfigRule reports, capped at 100, and must be positive exactly
    when the rule is NON_COMPLIANT. `evaluation` is how Config last ran the rule, as
    DescribeConfigRuleEvaluationStatus reports it: fine, failing to evaluate or to be invoked
    since an earlier success, or never evaluated yet (which leaves no compliance data).
    `remediation` is the rule's remediation configuration with its executions, if it has one.
    """

    name: str
    compliance: str = "COMPLIANT"
    non_compliant_resources: int = 0
    evaluation: Evaluation = "ok"
    remediation: SimulatedRemediation | None = None

    def __post_init__(self) -> None:
        compliance_types = enum_values("ConformancePackComplianceType")
        if self.compliance not in compliance_types:
            raise ValueError(
                f"rule {self.name!r}: compliance {self.compliance!r} is not one of"
                f" {compliance_types}"
            )
        if not self.name.strip():
            raise ValueError("rule names must have a non-blank character")
        non_compliant = self.compliance == "NON_COMPLIANT"
        if non_compliant != (self.non_compliant_resources > 0) or self.non_compliant_resources < 0:
            raise ValueError(
                f"rule {self.name!r}: non_compliant_resources must be positive exactly when"
                f" the rule is NON_COMPLIANT, got {self.non_compliant_resources}"
            )
        if self.evaluation not in EVALUATIONS:
            raise ValueError(f"rule {self.name!r}: evaluation must be one of {EVALUATIONS}")
        if self.evaluation == "not_started" and self.compliance != INSUFFICIENT_DATA:
            raise ValueError(f"rule {self.name!r}: a rule never evaluated has no compliance yet")


@dataclass(frozen=True)
class ComplianceChange:
    """A scheduled re-evaluation: the rules listed take their new compliance (matched by name)
    and the pack's score becomes `score`, so a score can drop while a demo runs."""

    after_seconds: float
    score: Score | None
    rules: tuple[SimulatedRule, ...] = ()

    def __post_init__(self) -> None:
        check_score(self.score)


def check_score(score: Score | None) -> None:
    """Refuse a score AWS could not report: a percentage, INSUFFICIENT_DATA, or none yet."""
    if isinstance(score, str):
        if score != INSUFFICIENT_DATA:
            raise ValueError(f"score must be a percentage or {INSUFFICIENT_DATA}, got {score!r}")
    elif score is not None and not 0 <= score <= 100:
        raise ValueError(f"score must be between 0 and 100, got {score}")


def check_rules(rules: Sequence[SimulatedRule], changes: Iterable[ComplianceChange]) -> None:
    """Rule names must be unique in a pack, and changes may only name the pack's rules."""
    counts = Counter(rule.name for rule in rules)
    duplicates = sorted(name for name, seen in counts.items() if seen > 1)
    if duplicates:
        raise ValueError(f"rule names must be unique in a pack: {duplicates}")
    strangers = sorted({rule.name for change in changes for rule in change.rules} - set(counts))
    if strangers:
        raise ValueError(f"compliance changes name rules the pack does not have: {strangers}")


def reevaluated(
    rules: tuple[SimulatedRule, ...], changes: Sequence[ComplianceChange]
) -> tuple[SimulatedRule, ...]:
    """`rules` after `changes`, applied in order, so the latest change of a rule wins."""
    latest = {rule.name: rule for change in changes for rule in change.rules}
    return tuple(latest.get(rule.name, rule) for rule in rules)


def pack_compliance(rules: Iterable[SimulatedRule]) -> str:
    """NON_COMPLIANT if any rule is, COMPLIANT if every evaluated rule is, else no data."""
    seen = {rule.compliance for rule in rules}
    for verdict in ("NON_COMPLIANT", "COMPLIANT"):
        if verdict in seen:
            return verdict
    return INSUFFICIENT_DATA


def estimated_score(rules: Iterable[SimulatedRule]) -> Score:
    """The share of evaluated rules that comply, in percent: a stand-in for AWS's share of
    compliant rule-resource pairs that scenario builders can use to keep scores plausible."""
    evaluated = [rule for rule in rules if rule.compliance != INSUFFICIENT_DATA]
    if not evaluated:
        return INSUFFICIENT_DATA
    compliant = sum(rule.compliance == "COMPLIANT" for rule in evaluated)
    return round(100 * compliant / len(evaluated), 2)


def score_text(score: Score) -> str:
    """A score as ListConformancePackComplianceScores spells it."""
    return score if isinstance(score, str) else str(float(score))
