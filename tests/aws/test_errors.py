"""exporter/aws/errors.py: every failure becomes one of a few bounded codes."""

from __future__ import annotations

import botocore.exceptions
import pytest

from exporter.aws.errors import DeadlineExceededError, InvalidResponseError, error_code


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
