"""The compliance collector as a user runs it: the exporter process against the simulator's
four compliance operations over real HTTP, beside the pack-status read it must never disturb.
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


def pack(name: str, *rules: SimulatedRule, score: float = 50.0) -> SimulatedPack:
    return SimulatedPack(
        name, "CREATE_COMPLETE", requested_at=NOW - 600, score=score, scored_at=NOW, rules=rules
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
        ),
    ]
    with ConfigSimulator(Scenario({(ACCOUNT, r): packs for r in REGIONS})) as sim:
        yield sim


def start(
    simulator: ConfigSimulator, exporter_factory, tmp_path, compliance: str
) -> ExporterProcess:
    config = tmp_path / "config.yml"
    config.write_text(f"regions: [{', '.join(REGIONS)}]\ncompliance: {compliance}\n")
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

    samples = scrape_until(process, lambda s: len(s.get(COMPLIANCE, ())) == 2 * 2 * 3)
    simulator.reset_calls()
    again = parse_exposition(process.scrape())

    verdicts = {
        (labels["region"], labels["conformance_pack"]): labels["compliance"]
        for labels, value in samples[COMPLIANCE]
        if value == 1
    }
    assert verdicts == {
        (r, p): v for r in REGIONS for p, v in (("clean", "COMPLIANT"), ("broken", "NON_COMPLIANT"))
    }
    rules = {
        (labels["conformance_pack"], labels["compliance"]): value
        for labels, value in samples["aws_config_conformance_pack_rules"]
        if labels["region"] == "us-east-1"
    }
    assert rules[("broken", "NON_COMPLIANT")] == 2
    assert rules[("broken", "INSUFFICIENT_DATA")] == 0
    counts = {
        labels["config_rule"].split("-conformance-pack-")[0]: value
        for labels, value in samples["aws_config_conformance_pack_rule_noncompliant_resources"]
        if labels["region"] == "us-east-1"
    }
    assert counts == {"s3-public-read": 100.0, "ebs-encrypted": 3.0}
    scores = {
        labels["conformance_pack"]: value
        for labels, value in samples["aws_config_conformance_pack_compliance_score_ratio"]
    }
    assert scores == {"clean": 1.0, "broken": 0.5}
    # Within the interval a scrape makes no compliance call and serves the same data.
    assert again[COMPLIANCE] == samples[COMPLIANCE]
    assert simulator.calls(operation="ListConformancePackComplianceScores") == 0
    assert simulator.calls(operation="DescribeConformancePackStatus") == len(REGIONS)


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
