"""exporter/aws/remediation.py with botocore's Stubber, which checks every request against the
model: rule names 25 a call, execution pages of 100, remediations deleted between the reads."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.errors import InvalidResponseError
from exporter.aws.remediation import fetch_configurations, fetch_remediations
from exporter.deadline import Deadline

REGION = "us-east-1"
CONFIGURATIONS = "describe_remediation_configurations"
EXECUTIONS = "describe_remediation_execution_status"


def configuration(rule: str, automatic: bool = True) -> dict[str, Any]:
    return {
        "ConfigRuleName": rule,
        "TargetType": "SSM_DOCUMENT",
        "TargetId": f"AWSConfigRemediation-{rule}",
        "Automatic": automatic,
    }


def execution(resource: str, state: str) -> dict[str, Any]:
    return {
        "ResourceKey": {"resourceType": "AWS::S3::Bucket", "resourceId": resource},
        "State": state,
        "InvocationTime": datetime.fromtimestamp(1_700_000_000, timezone.utc),
    }


def test_names_are_asked_25_a_call_and_only_rules_with_a_remediation_come_back(
    account: Account, stubbers: dict[str, Stubber]
) -> None:
    names = [f"rule-{index:02d}" for index in range(51)]
    stub = stubbers[REGION]
    for start, found in ((0, ["rule-03"]), (25, []), (50, ["rule-50"])):
        stub.add_response(
            CONFIGURATIONS,
            {"RemediationConfigurations": [configuration(name) for name in found]},
            {"ConfigRuleNames": names[start : start + 25]},
        )

    # Asked out of order and twice: sorted and once each, so 51 names cost 3 calls.
    configured = fetch_configurations(
        account.clients[REGION], [*reversed(names), "rule-03"], Deadline.after(10)
    )

    stub.assert_no_pending_responses()
    assert {rule: [c["TargetId"] for c in found] for rule, found in configured.items()} == {
        "rule-03": ["AWSConfigRemediation-rule-03"],
        "rule-50": ["AWSConfigRemediation-rule-50"],
    }


def test_no_rules_no_calls(account: Account, stubbers: dict[str, Stubber]) -> None:
    assert fetch_remediations(account.clients[REGION], [], Deadline.after(10)) == {}
    stubbers[REGION].assert_no_pending_responses()


def test_executions_are_read_100_a_page_for_each_rule_with_a_remediation(
    account: Account, stubbers: dict[str, Stubber]
) -> None:
    stub = stubbers[REGION]
    stub.add_response(
        CONFIGURATIONS,
        {"RemediationConfigurations": [configuration("a"), configuration("b", False)]},
        {"ConfigRuleNames": ["a", "b", "c"]},
    )
    first = [execution(f"bucket-{index:03d}", "FAILED") for index in range(100)]
    stub.add_response(
        EXECUTIONS,
        {"RemediationExecutionStatuses": first, "NextToken": "page-2"},
        {"ConfigRuleName": "a", "Limit": 100},
    )
    stub.add_response(
        EXECUTIONS,
        {"RemediationExecutionStatuses": [execution("bucket-100", "SOMEDAY")]},
        {"ConfigRuleName": "a", "Limit": 100, "NextToken": "page-2"},
    )
    stub.add_response(
        EXECUTIONS, {"RemediationExecutionStatuses": []}, {"ConfigRuleName": "b", "Limit": 100}
    )

    found = fetch_remediations(account.clients[REGION], ["c", "b", "a"], Deadline.after(10))

    stub.assert_no_pending_responses()
    assert sorted(found) == ["a", "b"]
    assert len(found["a"].executions) == 101
    # A state the model does not know is passed on as AWS gave it.
    assert found["a"].executions[-1]["State"] == "SOMEDAY"
    assert found["b"].configurations[0]["Automatic"] is False
    assert found["b"].executions == []


def test_a_remediation_deleted_between_the_reads_has_no_executions(
    account: Account, stubbers: dict[str, Stubber]
) -> None:
    stub = stubbers[REGION]
    stub.add_response(
        CONFIGURATIONS,
        {"RemediationConfigurations": [configuration("gone"), configuration("kept")]},
        {"ConfigRuleNames": ["gone", "kept"]},
    )
    stub.add_client_error(
        EXECUTIONS,
        "NoSuchRemediationConfigurationException",
        expected_params={"ConfigRuleName": "gone", "Limit": 100},
    )
    stub.add_response(
        EXECUTIONS,
        {"RemediationExecutionStatuses": [execution("bucket", "SUCCEEDED")]},
        {"ConfigRuleName": "kept", "Limit": 100},
    )

    found = fetch_remediations(account.clients[REGION], ["gone", "kept"], Deadline.after(10))

    assert found["gone"].executions == []
    assert [e["State"] for e in found["kept"].executions] == ["SUCCEEDED"]


def test_an_answer_without_configurations_is_an_error(
    account: Account, stubbers: dict[str, Stubber]
) -> None:
    stubbers[REGION].add_response(CONFIGURATIONS, {}, {"ConfigRuleNames": ["a"]})

    with pytest.raises(InvalidResponseError, match="RemediationConfigurations"):
        fetch_remediations(account.clients[REGION], ["a"], Deadline.after(10))


def test_other_errors_fail_the_read(account: Account, stubbers: dict[str, Stubber]) -> None:
    stub = stubbers[REGION]
    stub.add_response(
        CONFIGURATIONS,
        {"RemediationConfigurations": [configuration("a")]},
        {"ConfigRuleNames": ["a"]},
    )
    stub.add_client_error(EXECUTIONS, "AccessDeniedException", http_status_code=400)

    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        fetch_remediations(account.clients[REGION], ["a"], Deadline.after(10))
