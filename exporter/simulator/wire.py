"""The AWS wire protocols the simulator speaks: which service, operation, region and key a SigV4
request is for, JSON 1.1 replies for Config, query/XML replies for STS, and errors in each."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from exporter.simulator.errors import ApiError
from exporter.simulator.transport import Reply

SERVICES = ("config", "sts")
_TARGET_PREFIX = "StarlingDoveService."
_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
_STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request,"
    r"\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]+"
)


@dataclass(frozen=True)
class Request:
    """One call as the simulator routes, counts and scopes faults by it."""

    service: str
    operation: str
    region: str
    access_key: str
    account: str
    session_token: str | None
    body: bytes = b""
    form: Mapping[str, list[str]] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        """The protocol errors are written in: a mis-scoped request still gets Config's."""
        return "sts" if self.service == "sts" else "config"


def read_request(
    headers: Message, body: bytes, account_for: Callable[[str], str]
) -> tuple[Request, ApiError | None]:
    """The request, and the error AWS answers if it is not signed well enough to serve.

    Only the shape of the SigV4 header is checked: the simulator holds no secrets to verify
    signatures with.
    """
    authorization = headers.get("Authorization")
    scope = _AUTHORIZATION.fullmatch(authorization.strip()) if authorization else None
    form = parse_qs(body.decode("utf-8", "replace")) if not headers.get("X-Amz-Target") else {}
    service = scope.group(3) if scope else ("sts" if "Action" in form else "config")
    if service == "sts":
        operation = form.get("Action", [""])[0]
    else:
        operation = (headers.get("X-Amz-Target") or "").removeprefix(_TARGET_PREFIX)
    access_key, region = (scope.group(1), scope.group(2)) if scope else ("", "")
    request = Request(
        service=service,
        operation=operation,
        region=region,
        access_key=access_key,
        account=account_for(access_key) if scope else "",
        session_token=headers.get("X-Amz-Security-Token"),
        body=body,
        form=form,
    )
    error: ApiError | None = None
    if authorization is None:
        error = ApiError.of("missing_auth", request.protocol)
    elif scope is None:
        error = ApiError.of("incomplete_signature", request.protocol)
    elif service not in SERVICES:
        error = ApiError(
            400,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'config'.",
        )
    return request, error


def json_payload(body: bytes) -> dict[str, object]:
    """A JSON 1.1 request body, refused as AWS refuses what is not a JSON object."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "SerializationException", "Request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "SerializationException", "Request body must be a JSON object")
    return payload


def json_reply(status: int, document: object, request_id: str, error: str = "") -> Reply:
    """A Config answer."""
    headers: tuple[tuple[str, str], ...] = (("x-amzn-RequestId", request_id),)
    if error:
        headers += (("x-amzn-ErrorType", error),)
    body = json.dumps(document, separators=(",", ":")).encode()
    return Reply(status, _JSON_CONTENT_TYPE, body, headers)


def xml_reply(action: str, result: Mapping[str, object], request_id: str) -> Reply:
    """An STS answer."""
    body = (
        f'<{action}Response xmlns="{_STS_NAMESPACE}"><{action}Result>{_xml_elements(result)}'
        f"</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId>"
        f"</ResponseMetadata></{action}Response>"
    )
    return Reply(200, "text/xml", body.encode(), (("x-amzn-RequestId", request_id),))


def error_reply(protocol: str, error: ApiError, request_id: str) -> Reply:
    """`error` as `protocol` ("config" or "sts") spells errors."""
    if protocol != "sts":
        document = {"__type": error.code, "message": error.message}
        return json_reply(error.status, document, request_id, error.code)
    kind = "Receiver" if error.status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{_STS_NAMESPACE}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Reply(error.status, "text/xml", body.encode(), (("x-amzn-RequestId", request_id),))


def iso8601(epoch: float) -> str:
    """A timestamp as the query protocol writes it."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml_elements(fields: Mapping[str, object]) -> str:
    return "".join(
        f"<{tag}>{_xml_elements(value) if isinstance(value, Mapping) else escape(str(value))}"
        f"</{tag}>"
        for tag, value in fields.items()
    )
