"""What can go wrong talking to AWS, reduced to short bounded codes for logs and labels."""

from __future__ import annotations

import botocore.exceptions
import botocore.parsers

# Error codes that keep their own `outcome` value; anything else is counted as "other" so a
# misbehaving endpoint cannot blow up the counter's cardinality.
COMMON_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "IncompleteSignatureException",
        "InternalFailure",
        "InternalServerError",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "RegionDisabledException",
        "RequestExpired",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "SignatureDoesNotMatch",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "UnrecognizedClientException",
        "ValidationException",
    }
)


class InvalidResponseError(Exception):
    """AWS answered 2xx but the body lacked the result (botocore parses garbage as `{}`)."""


class UnlistedOperationError(Exception):
    """A code path tried an AWS operation no collector declares (a bug, caught in tests)."""


class DeadlineExceededError(Exception):
    """The scrape deadline passed before all pages were fetched."""


class UnknownAccountIdError(Exception):
    """An account's id could not be learned, so its reads can't be told from another's."""


# What AWS's ValidationError about an AssumeRole's DurationSeconds means, by a phrase of its
# message: the message itself is not logged, as AWS errors can quote the request back.
_DURATION_HINTS = (
    (
        "role chaining",
        "duration_seconds over 3600 is refused when the exporter's own credentials are a role"
        " (role chaining): lower it to 3600",
    ),
    (
        "MaxSessionDuration",
        "duration_seconds is over the role's maximum session duration: lower it, or raise"
        " the role's MaxSessionDuration",
    ),
)


def assume_role_hint(error: BaseException) -> str:
    """What to do about an AssumeRole failure, when AWS's answer says; '' otherwise."""
    if not isinstance(error, botocore.exceptions.ClientError):
        return ""
    details = error.response.get("Error", {})
    if details.get("Code") != "ValidationError":
        return ""
    message = str(details.get("Message", ""))
    return next((hint for phrase, hint in _DURATION_HINTS if phrase in message), "")


def error_code(error: BaseException) -> str:
    """A short, bounded code for logs and the `outcome` label."""
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or "other"
    if isinstance(
        error,
        DeadlineExceededError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectTimeoutError,
    ):
        return "timeout"
    if isinstance(
        error,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionClosedError
        | botocore.exceptions.HTTPClientError
        | ConnectionError,
    ):
        return "connection_error"
    if isinstance(error, InvalidResponseError | botocore.parsers.ResponseParserError):
        return "invalid_response"
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return "no_credentials"
    if isinstance(error, UnknownAccountIdError):
        return "unknown_account_id"
    return "other"
