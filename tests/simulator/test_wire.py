"""Requests without a proper SigV4 header or for unknown operations get AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.simulator.conftest import OPERATION, error_code, make_client, raw_post


def test_missing_and_malformed_authorization_get_the_real_errors(serve):
    simulator = serve()
    json_headers = {
        "X-Amz-Target": f"StarlingDoveService.{OPERATION}",
        "Content-Type": "application/x-amz-json-1.1",
    }
    malformed = {**json_headers, "Authorization": "AWS4-HMAC-SHA256 Credential=AKID"}
    wrong_service = {
        **json_headers,
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request,"
        " SignedHeaders=host, Signature=abc123",
    }
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    cases = [
        (json_headers, b"{}", 400, "MissingAuthenticationTokenException"),
        (malformed, b"{}", 400, "IncompleteSignatureException"),
        (wrong_service, b"{}", 400, "InvalidSignatureException"),
    ]
    for headers, body, status, code in cases:
        got_status, got_headers, got_body = raw_post(simulator, headers, body)
        assert (got_status, json.loads(got_body)["__type"]) == (status, code)
        assert got_headers["x-amzn-ErrorType"] == code
        assert got_headers["x-amzn-RequestId"]
    status, headers, body = raw_post(
        simulator, form, b"Action=GetCallerIdentity&Version=2011-06-15"
    )
    assert status == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in body
    assert headers["x-amzn-RequestId"]
    assert simulator.calls() == 4


def test_unknown_operations_are_rejected(session, serve):
    simulator = serve()

    with pytest.raises(ClientError) as config_error:
        make_client(session, simulator).describe_conformance_packs()
    with pytest.raises(ClientError) as sts_error:
        make_client(session, simulator, service="sts").get_session_token()

    assert error_code(config_error) == "UnknownOperationException"
    assert error_code(sts_error) == "InvalidAction"
