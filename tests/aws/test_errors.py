"""exporter/aws/errors.py: every failure becomes one of a few bounded codes."""

from __future__ import annotations

import botocore.exceptions
import pytest

from exporter.aws.errors import (
    DeadlineExceededError,
    InvalidResponseError,
    assume_role_hint,
    error_code,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), "connection_error"),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), "timeout"),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), "timeout"),
        (DeadlineExceededError(), "timeout"),
        (InvalidResponseError(), "invalid_response"),
        (botocore.exceptions.NoCredentialsError(), "no_credentials"),
        (ValueError(), "other"),
    ],
)
def test_error_codes(error: BaseException, code: str) -> None:
    assert error_code(error) == code


def test_a_client_error_gives_its_aws_code() -> None:
    error = botocore.exceptions.ClientError({"Error": {"Code": "Throttling"}}, "Op")
    assert error_code(error) == "Throttling"


@pytest.mark.parametrize(
    ("message", "hint"),
    [
        (
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed"
            " by role chaining.",
            "role chaining",
        ),
        (
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            "MaxSessionDuration",
        ),
        ("1 validation error detected: Value 'x' at 'roleArn'", ""),
    ],
)
def test_assume_role_hints_say_what_to_do(message: str, hint: str) -> None:
    error = botocore.exceptions.ClientError(
        {"Error": {"Code": "ValidationError", "Message": message}}, "AssumeRole"
    )
    said = assume_role_hint(error)

    assert hint in said
    assert bool(said) == bool(hint)
    assert message not in said


def test_no_hint_for_other_errors() -> None:
    denied = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "role chaining"}}, "AssumeRole"
    )
    assert assume_role_hint(denied) == ""
    assert assume_role_hint(ValueError("role chaining")) == ""
