"""The remediation operations as boto3 sees them (every answer checked against the model's
output shapes): configurations of at most 25 named rules, executions paged by Limit, the
error for a rule without a remediation, and the scenario checks."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    RemediationExecution,
    Scenario,
    SimulatedPack,
    SimulatedRemediation,
    SimulatedRule,
    pack_ids,
)
from tests.simulator.conftest import NOW, error_code, make_client

REGION = "us-east-1"
FAILURE = "AccessDenied"


def executions(count: int, state: str = "SUCCEEDED") -> tuple[RemediationExecution, ...]:
    error = FAILURE if state == "FAILED" else ""
    return tuple(
        RemediationExecution(f"bucket-{index:03d}", state, error) for index in range(count)
    )


FIXING = SimulatedRemediation("AWS-DisableS3BucketPublicReadWrite", executions=executions(150))
MANUAL = SimulatedRemediation(
    "AWS-EnableS3BucketEncryption", automatic=False, executions=executions(2, "FAILED")
)


def served(rule: str) -> str:
    return pack_ids(DEFAULT_ACCOUNT, REGION, "P").rule_name(rule)


def scenario(rule_count: int = 3) -> Scenario:
    rules = (
        SimulatedRule("s3-public", "NON_COMPLIANT", 150, remediation=FIXING),
        SimulatedRule("s3-encrypted", "NON_COMPLIANT", 2, remediation=MANUAL),
        *(SimulatedRule(f"plain-{index:02d}") for index in range(rule_count - 2)),
    )
    pack = SimulatedPack("P", "CREATE_COMPLETE", requested_at=NOW - 500, rules=rules)
    return Scenario(packs={(DEFAULT_ACCOUNT, REGION): [pack]})


def all_pages(client: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Every execution by following NextToken by hand, and the calls it took."""
    items, calls, token = [], 0, None
    while True:
        page = client.describe_remediation_execution_status(
            **kwargs, **({"NextToken": token} if token else {})
        )
        items += page["RemediationExecutionStatuses"]
        calls += 1
        token = page.get("NextToken")
        if not token:
            return items, calls


def test_configurations_of_named_rules_only_where_there_is_one(session, serve) -> None:
    client = make_client(session, serve(scenario()))

    answer = client.describe_remediation_configurations(
        ConfigRuleNames=[served("plain-00"), served("s3-encrypted"), served("s3-public"), "nope"]
    )

    found = {c["ConfigRuleName"]: c for c in answer["RemediationConfigurations"]}
    assert sorted(found) == sorted([served("s3-encrypted"), served("s3-public")])
    assert found[served("s3-public")]["TargetId"] == FIXING.target_id
    assert found[served("s3-public")]["Automatic"] is True
    assert found[served("s3-encrypted")]["Automatic"] is False
    assert found[served("s3-public")]["TargetType"] == "SSM_DOCUMENT"


def test_more_than_25_names_are_refused(session, serve) -> None:
    simulator = serve(scenario(30))
    unvalidated = make_client(session, simulator, parameter_validation=False)
    names = [served(f"plain-{index:02d}") for index in range(26)]

    with pytest.raises(ClientError) as too_many:
        unvalidated.describe_remediation_configurations(ConfigRuleNames=names)
    answer = unvalidated.describe_remediation_configurations(ConfigRuleNames=names[:25])

    assert error_code(too_many) == "ValidationException"
    assert "less than or equal to 25" in str(too_many.value)
    assert answer["RemediationConfigurations"] == []


def test_executions_page_by_limit(session, serve) -> None:
    simulator = serve(scenario())
    client = make_client(session, simulator)

    found, calls = all_pages(client, ConfigRuleName=served("s3-public"), Limit=100)
    small, small_calls = all_pages(client, ConfigRuleName=served("s3-encrypted"), Limit=1)

    assert (len(found), calls) == (150, 2)
    assert [e["ResourceKey"]["resourceId"] for e in found] == sorted(
        e.resource_id for e in FIXING.executions
    )
    assert {e["State"] for e in found} == {"SUCCEEDED"}
    assert (len(small), small_calls) == (2, 2)
    [step] = small[0]["StepDetails"]
    assert (small[0]["State"], step["State"], step["ErrorMessage"]) == (
        "FAILED",
        "FAILED",
        FAILURE,
    )


def test_a_limit_beyond_the_model_is_refused(session, serve) -> None:
    unvalidated = make_client(session, serve(scenario()), parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        unvalidated.describe_remediation_execution_status(
            ConfigRuleName=served("s3-public"), Limit=101
        )

    assert error_code(excinfo) == "InvalidLimitException"


def test_resource_keys_select_executions(session, serve) -> None:
    client = make_client(session, serve(scenario()))

    answer = client.describe_remediation_execution_status(
        ConfigRuleName=served("s3-public"),
        ResourceKeys=[{"resourceType": "AWS::S3::Bucket", "resourceId": "bucket-007"}],
    )

    assert [e["ResourceKey"]["resourceId"] for e in answer["RemediationExecutionStatuses"]] == [
        "bucket-007"
    ]


@pytest.mark.parametrize("rule", ["plain-00", "not-a-rule"])
def test_a_rule_without_a_remediation_is_an_error(session, serve, rule: str) -> None:
    client = make_client(session, serve(scenario()))

    with pytest.raises(ClientError) as excinfo:
        client.describe_remediation_execution_status(ConfigRuleName=served(rule))

    assert error_code(excinfo) == "NoSuchRemediationConfigurationException"


def test_a_token_from_another_rule_is_refused(session, serve) -> None:
    client = make_client(session, serve(scenario()))
    first = client.describe_remediation_execution_status(
        ConfigRuleName=served("s3-public"), Limit=10
    )

    with pytest.raises(ClientError) as excinfo:
        client.describe_remediation_execution_status(
            ConfigRuleName=served("s3-encrypted"), NextToken=first["NextToken"]
        )

    assert error_code(excinfo) == "InvalidNextTokenException"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RemediationExecution("b", "DONE"), "is not one of"),
        (lambda: RemediationExecution("b", "FAILED"), "FAILED only"),
        (lambda: RemediationExecution("b", "SUCCEEDED", "oops"), "FAILED only"),
        (lambda: SimulatedRemediation(""), "TargetId"),
        (lambda: SimulatedRemediation("doc", resource_type="AWS::Nope"), "resource type"),
        (
            lambda: SimulatedRemediation(
                "doc", executions=(RemediationExecution("b"), RemediationExecution("b"))
            ),
            "one execution per resource",
        ),
    ],
)
def test_remediations_aws_could_not_report_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
