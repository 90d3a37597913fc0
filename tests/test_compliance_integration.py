"""The compliance collector as a user runs it: the exporter process against the simulator's
four compliance operations over real HTTP, beside the pack-status read it must never disturb,
in each `compliance.rule_series` mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack, SimulatedRule
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

NOW = time.time()
REGIONS = ("us-east-1", "eu-west-1")
COMPLIANCE = "aws_config_conformance_pack_compliance"
SUCCESS = "aws_config_exporter_scrape_success"
STATE = "aws_config_conformance_pack_state"
SCORE = "aws_config_conformance_pack_compliance_score_ratio"
SCORE_UPDATED = "aws_config_conformance_pack_compliance_score_last_updated_timestamp_seconds"
RULES = "aws_config_conformance_pack_rules"
RULE_COMPLIANCE = "aws_config_conformance_pack_rule_compliance"
RESOURCE_FAMILIES = (
    "aws_config_conformance_pack_rule_noncompliant_resources",
    "aws_config_conformance_pack_rule_noncompliant_resources_cap_exceeded",
)


# Served as "<name>-conformance-pack-xxxxxxxx": longer than the 64 characters this exporter
# once took for DescribeComplianceByConfigRule's limit, within the model's.
LONG_RULE = "config-rule-with-a-name-long-enough-to-pass-sixty-four-characters"
PACKS = 3


def pack(name: str, *rules: SimulatedRule, score: float | None = 50.0) -> SimulatedPack:
    return SimulatedPack(
        name,
        "CREATE_COMPLETE",
        requested_at=NOW - 600,
        score=score,
        scored_at=None if score is None else NOW,
        rules=rules,
    )


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    packs = [
        pack("clean", SimulatedRule("s3-versioning"), score=100.0),
        pack(
            "broken",
            SimulatedRule("iam-root-key"),
            SimulatedRule("s3-public-read", "NON_COMPLIANT", 140),
            SimulatedRule("ebs-encrypted", "NON_COMPLIANT", 3),
            SimulatedRule(LONG_RULE, "NON_COMPLIANT", 7),
        ),
        # Just deployed: AWS lists its status and evaluates its rules, but has no score yet.
        pack("fresh", SimulatedRule("rds-encrypted", "NON_COMPLIANT", 2), score=None),
    ]
    with ConfigSimulator(Scenario({(ACCOUNT, r): packs for r in REGIONS})) as sim:
        yield sim


def start(
    simulator: ConfigSimulator, exporter_factory, tmp_path, compliance: str
) -> ExporterProcess:
    config = tmp_path / "config.yml"
    # The pipeline, which reads the same rules, is tested in test_pipeline_integration.py.
    config.write_text(
        f"regions: [{', '.join(REGIONS)}]\nmin_interval_seconds: 0\ncompliance: {compliance}\n"
        "pipeline: {enabled: false}\n"
    )
    process: ExporterProcess = exporter_factory([f"--config.file={config}"], aws_env(simulator.url))
    return process


def scrape_until(process: ExporterProcess, check) -> Any:
    return wait_for(
        lambda: check(samples := parse_exposition(process.scrape())) and samples,
        20,
        "compliance in a scrape",
        interval=0.1,
    )


def by_collector(samples, region: str) -> dict[str, float]:
    return {
        labels["collector"]: value
        for labels, value in samples[SUCCESS]
        if labels["region"] == region
    }


def test_compliance_series_from_the_simulator(simulator, exporter_factory, tmp_path) -> None:
    process = start(
        simulator,
        exporter_factory,
        tmp_path,
        "{interval_seconds: 300, noncompliant_resources: true}",
    )

    samples = scrape_until(process, lambda s: len(s.get(COMPLIANCE, ())) == 2 * PACKS * 3)
    simulator.reset_calls()
    again = parse_exposition(process.scrape())

    verdicts = {
        (labels["region"], labels["conformance_pack"]): labels["compliance"]
        for labels, value in samples[COMPLIANCE]
        if value == 1
    }
    assert verdicts == {
        (r, p): v
        for r in REGIONS
        for p, v in (
            ("clean", "COMPLIANT"),
            ("broken", "NON_COMPLIANT"),
            ("fresh", "NON_COMPLIANT"),
        )
    }
    rules = {
        (labels["conformance_pack"], labels["compliance"]): value
        for labels, value in samples["aws_config_conformance_pack_rules"]
        if labels["region"] == "us-east-1"
    }
    assert rules[("broken", "NON_COMPLIANT")] == 3
    assert rules[("broken", "INSUFFICIENT_DATA")] == 0
    counts = {
        labels["config_rule"].split("-conformance-pack-")[0]: value
        for labels, value in samples["aws_config_conformance_pack_rule_noncompliant_resources"]
        if labels["region"] == "us-east-1"
    }
    assert counts == {
        "s3-public-read": 100.0,
        "ebs-encrypted": 3.0,
        LONG_RULE: 7.0,
        "rds-encrypted": 2.0,
    }
    scores = {
        labels["conformance_pack"]: value
        for labels, value in samples["aws_config_conformance_pack_compliance_score_ratio"]
    }
    assert scores == {"clean": 1.0, "broken": 0.5}  # none for "fresh": it has no score
    # Within the interval a scrape makes no compliance call and serves the same data.
    assert again[COMPLIANCE] == samples[COMPLIANCE]
    assert simulator.calls(operation="ListConformancePackComplianceScores") == 0
    assert simulator.calls(operation="DescribeConformancePackStatus") == len(REGIONS)


def test_a_listed_pack_without_a_score_has_its_verdict_and_rules(
    simulator, exporter_factory, tmp_path
) -> None:
    process = start(simulator, exporter_factory, tmp_path, "{interval_seconds: 300}")

    samples = scrape_until(process, lambda s: len(s.get(COMPLIANCE, ())) == 2 * PACKS * 3)

    def fresh(name: str) -> dict[tuple[str, str], float]:
        return {
            (labels["region"], labels.get("compliance", "")): value
            for labels, value in samples.get(name, [])
            if labels["conformance_pack"] == "fresh"
        }

    assert "fresh" in {labels["conformance_pack"] for labels, _ in samples[STATE]}
    assert {key for key, value in fresh(COMPLIANCE).items() if value} == {
        (region, "NON_COMPLIANT") for region in REGIONS
    }
    assert fresh("aws_config_conformance_pack_rules") == {
        (region, value): float(value == "NON_COMPLIANT")
        for region in REGIONS
        for value in ("COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA")
    }
    assert fresh("aws_config_conformance_pack_rule_compliance")
    assert fresh(SCORE) == {}
    assert fresh(SCORE_UPDATED) == {}
    assert len(samples[SCORE]) == 2 * (PACKS - 1)  # the scored packs do have theirs


def test_a_denied_compliance_read_leaves_pack_status_alone(
    simulator, exporter_factory, tmp_path
) -> None:
    simulator.add_fault(
        Fault(
            kind="access_denied",
            region="eu-west-1",
            operation="ListConformancePackComplianceScores",
        )
    )
    process = start(simulator, exporter_factory, tmp_path, "{interval_seconds: 0}")

    samples = scrape_until(process, lambda s: len(by_collector(s, "eu-west-1")) == 2)

    assert by_collector(samples, "eu-west-1") == {"status": 1.0, "compliance": 0.0}
    assert by_collector(samples, "us-east-1")["status"] == 1.0
    states = {labels["region"] for labels, _ in samples["aws_config_conformance_pack_state"]}
    assert states == set(REGIONS)
    compliance_regions = {labels["region"] for labels, _ in samples.get(COMPLIANCE, [])}
    assert "eu-west-1" not in compliance_regions
    process.wait_for_log(r"collector=compliance.*region=eu-west-1 error_code=AccessDeniedException")


def rule_name(labels: dict[str, str]) -> str:
    """The rule as the fixture names it, without the simulator's pack suffix."""
    return labels["config_rule"].split("-conformance-pack-")[0]


