"""AWS error replies as data, so every operation and fault raises the code, status and text the
real services send and botocore maps them to the same exceptions."""

from __future__ import annotations

# Error replies per simulator condition and service: (status, code, message template).
ERRORS: dict[str, dict[str, tuple[int, str, str]]] = {
    "missing_auth": {
        "config": (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "sts": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
    },
    "incomplete_signature": {
        "config": (
            400,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'"
            " parameters of a SigV4 credential scope.",
        ),
        "sts": (
            400,
            "IncompleteSignature",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'"
            " parameters of a SigV4 credential scope.",
        ),
    },
    "unknown_operation": {
        "config": (400, "UnknownOperationException", "Unknown operation {operation}"),
        "sts": (
            400,
            "InvalidAction",
            "Could not find operation {operation} for version 2011-06-15",
        ),
    },
    "throttle": {
        "config": (400, "ThrottlingException", "Rate exceeded"),
        "sts": (400, "Throttling", "Rate exceeded"),
    },
    "access_denied": {
        "config": (
            400,
            "AccessDeniedException",
            "User: {caller} is not authorized to perform: config:{operation}",
        ),
        "sts": (
            403,
            "AccessDenied",
            "User: {caller} is not authorized to perform: sts:{operation}",
        ),
    },
    "expired_token": {
        "config": (
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        "sts": (400, "ExpiredToken", "The security token included in the request is expired"),
    },
    "unrecognized_client": {
        "config": (
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        "sts": (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
    },
    "internal_error": {
        "config": (500, "InternalFailure", "An internal error occurred."),
        "sts": (500, "InternalFailure", "An internal error occurred."),
    },
    "unavailable": {
        "config": (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
        "sts": (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
    },
}


class ApiError(Exception):
    """An AWS error reply; raised anywhere below the dispatcher and rendered once, there."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def of(cls, condition: str, service: str, **details: str) -> ApiError:
        """The error `service` answers for `condition`, its message filled from `details`."""
        status, code, template = ERRORS[condition][service]
        return cls(status, code, template.format(**details))


def client_error(code: str, message: str) -> ApiError:
    """A 400 with a modelled exception code, the way Config reports missing things."""
    return ApiError(400, code, message)


def validation_error(value: object, member: str, constraint: str) -> ApiError:
    """The framework's ValidationException, worded as AWS words it."""
    shown = "null" if value is None else f"'{value}'"
    return client_error(
        "ValidationException",
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy"
        f" constraint: {constraint}",
    )


def serialization_error(member: str) -> ApiError:
    """What AWS answers when a JSON member has the wrong type."""
    return client_error("SerializationException", f"Unexpected value type for {member}")
