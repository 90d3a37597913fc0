"""Requests are refused the way AWS refuses them, from the constraints in botocore's model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.simulator.conftest import error_code, make_client, raw_post


@pytest.mark.parametrize(
    ("call", "kwargs", "code", "message"),
    [
        (
            "describe_conformance_pack_compliance",
            {},
            "ValidationException",
            "Value null at 'conformancePackName' failed to satisfy constraint:"
            " Member must not be null",
        ),
        (
            "describe_conformance_pack_compliance",
            {"ConformancePackName": "P", "Filters": {"ComplianceType": "MOSTLY"}},
            "ValidationException",
            "at 'filters.complianceType' failed to satisfy constraint: Member must satisfy enum"
            " value set: [COMPLIANT, NON_COMPLIANT, INSUFFICIENT_DATA]",
        ),
        (
            "describe_conformance_pack_compliance",
            {"ConformancePackName": "P", "Filters": {"ConfigRuleNames": ["r" * 65]}},
            "ValidationException",
            "Member must have length less than or equal to 64",
        ),
        (
            "list_conformance_pack_compliance_scores",
            {"Filters": {}},
            "ValidationException",
            "Value null at 'filters.conformancePackNames'",
        ),
        (
            "list_conformance_pack_compliance_scores",
            {"SortBy": "NAME"},
            "ValidationException",
            "enum value set: [SCORE]",
        ),
        (
            "get_conformance_pack_compliance_summary",
            {"ConformancePackNames": ["9-starts-with-a-digit"]},
            "ValidationException",
            "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*",
        ),
        (
            "list_conformance_pack_compliance_scores",
            {"Limit": "5"},
            "SerializationException",
            "Unexpected value type for Limit",
        ),
        (
            "describe_organization_conformance_pack_statuses",
            {"OrganizationConformancePackNames": ["x" * 129]},
            "ValidationException",
            "Member must have length less than or equal to 128",
        ),
    ],
)
def test_requests_breaking_the_model_are_refused(
    session, serve, call, kwargs: dict[str, Any], code, message
):
    client = make_client(session, serve(), parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        getattr(client, call)(**kwargs)

    assert error_code(excinfo) == code
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"ConfigRuleNames": "one-rule"}', "Unexpected value type for ConfigRuleNames"),
        (b'{"ComplianceTypes": [1]}', "Unexpected value type for ComplianceTypes"),
        (b"[]", "Request body must be a JSON object"),
        (b"{", "Request body is not valid JSON"),
    ],
)
def test_bodies_of_the_wrong_json_type_are_serialization_errors(serve, body, message):
    headers = {
        "X-Amz-Target": "StarlingDoveService.DescribeComplianceByConfigRule",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/config/aws4_request,"
        " SignedHeaders=host, Signature=abc123",
    }

    status, _, answer = raw_post(serve(), headers, body)

    assert status == 400
    assert json.loads(answer) == {"__type": "SerializationException", "message": message}