# The simulator's rules by compliance, in each region.
FAILING_RULES = {"s3-public-read", "ebs-encrypted", LONG_RULE, "rds-encrypted"}
ALL_RULES = FAILING_RULES | {"s3-versioning", "iam-root-key"}
VALUES = ("COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA")


@pytest.mark.parametrize("mode", ["all", "noncompliant", "none"])
def test_each_rule_series_mode_from_the_config_file(
    simulator, exporter_factory, tmp_path, mode
) -> None:
    process = start(
        simulator,
        exporter_factory,
        tmp_path,
        f"{{interval_seconds: 300, noncompliant_resources: true, rule_series: {mode}}}",
    )

    samples = scrape_until(process, lambda s: len(s.get(COMPLIANCE, ())) == 2 * PACKS * 3)
    text = process.scrape()

    # The counts per pack and the verdicts are the same in every mode.
    assert {
        (lb["region"], lb["conformance_pack"], lb["compliance"]): v for lb, v in samples[RULES] if v
    } == {
        (region, pack, compliance): count
        for region in REGIONS
        for pack, compliance, count in (
            ("clean", "COMPLIANT", 1),
            ("broken", "COMPLIANT", 1),
            ("broken", "NON_COMPLIANT", 3),
            ("fresh", "NON_COMPLIANT", 1),
        )
    }
    assert len(samples[COMPLIANCE]) == 2 * PACKS * 3
    rule_series = {
        (lb["region"], rule_name(lb), lb["compliance"], v)
        for lb, v in samples.get(RULE_COMPLIANCE, [])
    }
    counted = {
        name: {(lb["region"], rule_name(lb)) for lb, _ in samples.get(name, [])}
        for name in RESOURCE_FAMILIES
    }
    failing = {(region, rule) for region in REGIONS for rule in FAILING_RULES}
    if mode == "all":
        assert rule_series == {
            (
                region,
                rule,
                value,
                float(value == "NON_COMPLIANT")
                if rule in FAILING_RULES
                else float(value == "COMPLIANT"),
            )
            for region in REGIONS
            for rule in ALL_RULES
            for value in VALUES
        }
    elif mode == "noncompliant":
        assert rule_series == {(region, rule, "NON_COMPLIANT", 1.0) for region, rule in failing}
    else:
        assert rule_series == set()
        assert f"# HELP {RULE_COMPLIANCE} " not in text
    if mode == "none":  # per rule too: neither served nor read
        assert counted == {name: set() for name in RESOURCE_FAMILIES}
        assert not any(f"# HELP {name} " in text for name in RESOURCE_FAMILIES)
        assert simulator.calls(operation="DescribeComplianceByConfigRule") == 0
    else:
        assert counted == {name: failing for name in RESOURCE_FAMILIES}
