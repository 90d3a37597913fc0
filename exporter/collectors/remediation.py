"""Remediation samples: how the automatic fixes of each pack's rules fare, served by the
compliance read (collector "compliance") when `compliance.remediation` is on.

AWS keeps the latest execution per resource, so the counts are resources by the state of
their last remediation. The per-pack counts cover every pack with at least one remediation,
in every `compliance.rule_series` mode; the per-rule families follow it: every rule with a
remediation for `all`, only the FAILED count (and the info) of rules with failed executions
for `noncompliant`, nothing for `none`.

Example exposition::

    aws_config_conformance_pack_remediation_executions{account_id="123456789012",
        region="us-east-1",conformance_pack="cis",state="FAILED"} 3.0
    aws_config_conformance_pack_rule_remediation_info{account_id="123456789012",
        region="us-east-1",conformance_pack="cis",config_rule="s3-public-read-abc",
        target_id="AWS-DisableS3BucketPublicReadWrite",automatic="true"} 1.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from prometheus_client.samples import Sample

from exporter.aws.remediation import RuleRemediation
from exporter.config_types import RuleSeries

EXECUTIONS = "aws_config_conformance_pack_remediation_executions"
RULE_EXECUTIONS = "aws_config_conformance_pack_rule_remediation_executions"
RULE_INFO = "aws_config_conformance_pack_rule_remediation_info"
REMEDIATION_HELP = {
    EXECUTIONS: (
        "Resources of the conformance pack's rules by the state of their latest remediation "
        "execution; 0 for the states none is in. Only packs with a remediation."
    ),
    RULE_EXECUTIONS: (
        "Resources of the rule by the state of their latest remediation execution; 0 for "
        "the states none is in."
    ),
    RULE_INFO: (
        "The rule's remediation: its target (an SSM document) and whether AWS runs it "
        "automatically; always 1."
    ),
}
RULE_FAMILIES = (RULE_EXECUTIONS, RULE_INFO)
FAILED = "FAILED"
# An execution AWS reports without a state counts as the model's catch-all.
UNKNOWN = "UNKNOWN"


def _tally(remediation: RuleRemediation) -> Counter[str]:
    """Executions by state."""
    return Counter(str(execution.get("State") or UNKNOWN) for execution in remediation.executions)


def _counts(
    name: str, labels: Mapping[str, str], tally: Counter[str], states: Sequence[str]
) -> list[Sample]:
    """A count per model state, 0 included, then any state the model does not know yet."""
    every = [*states, *sorted(set(tally) - set(states))]
    return [Sample(name, {**labels, "state": state}, float(tally[state])) for state in every]


def _info(labels: Mapping[str, str], remediation: RuleRemediation) -> list[Sample]:
    """One series per distinct (target, automatic) of the rule's configurations."""
    seen = sorted(
        {
            (str(configuration.get("TargetId", "")), str(bool(configuration.get("Automatic"))))
            for configuration in remediation.configurations
        }
    )
    return [
        Sample(RULE_INFO, {**labels, "target_id": target, "automatic": automatic.lower()}, 1.0)
        for target, automatic in seen
    ]


def remediation_samples(
    account_id: str,
    region: str,
    pack_rules: Mapping[str, Sequence[Mapping[str, object]]],
    remediations: Mapping[str, RuleRemediation],
    states: Sequence[str],
    rule_series: RuleSeries = "all",
) -> dict[str, list[Sample]]:
    """Samples for one target's packs from their rules (`pack_rules`, as the compliance read
    lists them) and the remediations of those rules; `states` are the model's."""
    samples: dict[str, list[Sample]] = {name: [] for name in REMEDIATION_HELP}
    for pack in sorted(pack_rules):
        labels = {"account_id": account_id, "region": region, "conformance_pack": pack}
        names = sorted({str(rule["ConfigRuleName"]) for rule in pack_rules[pack]})
        remediated = [(name, remediations[name]) for name in names if name in remediations]
        if not remediated:
            continue
        pack_tally: Counter[str] = Counter()
        for name, remediation in remediated:
            tally = _tally(remediation)
            pack_tally.update(tally)
            rule_labels = {**labels, "config_rule": name}
            if rule_series == "all":
                samples[RULE_EXECUTIONS] += _counts(RULE_EXECUTIONS, rule_labels, tally, states)
            elif rule_series == "noncompliant" and tally[FAILED]:
                failed = {**rule_labels, "state": FAILED}
                samples[RULE_EXECUTIONS].append(
                    Sample(RULE_EXECUTIONS, failed, float(tally[FAILED]))
                )
            else:
                continue
            samples[RULE_INFO] += _info(rule_labels, remediation)
        samples[EXECUTIONS] += _counts(EXECUTIONS, labels, pack_tally, states)
    return samples
