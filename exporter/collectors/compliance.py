"""Compliance: each pack's verdict and score, its rules' compliance, and optionally how many
resources break each non-compliant rule.

AWS re-evaluates rules on change or every 1 to 24 hours, so a target is read at most every
`compliance.interval_seconds`, in the background, with the fewest calls the API allows
(exporter/aws/compliance.py counts them). The packs are those DescribeConformancePackStatus
lists, as the status collector reads them (a new pack may have no score yet, and still has a
verdict and rules). The resource counts are not read with `rule_series: none`, which serves
no per-rule series; with `remediation`, the rules' remediations are read too.

`compliance.rule_series` bounds the per-rule series: `all` a state set per rule, `noncompliant`
one series per NON_COMPLIANT rule (its resource counts too), `none` no per-rule series; the
remediation families follow it too (exporter/collectors/remediation.py).
"""

from __future__ import annotations

import decimal
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.samples import Sample

# The reads are re-exported: callers know them from this module.
from exporter.aws.compliance import ComplianceLimits as ComplianceLimits
from exporter.aws.compliance import PackCompliance as PackCompliance
from exporter.aws.compliance import fetch_compliance as fetch_compliance
from exporter.aws.packs import IAM_ACTION as STATUS_IAM_ACTION
from exporter.aws.remediation import IAM_ACTIONS as REMEDIATION_IAM_ACTIONS
from exporter.aws.targets import Target
from exporter.collection import ReadPolicy
from exporter.collectors.remediation import REMEDIATION_HELP, RULE_FAMILIES, remediation_samples
from exporter.config import Config
from exporter.config_types import RuleSeries
from exporter.deadline import Deadline
from exporter.metrics import (
    CAP_EXCEEDED,
    COMPLIANCE,
    COMPLIANCE_HELP,
    NONCOMPLIANT_RESOURCES,
    RESOURCE_FAMILIES,
    RULE_COMPLIANCE,
    RULES,
    SCORE,
    SCORE_UPDATED,
    one_hot,
    timestamp,
)
from exporter.pack_rules import PackRules


def _ratio(score: str) -> float | None:
    """AWS's decimal percentage divided exactly ("87.04" is 0.8704, not 0.8704000000000001);
    None for INSUFFICIENT_DATA or anything not a finite number."""
    try:
        percent = decimal.Decimal(score)
    except decimal.InvalidOperation:
        return None
    return float(percent / 100) if percent.is_finite() else None


def _rule_compliance(
    labels: Mapping[str, str], current: str, values: Sequence[str], rule_series: RuleSeries
) -> list[Sample]:
    """One rule's compliance: a state set for `all`, the 1 alone of a NON_COMPLIANT rule for
    `noncompliant` (what alerts and failing-rule tables read), nothing for `none`."""
    if rule_series == "all":
        return one_hot(RULE_COMPLIANCE, labels, "compliance", current, values)
    if rule_series == "noncompliant" and current == "NON_COMPLIANT":
        return [Sample(RULE_COMPLIANCE, {**labels, "compliance": current}, 1.0)]
    return []


