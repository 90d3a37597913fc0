"""The compliance reads of one target: the packs' scores, verdicts and rules, and optionally
the resource counts of their non-compliant rules and their rules' remediations.

For N packs, R of whose rules are non-compliant, in a region with S scored packs: ceil(N/20)
status calls, ceil(S/20) score calls (none without packs), ceil(N/5) summary calls, one rule
call per pack (more past 1,000 rules), with resource counts ceil(R/25) resource-count calls
and with remediations the calls of exporter/aws/remediation.py for every rule; every size is
the installed botocore model's. The calls are made one after the other, so a target never has
more than one compliance call in flight beside its status read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.aws.packs import NO_SUCH_PACK, fetch_pack_rules, fetch_pack_statuses
from exporter.aws.pages import each_or_alone, input_max, read_all_pages, read_token_pages
from exporter.aws.remediation import RuleRemediation, fetch_remediations
from exporter.deadline import Deadline


@dataclass(frozen=True)
class ComplianceLimits:
    """The page sizes and name limits of the compliance calls, as the model sets them."""

    scores_per_page: int
    names_per_summary: int
    rules_per_count: int
    longest_counted_rule: int

    @classmethod
    def of(cls, service_model: Any) -> ComplianceLimits:
        """The limits of `service_model`, the client's own: what botocore validates against."""
        counts = "DescribeComplianceByConfigRule"
        return cls(
            scores_per_page=input_max(
                service_model, "ListConformancePackComplianceScores", "Limit"
            ),
            names_per_summary=input_max(
                service_model, "GetConformancePackComplianceSummary", "ConformancePackNames"
            ),
            rules_per_count=input_max(service_model, counts, "ConfigRuleNames"),
            longest_counted_rule=input_max(service_model, counts, "ConfigRuleNames", each=True),
        )


@dataclass(frozen=True)
class PackCompliance:
    """What AWS says of one target's packs, as botocore parsed it."""

    scores: Sequence[Mapping[str, Any]] = ()
    verdicts: Mapping[str, str] = field(default_factory=dict)
    rules: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    resource_counts: Mapping[str, Mapping[str, Any]] | None = None
    remediations: Mapping[str, RuleRemediation] | None = None


def fetch_compliance(
    client: Any,
    pack_names: tuple[str, ...],
    deadline: Deadline,
    count_resources: bool,
    remediation: bool = False,
) -> PackCompliance:
    """Scores, verdicts and rules of every pack the status read lists (or of `pack_names`),
    with the fewest calls; scores only of listed packs, and only where AWS has one; with
    `remediation`, the remediations of all their rules."""
    limits = ComplianceLimits.of(client.meta.service_model)
    statuses = fetch_pack_statuses(client, pack_names, deadline)
    names = sorted({str(status["ConformancePackName"]) for status in statuses})
    scores: list[dict[str, Any]] = []
    if names:
        scores = read_token_pages(
            client,
            "list_conformance_pack_compliance_scores",
            "ConformancePackComplianceScores",
            deadline,
            Limit=limits.scores_per_page,
        )
    listed = set(names)
    scores = [score for score in scores if score["ConformancePackName"] in listed]
    summaries = each_or_alone(
        NO_SUCH_PACK,
        names,
        limits.names_per_summary,
        lambda chunk: read_all_pages(
            client,
            "get_conformance_pack_compliance_summary",
            "ConformancePackComplianceSummaryList",
            None,
            deadline,
            ConformancePackNames=chunk,
        ),
    )
    verdicts = {
        row["ConformancePackName"]: row["ConformancePackComplianceStatus"] for row in summaries
    }
    rules = fetch_pack_rules(client, names, deadline)
    counts = None
    if count_resources:
        failing = sorted(
            rule["ConfigRuleName"]
            for pack_rules in rules.values()
            for rule in pack_rules
            if rule["ComplianceType"] == "NON_COMPLIANT"
            and len(rule["ConfigRuleName"]) <= limits.longest_counted_rule
        )
        rows = each_or_alone(
            "NoSuchConfigRuleException",
            failing,
            limits.rules_per_count,
            lambda chunk: read_all_pages(
                client,
                "describe_compliance_by_config_rule",
                "ComplianceByConfigRules",
                None,
                deadline,
                ConfigRuleNames=chunk,
                ComplianceTypes=["NON_COMPLIANT"],
            ),
        )
        counts = {row["ConfigRuleName"]: row.get("Compliance", {}) for row in rows}
    remediations = None
    if remediation:
        every_rule = [str(rule["ConfigRuleName"]) for found in rules.values() for rule in found]
        remediations = fetch_remediations(client, every_rule, deadline)
    return PackCompliance(scores, verdicts, rules, counts, remediations)
