"""exporter/collectors/remediation.py: remediation samples from hand-built answers, in each
`compliance.rule_series` mode, and the compliance collector that serves them (Stubber)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.remediation import RuleRemediation
from exporter.aws.targets import Target
from exporter.collectors.compliance import ComplianceCollector
from exporter.collectors.remediation import (
    EXECUTIONS,
    REMEDIATION_HELP,
    RULE_EXECUTIONS,
    RULE_INFO,
    remediation_samples,
)
from exporter.config import ComplianceConfig, Config
from exporter.config_types import RuleSeries
from exporter.deadline import Deadline
from exporter.metrics import COMPLIANCE_HELP, RESOURCE_FAMILIES, RULE_COMPLIANCE
from tests.collectors.test_compliance import (
    rule,
    stub_listed,
    stub_rules,
    stub_scores,
    stub_summary,
)
from tests.conftest import ACCOUNT, make_account

MODEL = botocore.session.get_session().get_service_model("config")
STATES: tuple[str, ...] = tuple(
    MODEL.shape_for("RemediationExecutionState").enum  # type: ignore[attr-defined]
)
TARGET = {"account_id": ACCOUNT, "region": "us-east-1"}


def remediation(*states: str, target: str = "AWS-Fix", automatic: bool = True) -> RuleRemediation:
    configuration = {"ConfigRuleName": "x", "TargetId": target, "Automatic": automatic}
    executions = [
        {"ResourceKey": {"resourceId": f"r{index}"}, "State": state}
        for index, state in enumerate(states)
    ]
    return RuleRemediation([configuration], executions)


PACK_RULES = {
    "cis": [rule("s3-public", "NON_COMPLIANT"), rule("ebs-encrypted"), rule("no-fix")],
    "hipaa": [rule("rds-public")],
    # No rule with a remediation: no remediation series at all.
    "plain": [rule("plain-rule")],
}
REMEDIATIONS = {
    "s3-public": remediation("FAILED", "FAILED", "SUCCEEDED"),
    "ebs-encrypted": remediation("SUCCEEDED", "QUEUED", target="AWS-Encrypt", automatic=False),
    "rds-public": remediation("IN_PROGRESS"),
}


def values(samples: list[Any]) -> dict[tuple[str, ...], float]:
    return {
        tuple(value for key, value in s.labels.items() if key not in TARGET): s.value
        for s in samples
    }


def samples_for(rule_series: RuleSeries) -> dict[str, list[Any]]:
    return remediation_samples(ACCOUNT, "us-east-1", PACK_RULES, REMEDIATIONS, STATES, rule_series)


def test_the_states_are_the_models() -> None:
    assert STATES == ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "UNKNOWN")


@pytest.mark.parametrize("mode", ["all", "noncompliant", "none"])
def test_packs_count_every_state_in_every_mode(mode: RuleSeries) -> None:
    counts = values(samples_for(mode)[EXECUTIONS])

    assert counts == {
        **{("cis", state): 0.0 for state in STATES},
        ("cis", "FAILED"): 2.0,
        ("cis", "SUCCEEDED"): 2.0,
        ("cis", "QUEUED"): 1.0,
        **{("hipaa", state): 0.0 for state in STATES},
        ("hipaa", "IN_PROGRESS"): 1.0,
    }


def test_all_serves_every_rule_with_a_remediation() -> None:
    samples = samples_for("all")

    rule_counts = values(samples[RULE_EXECUTIONS])
    assert len(rule_counts) == 3 * len(STATES)
    assert rule_counts[("cis", "s3-public", "FAILED")] == 2.0
    assert rule_counts[("cis", "ebs-encrypted", "FAILED")] == 0.0
    assert rule_counts[("hipaa", "rds-public", "IN_PROGRESS")] == 1.0
    assert not any(labels[1] == "no-fix" for labels in rule_counts)
    assert values(samples[RULE_INFO]) == {
        ("cis", "s3-public", "AWS-Fix", "true"): 1.0,
        ("cis", "ebs-encrypted", "AWS-Encrypt", "false"): 1.0,
        ("hipaa", "rds-public", "AWS-Fix", "true"): 1.0,
    }


def test_noncompliant_serves_the_failed_count_of_rules_that_failed() -> None:
    samples = samples_for("noncompliant")

    assert values(samples[RULE_EXECUTIONS]) == {("cis", "s3-public", "FAILED"): 2.0}
    assert values(samples[RULE_INFO]) == {("cis", "s3-public", "AWS-Fix", "true"): 1.0}


def test_none_serves_no_rule_series() -> None:
    samples = samples_for("none")

    assert samples[RULE_EXECUTIONS] == []
    assert samples[RULE_INFO] == []


def test_unknown_and_missing_states_are_counted() -> None:
    found = remediation("SOMEDAY", "FAILED")
    found.executions[1].pop("State")  # type: ignore[attr-defined]
    samples = remediation_samples(ACCOUNT, "r", {"p": [rule("a")]}, {"a": found}, STATES)

    counts = values(samples[EXECUTIONS])
    assert counts[("p", "SOMEDAY")] == 1.0
    assert counts[("p", "UNKNOWN")] == 1.0
    assert counts[("p", "FAILED")] == 0.0
    assert len(counts) == len(STATES) + 1


def test_a_rule_with_two_configurations_of_one_target_has_one_info() -> None:
    doubled = RuleRemediation(
        [{"TargetId": "AWS-Fix", "Automatic": True}, {"TargetId": "AWS-Fix", "Automatic": True}],
        [],
    )
    samples = remediation_samples(ACCOUNT, "r", {"p": [rule("a")]}, {"a": doubled}, STATES)

    assert len(samples[RULE_INFO]) == 1


@pytest.fixture
def account() -> Account:
    account = make_account(("us-east-1",))
    account.account_id = ACCOUNT
    return account


@pytest.fixture
def stub(account: Account) -> Iterator[Stubber]:
    with Stubber(account.clients["us-east-1"]) as stubber:
        yield stubber


def collector(**compliance: Any) -> ComplianceCollector:
    return ComplianceCollector(Config(compliance=ComplianceConfig(**compliance)), MODEL)


def stub_compliance_read(stub: Stubber) -> None:
    stub_listed(stub, ["cis"])
    stub_scores(stub, ["cis"])
    stub_summary(stub, {"cis": "NON_COMPLIANT"})
    stub_rules(stub, "cis", [rule("ok"), rule("s3-public", "NON_COMPLIANT")])


def test_the_compliance_read_serves_remediations(account, stub) -> None:
    stub_compliance_read(stub)
    stub.add_response(
        "describe_remediation_configurations",
        {
            "RemediationConfigurations": [
                {
                    "ConfigRuleName": "s3-public",
                    "TargetType": "SSM_DOCUMENT",
                    "TargetId": "AWS-Fix",
                    "Automatic": True,
                }
            ]
        },
        {"ConfigRuleNames": ["ok", "s3-public"]},
    )
    stub.add_response(
        "describe_remediation_execution_status",
        {"RemediationExecutionStatuses": [{"State": "FAILED"}]},
        {"ConfigRuleName": "s3-public", "Limit": 100},
    )
    reader = collector(remediation=True)

    samples = reader.read(Target(account, "us-east-1"), Deadline.after(10))

    stub.assert_no_pending_responses()
    # The remediation families come after the compliance ones, in the contract's order.
    assert list(reader.help_texts) == [
        *(name for name in COMPLIANCE_HELP if name not in RESOURCE_FAMILIES),
        *REMEDIATION_HELP,
    ]
    assert values(list(samples[EXECUTIONS]))[("cis", "FAILED")] == 1.0
    assert values(list(samples[RULE_INFO])) == {("cis", "s3-public", "AWS-Fix", "true"): 1.0}


def test_off_by_default_no_calls_and_no_families(account, stub) -> None:
    stub_compliance_read(stub)  # a remediation call would find no stubbed answer and fail
    reader = collector()

    samples = reader.read(Target(account, "us-east-1"), Deadline.after(10))

    stub.assert_no_pending_responses()
    assert not set(REMEDIATION_HELP) & set(reader.help_texts)
    assert not set(REMEDIATION_HELP) & set(samples)


def test_rule_series_none_keeps_only_the_pack_family() -> None:
    help_texts = collector(remediation=True, rule_series="none").help_texts

    assert EXECUTIONS in help_texts
    assert RULE_EXECUTIONS not in help_texts
    assert RULE_INFO not in help_texts
    assert RULE_COMPLIANCE not in help_texts