def compliance_samples(
    account_id: str,
    region: str,
    found: PackCompliance,
    values: Sequence[str],
    rule_series: RuleSeries = "all",
) -> dict[str, list[Sample]]:
    """Samples for one target's packs; `values` are the model's compliance types. The
    per-rule families follow `rule_series`; the resource counts are per rule, so `none`
    drops them."""
    samples: dict[str, list[Sample]] = {name: [] for name in COMPLIANCE_HELP}
    target = {"account_id": account_id, "region": region}
    for score in sorted(found.scores, key=lambda s: str(s["ConformancePackName"])):
        labels = {**target, "conformance_pack": score["ConformancePackName"]}
        ratio = _ratio(str(score.get("Score", "")))
        if ratio is not None:
            samples[SCORE].append(Sample(SCORE, labels, ratio))
        if "LastUpdatedTime" in score:
            updated = timestamp(score["LastUpdatedTime"])
            samples[SCORE_UPDATED].append(Sample(SCORE_UPDATED, labels, updated))
    for pack in sorted(found.verdicts):
        labels = {**target, "conformance_pack": pack}
        samples[COMPLIANCE] += one_hot(
            COMPLIANCE, labels, "compliance", found.verdicts[pack], values
        )
    for pack in sorted(found.rules):
        labels = {**target, "conformance_pack": pack}
        rules = sorted(found.rules[pack], key=lambda rule: str(rule["ConfigRuleName"]))
        tally = Counter(str(rule["ComplianceType"]) for rule in rules)
        for value in [*values, *sorted(set(tally) - set(values))]:
            samples[RULES].append(Sample(RULES, {**labels, "compliance": value}, tally[value]))
        for rule in rules:
            rule_labels = {**labels, "config_rule": rule["ConfigRuleName"]}
            samples[RULE_COMPLIANCE] += _rule_compliance(
                rule_labels, str(rule["ComplianceType"]), values, rule_series
            )
            if rule_series == "none":
                continue
            count = (found.resource_counts or {}).get(rule["ConfigRuleName"])
            contributors = (count or {}).get("ComplianceContributorCount")
            if contributors is not None:
                capped = float(contributors.get("CappedCount", 0))
                exceeded = float(bool(contributors.get("CapExceeded", False)))
                samples[NONCOMPLIANT_RESOURCES].append(
                    Sample(NONCOMPLIANT_RESOURCES, rule_labels, capped)
                )
                samples[CAP_EXCEEDED].append(Sample(CAP_EXCEEDED, rule_labels, exceeded))
    return samples


class ComplianceCollector:
    """Every target's pack compliance, refreshed in the background every interval."""

    name = "compliance"
    IAM_ACTIONS = frozenset(
        {
            STATUS_IAM_ACTION,
            "config:ListConformancePackComplianceScores",
            "config:GetConformancePackComplianceSummary",
            "config:DescribeConformancePackCompliance",
            "config:DescribeComplianceByConfigRule",
            *REMEDIATION_IAM_ACTIONS,
        }
    )

    def __init__(
        self, config: Config, service_model: Any, pack_rules: PackRules | None = None
    ) -> None:
        """`pack_rules`, when given, gets each target's rule names after every good read."""
        self.values = tuple(service_model.shape_for("ConformancePackComplianceType").enum)
        self.remediation_states = tuple(service_model.shape_for("RemediationExecutionState").enum)
        self._pack_names = config.conformance_packs
        self._pack_rules = pack_rules
        self._rule_series = config.compliance.rule_series
        per_rule = self._rule_series != "none"
        self._count_resources = config.compliance.noncompliant_resources and per_rule
        self._remediation = config.compliance.remediation
        remediation_help = REMEDIATION_HELP if self._remediation else {}
        self.help_texts: Mapping[str, str] = {
            name: text
            for name, text in {**COMPLIANCE_HELP, **remediation_help}.items()
            if (self._count_resources or name not in RESOURCE_FAMILIES)
            and (per_rule or name not in (RULE_COMPLIANCE, *RULE_FAMILIES))
        }
        self.policy = ReadPolicy(config.compliance.interval_seconds, background=True)

    @classmethod
    def from_config(
        cls, config: Config, service_model: Any, pack_rules: PackRules
    ) -> ComplianceCollector | None:
        """On unless `compliance.enabled` is false; it fills `pack_rules`."""
        return cls(config, service_model, pack_rules) if config.compliance.enabled else None

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        """Every target."""
        return targets

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        """One target's pack compliance as samples."""
        found = fetch_compliance(
            target.client, self._pack_names, deadline, self._count_resources, self._remediation
        )
        if self._pack_rules is not None:
            self._pack_rules.record(
                target,
                {
                    pack: [str(rule["ConfigRuleName"]) for rule in rules]
                    for pack, rules in found.rules.items()
                },
            )
        account_id = target.account.resolve_account_id()
        samples = compliance_samples(
            account_id, target.region, found, self.values, self._rule_series
        )
        if found.remediations is not None:
            samples |= remediation_samples(
                account_id,
                target.region,
                found.rules,
                found.remediations,
                self.remediation_states,
                self._rule_series,
            )
        return samples
