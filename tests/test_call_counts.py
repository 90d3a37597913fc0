"""Every call formula the documentation gives, counted on the exporter process against the
simulator: the requests the simulator received and the exporter's own
`aws_config_exporter_api_requests_total` must both equal the formula, computed here from the
sizes served, with sizes where an extra or a missing call shows (41 packs, 50 names, a pack
past 1,000 rules, 26 non-compliant rules, 101 packs in an aggregator).

The formulas (README, docs/metrics.md, docs/operations.md, docs/security.md): pack status
costs ceil(packs/20) calls per account and region per scrape, ceil(names/20) with
`conformance_packs`; a compliance refresh costs ceil(N/20) status calls, ceil(S/20) score
calls for the S scored packs, ceil(N/5) summary calls, one rule call per pack (one more per
1,000 rules past the first 1,000) and ceil(R/25) resource-count calls for R non-compliant
rules; an aggregator costs ceil(packs/100) calls and ceil(sources/100) source-status calls; a
pipeline refresh costs one recorder listing per 20 recorders, one status call per recorder, one
delivery call and ceil(rules/25) rule-evaluation calls (with compliance off, also the pack
listing and one rule call per pack to learn the rule names); with `compliance.remediation`, a
compliance refresh also costs ceil(rules/25) remediation-configuration calls and, per rule with
a remediation, max(1, ceil(executions/100)) execution-status calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exporter.simulator import (
    ConfigSimulator,
    RemediationExecution,
    Scenario,
    SimulatedAggregator,
    SimulatedDeliveryChannel,
    SimulatedPack,
    SimulatedRecorder,
    SimulatedRemediation,
    SimulatedRule,
)
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

NOW = time.time()
OTHER_ACCOUNT = "210987654321"
REQUESTS = "aws_config_exporter_api_requests_total"
STATUS = "DescribeConformancePackStatus"
SCORES = "ListConformancePackComplianceScores"
SUMMARY = "GetConformancePackComplianceSummary"
PACK_RULES = "DescribeConformancePackCompliance"
COUNTS = "DescribeComplianceByConfigRule"
AGGREGATE = "DescribeAggregateComplianceByConformancePacks"
SOURCES = "DescribeConfigurationAggregatorSourcesStatus"
RECORDERS = "ListConfigurationRecorders"
RECORDER_STATUS = "DescribeConfigurationRecorderStatus"
DELIVERY = "DescribeDeliveryChannelStatus"
EVALUATION = "DescribeConfigRuleEvaluationStatus"
REMEDIATIONS = "DescribeRemediationConfigurations"
REMEDIATION_EXECUTIONS = "DescribeRemediationExecutionStatus"
CONFIG_OPERATIONS = (
    STATUS,
    SCORES,
    SUMMARY,
    PACK_RULES,
    COUNTS,
    AGGREGATE,
    SOURCES,
    RECORDERS,
    RECORDER_STATUS,
    DELIVERY,
    EVALUATION,
    REMEDIATIONS,
    REMEDIATION_EXECUTIONS,
)
# The page sizes and chunks the documentation states.
STATUS_PAGE, SCORE_PAGE, SUMMARY_NAMES, RULE_PAGE, COUNT_NAMES, AGGREGATE_PAGE = (
    20,
    20,
    5,
    1000,
    25,
    100,
)
RECORDER_PAGE, EVALUATION_NAMES, SOURCE_PAGE = 20, 25, 100
REMEDIATION_NAMES, EXECUTION_PAGE = 25, 100

Start = Callable[..., ExporterProcess]


def packs(count: int, prefix: str = "pack") -> list[SimulatedPack]:
    return [
        SimulatedPack(f"{prefix}-{i:03d}", "CREATE_COMPLETE", requested_at=NOW - 600)
        for i in range(count)
    ]


@pytest.fixture
def start(tmp_path: Path, exporter_factory) -> Start:
    """The exporter process on `simulator` with `config`; every scrape reads AWS again."""

    def start(simulator: ConfigSimulator, config: str) -> ExporterProcess:
        path = tmp_path / "config.yml"
        path.write_text(f"min_interval_seconds: 0\n{config}")
        process: ExporterProcess = exporter_factory(
            [f"--config.file={path}"], aws_env(simulator.url)
        )
        return process

    return start


def simulator_calls(simulator: ConfigSimulator, region: str) -> dict[str, int]:
    """The Config requests the simulator received from `region`, by operation."""
    counted = {op: simulator.calls(operation=op, region=region) for op in CONFIG_OPERATIONS}
    return {op: calls for op, calls in counted.items() if calls}


def exporter_calls(text: str, region: str) -> dict[str, float]:
    """The Config requests the exporter says it sent in `region`, by operation; every one
    must have succeeded, or a retry would hide in the count."""
    counted: dict[str, float] = {}
    for labels, value in parse_exposition(text).get(REQUESTS, []):
        if labels["region"] == region and labels["operation"] in CONFIG_OPERATIONS:
            assert labels["outcome"] == "success", labels
            counted[labels["operation"]] = counted.get(labels["operation"], 0) + value
    return counted


def scrape_until(process: ExporterProcess, path: str, family: str) -> str:
    """The first body of `path` that has `family` (a background read has finished)."""
    body: str = wait_for(
        lambda: (
            (text := process.get(path)[2].decode()) and family in parse_exposition(text) and text
        ),
        30,
        f"{family} in {path}",
        interval=0.1,
    )
    return body


def test_pack_status_costs_ceil_packs_over_20_per_target_and_scrape(start) -> None:
    scrapes = 3
    sizes = {"us-east-1": 41, "eu-west-1": 20}
    scenario = Scenario({(ACCOUNT, region): packs(n) for region, n in sizes.items()})
    with ConfigSimulator(scenario) as simulator:
        process = start(
            simulator,
            "regions: [us-east-1, eu-west-1]\ncompliance: {enabled: false}\n"
            "pipeline: {enabled: false}\n",
        )
        bodies = [process.scrape() for _ in range(scrapes)]

        for region, count in sizes.items():
            expected = {STATUS: scrapes * math.ceil(count / STATUS_PAGE)}
            assert simulator_calls(simulator, region) == expected, region
            assert exporter_calls(bodies[-1], region) == expected, region
    assert expected == {STATUS: scrapes}  # 20 packs: one page, never an empty second one


def test_named_packs_cost_ceil_names_over_20_per_scrape(start) -> None:
    served = packs(60)
    names = [pack.name for pack in served[5:55]]
    assert len(names) == 50
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): served})) as simulator:
        process = start(
            simulator,
            "regions: [us-east-1]\ncompliance: {enabled: false}\npipeline: {enabled: false}\n"
            f"conformance_packs: [{', '.join(names)}]\n",
        )
        first, second = process.scrape(), process.scrape()

        expected = {STATUS: 2 * math.ceil(len(names) / STATUS_PAGE)}
        assert simulator_calls(simulator, "us-east-1") == expected
        assert exporter_calls(second, "us-east-1") == expected
    listed = {
        labels["conformance_pack"]
        for labels, _ in parse_exposition(first)["aws_config_conformance_pack_info"]
    }
    assert listed == set(names)


def compliance_packs() -> list[SimulatedPack]:
    """41 packs: one of 1,001 rules, one not scored yet, 26 with one non-compliant rule."""
    made = []
    for index in range(41):
        rules = [SimulatedRule(f"rule-{index:03d}-ok")]
        if index < 26:
            rules.append(SimulatedRule(f"rule-{index:03d}-failing", "NON_COMPLIANT", index + 1))
        if index == 40:
            rules += [SimulatedRule(f"rule-{n:04d}") for n in range(1000)]
        made.append(
            SimulatedPack(
                f"pack-{index:03d}",
                "CREATE_COMPLETE",
                requested_at=NOW - 600,
                rules=tuple(rules),
                score=None if index == 39 else 50.0 if index < 26 else 100.0,
                scored_at=None if index == 39 else NOW,
            )
        )
    return made


def test_a_compliance_refresh_costs_the_documented_calls(start) -> None:
    served = compliance_packs()
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): served})) as simulator:
        process = start(
            simulator,
            "regions: [us-east-1]\n"
            "compliance: {interval_seconds: 3600, noncompliant_resources: true}\n",
        )
        # Only the compliance collector reads: its refresh's calls are all the calls.
        body = scrape_until(
            process,
            "/metrics?collect[]=compliance",
            "aws_config_conformance_pack_rule_noncompliant_resources",
        )

        n = len(served)
        scored = sum(pack.score is not None for pack in served)
        failing = sum(rule.compliance == "NON_COMPLIANT" for pack in served for rule in pack.rules)
        rule_pages = sum(max(1, math.ceil(len(pack.rules) / RULE_PAGE)) for pack in served)
        expected = {
            STATUS: math.ceil(n / STATUS_PAGE),
            SCORES: math.ceil(scored / SCORE_PAGE),
            SUMMARY: math.ceil(n / SUMMARY_NAMES),
            PACK_RULES: rule_pages,
            COUNTS: math.ceil(failing / COUNT_NAMES),
        }
        assert simulator_calls(simulator, "us-east-1") == expected
        assert exporter_calls(body, "us-east-1") == expected
    # The sizes make each term differ from its neighbour's off-by-one.
    assert (n, scored, failing, rule_pages) == (41, 40, 26, 42)
    assert expected == {STATUS: 3, SCORES: 2, SUMMARY: 9, PACK_RULES: 42, COUNTS: 2}
    verdicts = parse_exposition(body)["aws_config_conformance_pack_compliance"]
    assert len({labels["conformance_pack"] for labels, _ in verdicts}) == n


def test_an_aggregator_costs_ceil_packs_over_100(start) -> None:
    sources = ((OTHER_ACCOUNT, "eu-west-1"), (OTHER_ACCOUNT, "us-west-2"))
    sizes = dict(zip(sources, (60, 41), strict=True))
    scenario = Scenario(
        {(ACCOUNT, "us-east-1"): [], **{source: packs(n) for source, n in sizes.items()}},
        aggregators={(ACCOUNT, "us-east-1"): [SimulatedAggregator("organisation", sources)]},
    )
    with ConfigSimulator(scenario) as simulator:
        process = start(
            simulator,
            "regions: [us-east-1]\ncompliance: {enabled: false, interval_seconds: 3600}\n"
            "accounts:\n  - name: management\n"
            "aggregators:\n  - name: organisation\n    region: us-east-1\n",
        )
        body = scrape_until(
            process, "/metrics?collect[]=aggregator", "aws_config_conformance_pack_compliance"
        )

        expected = {
            AGGREGATE: math.ceil(sum(sizes.values()) / AGGREGATE_PAGE),
            SOURCES: math.ceil(len(sources) / SOURCE_PAGE),
        }
        assert simulator_calls(simulator, "us-east-1") == expected
        assert exporter_calls(body, "us-east-1") == expected
    assert expected == {AGGREGATE: 2, SOURCES: 1}  # 101 packs, 2 sources
    rows = parse_exposition(body)["aws_config_conformance_pack_compliance"]
    assert len({(labels["region"], labels["conformance_pack"]) for labels, _ in rows}) == 101


def test_a_pipeline_refresh_costs_the_documented_calls(start) -> None:
    """21 recorders (two listing pages), 26 rules (two evaluation calls) in 3 packs."""
    recorders = [
        SimulatedRecorder("default"),
        *(
            SimulatedRecorder(
                f"AWSConfigurationRecorderFor{index:02d}",
                service_principal=f"service{index:02d}.amazonaws.com",
            )
            for index in range(20)
        ),
    ]
    served = [
        SimulatedPack(
            f"pack-{index}",
            "CREATE_COMPLETE",
            requested_at=NOW - 600,
            rules=tuple(SimulatedRule(f"rule-{index}-{n:02d}") for n in range(count)),
        )
        for index, count in enumerate((1, 12, 13))
    ]
    scenario = Scenario(
        {(ACCOUNT, "us-east-1"): served},
        recorders={(ACCOUNT, "us-east-1"): recorders},
        delivery_channels={(ACCOUNT, "us-east-1"): [SimulatedDeliveryChannel()]},
    )
    with ConfigSimulator(scenario) as simulator:
        process = start(
            simulator,
            "regions: [us-east-1]\ncompliance: {enabled: false}\n"
            "pipeline: {interval_seconds: 3600}\n",
        )
        # Only the pipeline collector reads: its refresh's calls are all the calls.
        body = scrape_until(
            process, "/metrics?collect[]=pipeline", "aws_config_conformance_pack_rules_evaluation"
        )

        rules = sum(len(pack.rules) for pack in served)
        expected = {
            RECORDERS: math.ceil(len(recorders) / RECORDER_PAGE),
            RECORDER_STATUS: len(recorders),
            DELIVERY: 1,
            EVALUATION: math.ceil(rules / EVALUATION_NAMES),
            # Compliance is off: the pipeline learns the packs' rule names itself.
            STATUS: math.ceil(len(served) / STATUS_PAGE),
            PACK_RULES: len(served),
        }
        assert simulator_calls(simulator, "us-east-1") == expected
        assert exporter_calls(body, "us-east-1") == expected
    assert (len(recorders), rules) == (21, 26)
    assert expected == {
        RECORDERS: 2,
        RECORDER_STATUS: 21,
        DELIVERY: 1,
        EVALUATION: 2,
        STATUS: 1,
        PACK_RULES: 3,
    }


def test_remediations_cost_the_documented_calls(start) -> None:
    """51 rules (three configuration calls) in 3 packs; remediations of 101, 100 and no
    executions (two, one and one execution-status calls)."""

    def remediation(count: int) -> SimulatedRemediation:
        executions = tuple(RemediationExecution(f"bucket-{n:03d}") for n in range(count))
        return SimulatedRemediation("AWS-Fix", executions=executions)

    sizes = {0: 101, 1: 100, 2: 0}
    served = [
        SimulatedPack(
            f"pack-{index}",
            "CREATE_COMPLETE",
            requested_at=NOW - 600,
            score=100.0,
            scored_at=NOW,
            rules=(
                SimulatedRule(f"rule-{index}-fixed", remediation=remediation(sizes[index])),
                *(SimulatedRule(f"rule-{index}-{n:02d}") for n in range(16)),
            ),
        )
        for index in range(3)
    ]
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): served})) as simulator:
        process = start(
            simulator,
            "regions: [us-east-1]\npipeline: {enabled: false}\n"
            "compliance: {interval_seconds: 3600, remediation: true}\n",
        )
        body = scrape_until(
            process,
            "/metrics?collect[]=compliance",
            "aws_config_conformance_pack_remediation_executions",
        )

        rules = sum(len(pack.rules) for pack in served)
        expected = {
            STATUS: math.ceil(len(served) / STATUS_PAGE),
            SCORES: math.ceil(len(served) / SCORE_PAGE),
            SUMMARY: math.ceil(len(served) / SUMMARY_NAMES),
            PACK_RULES: len(served),
            REMEDIATIONS: math.ceil(rules / REMEDIATION_NAMES),
            REMEDIATION_EXECUTIONS: sum(
                max(1, math.ceil(count / EXECUTION_PAGE)) for count in sizes.values()
            ),
        }
        assert simulator_calls(simulator, "us-east-1") == expected
        assert exporter_calls(body, "us-east-1") == expected
    assert rules == 51
    assert expected[REMEDIATIONS] == 3
    assert expected[REMEDIATION_EXECUTIONS] == 4
