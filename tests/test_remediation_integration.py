"""`compliance.remediation` as a user runs it: the exporter process, started from a config file,
against the simulator's remediation operations over real HTTP, in each `compliance.rule_series`
mode, and off by default (no call, no family).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from exporter.simulator import (
    ConfigSimulator,
    RemediationExecution,
    Scenario,
    SimulatedPack,
    SimulatedRemediation,
    SimulatedRule,
    pack_ids,
)
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

NOW = time.time()
REGION = "us-east-1"
EXECUTIONS = "aws_config_conformance_pack_remediation_executions"
RULE_EXECUTIONS = "aws_config_conformance_pack_rule_remediation_executions"
RULE_INFO = "aws_config_conformance_pack_rule_remediation_info"
FAMILIES = (EXECUTIONS, RULE_EXECUTIONS, RULE_INFO)
OPERATIONS = ("DescribeRemediationConfigurations", "DescribeRemediationExecutionStatus")
STATES: tuple[str, ...] = tuple(
    botocore.session.get_session()
    .get_service_model("config")
    .shape_for("RemediationExecutionState")
    .enum  # type: ignore[attr-defined]
)
BROKEN = SimulatedRemediation(
    "AWS-DisableS3BucketPublicReadWrite",
    executions=(
        RemediationExecution("bucket-a", "FAILED", "AccessDenied"),
        RemediationExecution("bucket-b", "FAILED", "AccessDenied"),
        RemediationExecution("bucket-c", "SUCCEEDED"),
    ),
)
MANUAL = SimulatedRemediation(
    "AWS-EnableS3BucketEncryption",
    automatic=False,
    executions=(RemediationExecution("bucket-d", "IN_PROGRESS"),),
)


def served(pack: str, rule: str) -> str:
    return pack_ids(ACCOUNT, REGION, pack).rule_name(rule)


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    def pack(name: str, *rules: SimulatedRule) -> SimulatedPack:
        return SimulatedPack(name, "CREATE_COMPLETE", requested_at=NOW - 600, rules=rules)

    packs = [
        pack(
            "cis",
            SimulatedRule("s3-public", "NON_COMPLIANT", 2, remediation=BROKEN),
            SimulatedRule("s3-encrypted", remediation=MANUAL),
            SimulatedRule("iam-root-key"),
        ),
        pack("clean", SimulatedRule("s3-versioning")),
    ]
    with ConfigSimulator(Scenario({(ACCOUNT, REGION): packs})) as sim:
        yield sim


def start(
    simulator: ConfigSimulator, exporter_factory: Any, tmp_path: Path, compliance: str
) -> ExporterProcess:
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{REGION}]\nmin_interval_seconds: 0\ncompliance: {compliance}\n"
        "pipeline: {enabled: false}\n"
    )
    process: ExporterProcess = exporter_factory([f"--config.file={config}"], aws_env(simulator.url))
    return process


def scrape_until(process: ExporterProcess, family: str) -> tuple[str, Any]:
    """The first scrape with `family`: the background compliance read has been served."""
    text: str = wait_for(
        lambda: (body := process.scrape()) and family in parse_exposition(body) and body,
        20,
        f"{family} in a scrape",
        interval=0.1,
    )
    return text, parse_exposition(text)


KEYS = {
    EXECUTIONS: ("conformance_pack", "state"),
    RULE_EXECUTIONS: ("conformance_pack", "config_rule", "state"),
    RULE_INFO: ("conformance_pack", "config_rule", "target_id", "automatic"),
}


def series(samples: Any, family: str) -> dict[tuple[str, ...], float]:
    """`family`'s values by its own labels, in the contract's order; every sample carries
    this account and region."""
    found = {}
    for labels, value in samples.get(family, []):
        assert (labels.pop("account_id"), labels.pop("region")) == (ACCOUNT, REGION)
        assert set(labels) == set(KEYS[family])
        found[tuple(labels[key] for key in KEYS[family])] = value
    return found


PACK_COUNTS = {
    **{("cis", state): 0.0 for state in STATES},
    ("cis", "FAILED"): 2.0,
    ("cis", "SUCCEEDED"): 1.0,
    ("cis", "IN_PROGRESS"): 1.0,
}


def test_every_state_per_pack_and_rule_with_rule_series_all(
    simulator, exporter_factory, tmp_path
) -> None:
    process = start(simulator, exporter_factory, tmp_path, "{remediation: true}")

    text, samples = scrape_until(process, EXECUTIONS)

    assert STATES == ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "UNKNOWN")
    assert series(samples, EXECUTIONS) == PACK_COUNTS
    rule_counts = series(samples, RULE_EXECUTIONS)
    public, encrypted = served("cis", "s3-public"), served("cis", "s3-encrypted")
    assert rule_counts == {
        **{("cis", public, state): 0.0 for state in STATES},
        **{("cis", encrypted, state): 0.0 for state in STATES},
        ("cis", public, "FAILED"): 2.0,
        ("cis", public, "SUCCEEDED"): 1.0,
        ("cis", encrypted, "IN_PROGRESS"): 1.0,
    }
    assert series(samples, RULE_INFO) == {
        ("cis", public, BROKEN.target_id, "true"): 1.0,
        ("cis", encrypted, MANUAL.target_id, "false"): 1.0,
    }
    success = {
        labels["collector"]: value
        for labels, value in samples["aws_config_exporter_scrape_success"]
    }
    assert success["compliance"] == 1.0
    # One configuration call for the 4 rules, one execution call per rule with a remediation.
    assert [simulator.calls(operation=op) for op in OPERATIONS] == [1, 2]
    assert "# TYPE aws_config_conformance_pack_rule_remediation_info gauge" in text


def test_noncompliant_keeps_the_failed_count_of_failing_rules(
    simulator, exporter_factory, tmp_path
) -> None:
    process = start(
        simulator, exporter_factory, tmp_path, "{remediation: true, rule_series: noncompliant}"
    )

    _, samples = scrape_until(process, EXECUTIONS)

    public = served("cis", "s3-public")
    assert series(samples, EXECUTIONS) == PACK_COUNTS
    assert series(samples, RULE_EXECUTIONS) == {("cis", public, "FAILED"): 2.0}
    assert series(samples, RULE_INFO) == {("cis", public, BROKEN.target_id, "true"): 1.0}


def test_none_keeps_only_the_pack_counts(simulator, exporter_factory, tmp_path) -> None:
    process = start(simulator, exporter_factory, tmp_path, "{remediation: true, rule_series: none}")

    text, samples = scrape_until(process, EXECUTIONS)

    assert series(samples, EXECUTIONS) == PACK_COUNTS
    assert RULE_EXECUTIONS not in text
    assert RULE_INFO not in text
    # The per-pack counts still need every rule's executions.
    assert [simulator.calls(operation=op) for op in OPERATIONS] == [1, 2]


def test_off_by_default_no_call_and_no_family(simulator, exporter_factory, tmp_path) -> None:
    process = start(simulator, exporter_factory, tmp_path, "{interval_seconds: 300}")

    text, _ = scrape_until(process, "aws_config_conformance_pack_rule_compliance")

    assert not [family for family in FAMILIES if family in text]
    assert [simulator.calls(operation=op) for op in OPERATIONS] == [0, 0]
