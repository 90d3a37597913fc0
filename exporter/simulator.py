"""AWS Config and STS simulator speaking the real wire protocols on loopback.

The demo mode, the integration tests and the benchmarks need an AWS that is always reachable,
deterministic and able to misbehave on demand. Real boto3 clients talk to it unchanged through
``endpoint_url``, so everything from SigV4 signing to botocore's response parsers is exercised.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import functools
import hashlib
import hmac
import json
import math
import re
import secrets
import signal
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Literal, NamedTuple, get_args
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEMO_REGIONS",
    "FAULT_KINDS",
    "AssumeRoleCall",
    "ConfigSimulator",
    "Fault",
    "FaultKind",
    "PackIds",
    "PackState",
    "PackType",
    "Scenario",
    "SimulatedPack",
    "Transition",
    "demo_scenario",
    "generated_scenario",
    "main",
    "pack_ids",
]

PackState = Literal[
    "CREATE_IN_PROGRESS",
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
]
PackType = Literal["CUSTOM", "MANAGED"]
FaultKind = Literal[
    "latency",
    "throttle",
    "access_denied",
    "expired_token",
    "unrecognized_client",
    "internal_error",
    "unavailable",
    "garbage",
    "truncated",
    "empty_object",
    "reset",
    "slow_body",
    "hang",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

DEFAULT_ACCOUNT = "123456789012"
DEMO_REGIONS = ("us-east-1", "eu-west-1")

_SERVICES = ("config", "sts")
_PACK_TYPES: tuple[PackType, ...] = get_args(PackType)
_TARGET_PREFIX = "StarlingDoveService."
_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
_STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_MAX_PAGE_SIZE = 20
_MAX_PACK_NAMES = 25
_PACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request,"
    r"\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]+"
)
_GARBAGE = (
    b"<!DOCTYPE html><html><head><title>Network Authentication Required</title></head>"
    b"<body><h1>Please sign in to continue</h1></body></html>"
)

# Error replies per simulator condition and service: (status, code, message template).
_ERRORS: dict[str, dict[str, tuple[int, str, str]]] = {
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
_ERROR_FAULTS = frozenset(_ERRORS) & frozenset(FAULT_KINDS)


@dataclass(frozen=True)
class Transition:
    """A scheduled state change, so packs move through states without anyone driving them."""

    after_seconds: float
    state: PackState
    reason: str = ""


@dataclass(frozen=True)
class SimulatedPack:
    """One conformance pack as the simulator stores it; ids and ARNs are derived on output."""

    name: str
    state: PackState
    _: KW_ONLY
    reason: str = ""
    type: PackType | None = "CUSTOM"
    requested_at: float
    completed_at: float | None = None
    timeline: tuple[Transition, ...] = ()

    def effective(self, started_at: float, now: float) -> SimulatedPack:
        """The pack as seen at `now`, after every transition due since `started_at`."""
        elapsed = now - started_at
        due = sorted(
            (step for step in self.timeline if elapsed >= step.after_seconds),
            key=lambda step: step.after_seconds,
        )
        if not due:
            return self
        terminal = [step.after_seconds for step in due if _is_terminal(step.state)]
        completed_at = started_at + max(terminal) if terminal else self.completed_at
        latest = due[-1]
        return replace(
            self,
            state=latest.state,
            reason=latest.reason,
            completed_at=completed_at,
            timeline=(),
        )


@dataclass
class Scenario:
    """The accounts, regions, packs and identities a simulator starts with."""

    packs: dict[tuple[str, str], list[SimulatedPack]]
    default_account: str = DEFAULT_ACCOUNT
    access_key_accounts: dict[str, str] = field(default_factory=dict)
    denied_roles: frozenset[str] = frozenset()
    role_external_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    """A misbehaviour to inject, matched against requests by every scope that is set.

    `seconds` is the added delay for ``latency`` and ``hang`` and the pause between body chunks
    of `chunk_size` bytes for ``slow_body``; `partial` makes ``reset`` send the headers and half
    the body before resetting. `count` limits the fault to that many matching requests.
    """

    kind: FaultKind
    region: str | None = None
    account: str | None = None
    service: str | None = None
    operation: str | None = None
    count: int | None = None
    seconds: float = 1.0
    chunk_size: int = 64
    partial: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.service is not None and self.service not in _SERVICES:
            raise ValueError(f"unknown service {self.service!r}; expected one of {_SERVICES}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count must be at least 1, got {self.count}")
        if self.seconds < 0:
            raise ValueError(f"fault seconds must not be negative, got {self.seconds}")
        if self.chunk_size < 1:
            raise ValueError(f"fault chunk_size must be at least 1, got {self.chunk_size}")

    def matches(self, request: _Request) -> bool:
        """Whether this fault is scoped to `request`."""
        return all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (self.region, request.region),
                (self.account, request.account),
                (self.service, request.service),
                (self.operation, request.operation),
            )
        )


@dataclass(frozen=True)
class AssumeRoleCall:
    """One AssumeRole request as received, so tests can check what the exporter asked for."""

    role_arn: str
    session_name: str
    external_id: str | None
    duration_seconds: int
    caller_access_key: str
    region: str
    granted: bool


class PackIds(NamedTuple):
    """The identifiers AWS assigns to a pack, reproducible from its account, region and name."""

    pack_id: str
    arn: str
    stack_arn: str


@functools.lru_cache(maxsize=65536)
def pack_ids(account: str, region: str, name: str) -> PackIds:
    """Derive a pack's ids deterministically so outputs and golden files are reproducible.

    Cached: hashing on every page was a third of the simulator's CPU, which skews benchmarks.
    """
    digest = hashlib.sha256(f"{account}/{region}/{name}".encode()).digest()
    pack_id = "conformance-pack-" + base64.b32encode(digest).decode()[:8].lower()
    stack_id = uuid.UUID(bytes=digest[:16], version=4)
    return PackIds(
        pack_id=pack_id,
        arn=f"arn:aws:config:{region}:{account}:conformance-pack/{name}/{pack_id}",
        stack_arn=f"arn:aws:cloudformation:{region}:{account}:stack/awsconfigconforms-{name}/{stack_id}",
    )


def demo_scenario(now: float) -> Scenario:
    """A small, lively estate for ``--demo``: mostly healthy, with packs that move and fail."""
    hour = 3600.0
    day = 24 * hour
    account = DEFAULT_ACCOUNT
    east, west = DEMO_REGIONS

    def settled(
        name: str, state: PackState, age_days: float, pack_type: PackType = "CUSTOM"
    ) -> SimulatedPack:
        requested = now - age_days * day
        return SimulatedPack(
            name, state, type=pack_type, requested_at=requested, completed_at=requested + 240
        )

    failing_stack = pack_ids(account, west, "Operational-Best-Practices-for-Amazon-DynamoDB")
    return Scenario(
        packs={
            (account, east): [
                settled("Operational-Best-Practices-for-CIS-AWS-v14-Level1", "CREATE_COMPLETE", 41),
                settled("Operational-Best-Practices-for-CIS-AWS-v14-Level2", "UPDATE_COMPLETE", 9),
                settled("Operational-Best-Practices-for-PCI-DSS", "UPDATE_COMPLETE", 3.5),
                settled(
                    "OrgConformsPack-security-baseline-k3x9q2lm", "CREATE_COMPLETE", 120, "MANAGED"
                ),
                settled(
                    "OrgConformsPack-encryption-at-rest-m8c4v1tz", "UPDATE_COMPLETE", 17, "MANAGED"
                ),
                SimulatedPack(
                    "Operational-Best-Practices-for-Amazon-S3",
                    "CREATE_IN_PROGRESS",
                    requested_at=now,
                    timeline=(Transition(60, "CREATE_COMPLETE"),),
                ),
                SimulatedPack(
                    "Operational-Best-Practices-for-NIST-800-53-rev5",
                    "UPDATE_IN_PROGRESS",
                    requested_at=now - 3 * hour,
                    completed_at=now - 12 * day,
                ),
            ],
            (account, west): [
                settled("Operational-Best-Practices-for-CIS-AWS-v14-Level1", "CREATE_COMPLETE", 41),
                settled("Operational-Best-Practices-for-HIPAA-Security", "UPDATE_COMPLETE", 6),
                settled(
                    "OrgConformsPack-security-baseline-p7d2w8zt", "CREATE_COMPLETE", 120, "MANAGED"
                ),
                settled("OrgConformsPack-data-residency-f4h6j1ns", "UPDATE_COMPLETE", 2, "MANAGED"),
                SimulatedPack(
                    "Operational-Best-Practices-for-Amazon-DynamoDB",
                    "CREATE_IN_PROGRESS",
                    requested_at=now,
                    timeline=(
                        Transition(
                            45,
                            "CREATE_FAILED",
                            f"Embedded stack {failing_stack.stack_arn} was not successfully"
                            " created: The following resource(s) failed to create:"
                            " [DynamodbPitrEnabled]. Resource handler returned message:"
                            ' "The maximum number of AWS Config rules in this account has been'
                            ' reached. (Service: Config, Status Code: 400)"',
                        ),
                    ),
                ),
                SimulatedPack(
                    "Operational-Best-Practices-for-Well-Architected-Security",
                    "DELETE_FAILED",
                    reason="The following resource(s) failed to delete:"
                    " [RemediationS3BucketSslRequestsOnly]. Resource handler returned message:"
                    ' "Cannot delete the remediation configuration while a remediation'
                    ' execution is in progress."',
                    requested_at=now - 2 * hour,
                    completed_at=now - 2 * hour + 95,
                ),
            ],
        },
        default_account=account,
    )


def generated_scenario(
    pack_count: int,
    regions: Sequence[str],
    accounts: Sequence[str] = (DEFAULT_ACCOUNT,),
    now: float | None = None,
) -> Scenario:
    """`pack_count` healthy packs in every (account, region), for benchmarks at scale."""
    if pack_count < 0:
        raise ValueError(f"pack_count must not be negative, got {pack_count}")
    if not regions or not accounts:
        raise ValueError("generated_scenario needs at least one region and one account")
    at = time.time() if now is None else now
    packs = [
        SimulatedPack(
            f"generated-pack-{index:05d}",
            "CREATE_COMPLETE" if index % 2 == 0 else "UPDATE_COMPLETE",
            type="MANAGED" if index % 4 == 3 else "CUSTOM",
            requested_at=at - 86400 - index,
            completed_at=at - 86400 - index + 180,
        )
        for index in range(pack_count)
    ]
    return Scenario(
        packs={(account, region): list(packs) for account in accounts for region in regions},
        default_account=accounts[0],
    )


def _is_terminal(state: str) -> bool:
    return state.endswith(("_COMPLETE", "_FAILED"))


def _stable_id(prefix: str, seed: str, length: int = 16) -> str:
    """An AWS-looking identifier that stays the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:length]


class _Shelf(NamedTuple):
    """One (account, region)'s packs, sorted by name for stable paging."""

    names: tuple[str, ...]
    packs: tuple[SimulatedPack, ...]


def _shelve(packs: Iterable[SimulatedPack]) -> _Shelf:
    ordered = tuple(sorted(packs, key=lambda pack: pack.name))
    names = tuple(pack.name for pack in ordered)
    for name in names:
        if not _PACK_NAME.fullmatch(name) or len(name) > 256:
            raise ValueError(f"pack name {name!r} does not match {_PACK_NAME.pattern}")
    duplicates = sorted(name for name, seen in Counter(names).items() if seen > 1)
    if duplicates:
        raise ValueError(f"pack names must be unique per account and region: {duplicates}")
    return _Shelf(names, ordered)


@dataclass(frozen=True)
class _Request:
    service: str
    operation: str
    region: str
    access_key: str
    account: str
    session_token: str | None


@dataclass(frozen=True)
class _Session:
    """Temporary credentials this simulator issued through AssumeRole."""

    account: str
    arn: str
    user_id: str
    session_token: str
    expires_at: float


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None


@dataclass(frozen=True)
class _Reply:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Outcome:
    """What the handler must do on the wire: wait, then send `reply` shaped by `transport`."""

    reply: _Reply
    delay: float
    transport: Fault | None


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def of(cls, condition: str, service: str, **details: str) -> _ApiError:
        status, code, template = _ERRORS[condition][service]
        return cls(status, code, template.format(**details))


def _json_reply(status: int, document: object, request_id: str, error: str = "") -> _Reply:
    headers: tuple[tuple[str, str], ...] = (("x-amzn-RequestId", request_id),)
    if error:
        headers += (("x-amzn-ErrorType", error),)
    body = json.dumps(document, separators=(",", ":")).encode()
    return _Reply(status, _JSON_CONTENT_TYPE, body, headers)


def _xml_elements(fields: Mapping[str, object]) -> str:
    return "".join(
        f"<{tag}>{_xml_elements(value) if isinstance(value, Mapping) else escape(str(value))}"
        f"</{tag}>"
        for tag, value in fields.items()
    )


def _xml_reply(action: str, result: Mapping[str, object], request_id: str) -> _Reply:
    body = (
        f'<{action}Response xmlns="{_STS_NAMESPACE}"><{action}Result>{_xml_elements(result)}'
        f"</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId>"
        f"</ResponseMetadata></{action}Response>"
    )
    return _Reply(200, "text/xml", body.encode(), (("x-amzn-RequestId", request_id),))


def _error_reply(service: str, error: _ApiError, request_id: str) -> _Reply:
    if service != "sts":
        document = {"__type": error.code, "message": error.message}
        return _json_reply(error.status, document, request_id, error.code)
    kind = "Receiver" if error.status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{_STS_NAMESPACE}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return _Reply(error.status, "text/xml", body.encode(), (("x-amzn-RequestId", request_id),))


def _iso8601(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _validation_error(value: object, member: str, constraint: str) -> _ApiError:
    return _ApiError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy"
        f" constraint: {constraint}",
    )


def _serialization_error(member: str) -> _ApiError:
    return _ApiError(400, "SerializationException", f"Unexpected value type for {member}")


class ConfigSimulator:
    """An HTTP server answering AWS Config and STS calls from a `Scenario`, with fault knobs.

    Every knob is thread-safe and may be changed while requests are in flight.
    """

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._address = (host, port)
        self._clock = clock
        self._lock = threading.Lock()
        self._shelves = {key: _shelve(packs) for key, packs in scenario.packs.items()}
        self._default_account = scenario.default_account
        self._access_key_accounts = dict(scenario.access_key_accounts)
        self._denied_roles = frozenset(scenario.denied_roles)
        self._role_external_ids = dict(scenario.role_external_ids)
        self._sessions: dict[str, _Session] = {}
        self._faults: list[_ActiveFault] = []
        self._latency = 0.0
        self._calls: Counter[tuple[str, str, str, str]] = Counter()
        self._assume_role_calls: list[AssumeRoleCall] = []
        self._token_key = secrets.token_bytes(32)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._started_at = clock()

    def start(self) -> None:
        """Bind the socket and serve from a daemon thread; timelines start counting now."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._started_at = self._clock()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"config-simulator:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the listening socket and drop open client connections."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()

    def __enter__(self) -> ConfigSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint URL to give boto3 clients."""
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def started_at(self) -> float:
        """The clock reading that timeline offsets count from."""
        return self._started_at

    @property
    def latency(self) -> float:
        """Seconds added before every answer, on top of any ``latency`` faults."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        with self._lock:
            self._latency = seconds

    def set_packs(self, account: str, region: str, packs: Iterable[SimulatedPack]) -> None:
        """Replace the packs of one (account, region) while serving."""
        shelf = _shelve(packs)
        with self._lock:
            self._shelves[(account, region)] = shelf

    def add_fault(self, fault: Fault) -> None:
        """Inject `fault`; when several match a request, the earliest added applies."""
        with self._lock:
            self._faults.append(_ActiveFault(fault, fault.count))

    def clear_faults(self) -> None:
        """Remove every fault; the global latency is kept."""
        with self._lock:
            self._faults.clear()

    def calls(
        self,
        operation: str | None = None,
        region: str | None = None,
        account: str | None = None,
        service: str | None = None,
    ) -> int:
        """HTTP requests received so far, faulted or not, matching every filter given."""
        with self._lock:
            return sum(
                seen
                for (call_service, call_operation, call_region, call_account), seen in (
                    self._calls.items()
                )
                if operation in (None, call_operation)
                and region in (None, call_region)
                and account in (None, call_account)
                and service in (None, call_service)
            )

    def reset_calls(self) -> None:
        """Forget counted calls and recorded AssumeRole calls."""
        with self._lock:
            self._calls.clear()
            self._assume_role_calls.clear()

    @property
    def assume_role_calls(self) -> tuple[AssumeRoleCall, ...]:
        """Every AssumeRole request that reached the operation, granted or not."""
        with self._lock:
            return tuple(self._assume_role_calls)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopping; False means the simulator is shutting down."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    def _respond(self, headers: Message, body: bytes) -> _Outcome:
        """Turn one HTTP request into the reply, delay and wire behaviour to apply."""
        request_id = str(uuid.uuid4())
        authorization = headers.get("Authorization")
        scope = _AUTHORIZATION.fullmatch(authorization.strip()) if authorization else None
        form = parse_qs(body.decode("utf-8", "replace")) if not headers.get("X-Amz-Target") else {}
        guessed = "sts" if "Action" in form else "config"
        service = scope.group(3) if scope else guessed
        if service == "sts":
            operation = form.get("Action", [""])[0]
        else:
            operation = (headers.get("X-Amz-Target") or "").removeprefix(_TARGET_PREFIX)
        access_key, region = (scope.group(1), scope.group(2)) if scope else ("", "")
        request = _Request(
            service=service,
            operation=operation,
            region=region,
            access_key=access_key,
            account=self._account_for(access_key) if scope else "",
            session_token=headers.get("X-Amz-Security-Token"),
        )
        with self._lock:
            self._calls[(service, operation, region, request.account)] += 1
        protocol = "sts" if service == "sts" else "config"
        error: _ApiError | None = None
        if authorization is None:
            error = _ApiError.of("missing_auth", protocol)
        elif scope is None:
            error = _ApiError.of("incomplete_signature", protocol)
        elif service not in _SERVICES:
            error = _ApiError(
                400,
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'config'.",
            )
        if error is not None:
            return _Outcome(_error_reply(protocol, error, request_id), 0.0, None)
        delay, fault = self._take_faults(request)
        return self._faulted(request, body, form, request_id, delay, fault)

    def _faulted(
        self,
        request: _Request,
        body: bytes,
        form: dict[str, list[str]],
        request_id: str,
        delay: float,
        fault: Fault | None,
    ) -> _Outcome:
        kind = fault.kind if fault else None
        if kind in _ERROR_FAULTS:
            error = _ApiError.of(
                str(kind),
                request.service,
                caller=self._caller_arn(request.access_key),
                operation=request.operation,
            )
            return _Outcome(_error_reply(request.service, error, request_id), delay, None)
        if kind == "garbage":
            reply = _Reply(200, "text/html", _GARBAGE, (("x-amzn-RequestId", request_id),))
            return _Outcome(reply, delay, None)
        if kind == "empty_object":
            if request.service == "sts":
                return _Outcome(_xml_reply(request.operation, {}, request_id), delay, None)
            return _Outcome(_json_reply(200, {}, request_id), delay, None)
        reply = self._dispatch(request, body, form, request_id)
        if kind == "truncated":
            reply = replace(reply, status=200, body=reply.body[: len(reply.body) // 2])
        if fault is not None and fault.kind == "hang":
            delay += fault.seconds
        transport = fault if kind in ("reset", "slow_body") else None
        return _Outcome(reply, delay, transport)

    def _take_faults(self, request: _Request) -> tuple[float, Fault | None]:
        """Sum matching latencies and pick the first other matching fault, spending counts."""
        with self._lock:
            delay = self._latency
            chosen: Fault | None = None
            for active in list(self._faults):
                fault = active.fault
                if not fault.matches(request) or (fault.kind != "latency" and chosen):
                    continue
                if fault.kind == "latency":
                    delay += fault.seconds
                else:
                    chosen = fault
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining == 0:
                        self._faults.remove(active)
            return delay, chosen

    def _dispatch(
        self, request: _Request, body: bytes, form: dict[str, list[str]], request_id: str
    ) -> _Reply:
        try:
            self._check_credentials(request)
            if request.service == "sts":
                params = {key: values[0] for key, values in form.items()}
                if request.operation == "GetCallerIdentity":
                    return _xml_reply(request.operation, self._caller_identity(request), request_id)
                if request.operation == "AssumeRole":
                    return _xml_reply(
                        request.operation, self._assume_role(request, params), request_id
                    )
            elif request.operation == "DescribeConformancePackStatus":
                result = self._describe_status(request, _json_payload(body))
                return _json_reply(200, result, request_id)
            raise _ApiError.of("unknown_operation", request.service, operation=request.operation)
        except _ApiError as error:
            return _error_reply(request.service, error, request_id)

    def _account_for(self, access_key: str) -> str:
        with self._lock:
            session = self._sessions.get(access_key)
            if session is not None:
                return session.account
            return self._access_key_accounts.get(access_key, self._default_account)

    def _caller_arn(self, access_key: str) -> str:
        with self._lock:
            session = self._sessions.get(access_key)
        if session is not None:
            return session.arn
        return f"arn:aws:iam::{self._account_for(access_key)}:user/simulator"

    def _check_credentials(self, request: _Request) -> None:
        """Hold issued temporary credentials to their session token and expiry, as AWS does."""
        with self._lock:
            session = self._sessions.get(request.access_key)
        if session is None:
            return
        if request.session_token != session.session_token:
            raise _ApiError.of("unrecognized_client", request.service)
        if self._clock() >= session.expires_at:
            raise _ApiError.of("expired_token", request.service)

    def _caller_identity(self, request: _Request) -> dict[str, str]:
        with self._lock:
            session = self._sessions.get(request.access_key)
        if session is not None:
            return {"Arn": session.arn, "UserId": session.user_id, "Account": session.account}
        return {
            "Arn": self._caller_arn(request.access_key),
            "UserId": _stable_id("AIDA", request.access_key, 17),
            "Account": request.account,
        }

    def _assume_role(self, request: _Request, params: dict[str, str]) -> dict[str, object]:
        role_arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        external_id = params.get("ExternalId")
        role = _ROLE_ARN.fullmatch(role_arn)
        if role is None:
            raise _ApiError(400, "ValidationError", f"{role_arn!r} is not a valid IAM role ARN")
        if not _SESSION_NAME.fullmatch(session_name):
            raise _ApiError(
                400,
                "ValidationError",
                f"RoleSessionName {session_name!r} must match [\\w+=,.@-]{{2,64}}",
            )
        duration_text = params.get("DurationSeconds", "3600")
        if not duration_text.isdigit() or not 900 <= int(duration_text) <= 43200:
            raise _ApiError(
                400, "ValidationError", f"DurationSeconds {duration_text!r} must be in 900..43200"
            )
        duration = int(duration_text)
        required_external_id = self._role_external_ids.get(role_arn)
        granted = role_arn not in self._denied_roles and required_external_id in (None, external_id)
        with self._lock:
            self._assume_role_calls.append(
                AssumeRoleCall(
                    role_arn=role_arn,
                    session_name=session_name,
                    external_id=external_id,
                    duration_seconds=duration,
                    caller_access_key=request.access_key,
                    region=request.region,
                    granted=granted,
                )
            )
        if not granted:
            caller = self._caller_arn(request.access_key)
            raise _ApiError(
                403,
                "AccessDenied",
                f"User: {caller} is not authorized to perform: sts:AssumeRole"
                f" on resource: {role_arn}",
            )
        account, role_name = role.group(1), role.group(2)
        access_key = "ASIA" + base64.b32encode(secrets.token_bytes(10)).decode()
        role_id = _stable_id("AROA", role_arn, 17)
        session = _Session(
            account=account,
            arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
            user_id=f"{role_id}:{session_name}",
            session_token=base64.b64encode(secrets.token_bytes(96)).decode(),
            expires_at=self._clock() + duration,
        )
        with self._lock:
            self._sessions[access_key] = session
        return {
            "Credentials": {
                "AccessKeyId": access_key,
                "SecretAccessKey": base64.b64encode(secrets.token_bytes(30)).decode(),
                "SessionToken": session.session_token,
                "Expiration": _iso8601(session.expires_at),
            },
            "AssumedRoleUser": {"AssumedRoleId": session.user_id, "Arn": session.arn},
        }

    def _describe_status(self, request: _Request, payload: dict[str, object]) -> dict[str, object]:
        names = _pack_names(payload)
        types = _pack_types(payload)
        limit = _page_limit(payload)
        token = payload.get("NextToken")
        if token is not None and not isinstance(token, str):
            raise _serialization_error("NextToken")
        query = json.dumps(
            [request.account, request.region, sorted(names or ()), sorted(types or ())]
        )
        after = self._read_token(token, query) if token else None
        with self._lock:
            shelf = self._shelves.get((request.account, request.region), _Shelf((), ()))
        now = self._clock()
        start = bisect.bisect_right(shelf.names, after) if after is not None else 0
        page: list[SimulatedPack] = []
        more = False
        for pack in shelf.packs[start:]:
            if (names and pack.name not in names) or (types and pack.type not in types):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(pack)
        result: dict[str, object] = {
            "ConformancePackStatusDetails": [
                _status_detail(
                    request.account, request.region, pack.effective(self._started_at, now)
                )
                for pack in page
            ]
        }
        if more:
            result["NextToken"] = self._issue_token(query, page[-1].name)
        return result

    def _issue_token(self, query: str, after: str) -> str:
        payload = json.dumps([query, after]).encode()
        mac = hmac.new(self._token_key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + payload).decode()

    def _read_token(self, token: str, query: str) -> str:
        """The last name of the previous page, if `token` was issued here for this query."""
        invalid = _ApiError(
            400,
            "InvalidNextTokenException",
            "The specified next token is invalid. Specify the nextToken string that was"
            " returned in the previous response to get the next page of results.",
        )
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except ValueError:
            raise invalid from None
        mac, payload = raw[:16], raw[16:]
        expected = hmac.new(self._token_key, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            raise invalid
        token_query, after = json.loads(payload)
        if token_query != query:
            raise invalid
        return str(after)


def _json_payload(body: bytes) -> dict[str, object]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise _ApiError(400, "SerializationException", "Request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _ApiError(400, "SerializationException", "Request body must be a JSON object")
    return payload


def _pack_names(payload: dict[str, object]) -> set[str] | None:
    names = payload.get("ConformancePackNames")
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _serialization_error("ConformancePackNames")
    if len(names) > _MAX_PACK_NAMES:
        raise _validation_error(
            names,
            "conformancePackNames",
            f"Member must have length less than or equal to {_MAX_PACK_NAMES}",
        )
    for name in names:
        if not _PACK_NAME.fullmatch(name) or len(name) > 256:
            raise _validation_error(
                name,
                "conformancePackNames",
                f"Member must satisfy regular expression pattern: {_PACK_NAME.pattern}",
            )
    return set(names) or None


def _pack_types(payload: dict[str, object]) -> set[str] | None:
    filters = payload.get("Filters")
    if filters is None:
        return None
    if not isinstance(filters, dict):
        raise _serialization_error("Filters")
    types = filters.get("Types")
    if types is None:
        return None
    if not isinstance(types, list):
        raise _serialization_error("Filters.Types")
    for pack_type in types:
        if pack_type not in _PACK_TYPES:
            raise _validation_error(
                pack_type, "filters.types", f"Member must satisfy enum value set: {_PACK_TYPES}"
            )
    return set(types) or None


def _page_limit(payload: dict[str, object]) -> int:
    limit = payload.get("Limit", 0)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise _serialization_error("Limit")
    if not 0 <= limit <= _MAX_PAGE_SIZE:
        raise _ApiError(
            400,
            "InvalidLimitException",
            f"Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value"
            f" between 0 and {_MAX_PAGE_SIZE}",
        )
    return limit or _MAX_PAGE_SIZE


def _status_detail(account: str, region: str, pack: SimulatedPack) -> dict[str, object]:
    ids = pack_ids(account, region, pack.name)
    detail: dict[str, object] = {
        "ConformancePackName": pack.name,
        "ConformancePackId": ids.pack_id,
        "ConformancePackArn": ids.arn,
        "ConformancePackState": pack.state,
        "StackArn": ids.stack_arn,
        "LastUpdateRequestedTime": round(pack.requested_at, 3),
    }
    if pack.reason:
        detail["ConformancePackStatusReason"] = pack.reason
    if pack.completed_at is not None:
        detail["LastUpdateCompletedTime"] = round(pack.completed_at, 3)
    if pack.type is not None:
        detail["Type"] = pack.type
    return detail


class _Server(ThreadingHTTPServer):
    """A threading server that knows its simulator and can drop keep-alive connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: ConfigSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes only: the simulator decides the reply, the handler applies wire faults."""

    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "ConfigSimulator"

    def _owner(self) -> _Server:
        assert isinstance(self.server, _Server)
        return self.server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._owner().track(self.connection)

    def finish(self) -> None:
        self._owner().untrack(self.connection)
        super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: tests and benchmarks read stderr."""

    def do_POST(self) -> None:
        simulator = self._owner().simulator
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        outcome = simulator._respond(self.headers, body)
        if not simulator._wait(outcome.delay):
            self.close_connection = True
            return
        reply, transport = outcome.reply, outcome.transport
        if transport is not None and transport.kind == "reset" and not transport.partial:
            self._reset()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if transport is None:
            self.wfile.write(reply.body)
        elif transport.kind == "reset":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self._reset()
        else:
            self._trickle(reply.body, transport)

    def _trickle(self, body: bytes, fault: Fault) -> None:
        simulator = self._owner().simulator
        chunks = math.ceil(len(body) / fault.chunk_size)
        for index in range(chunks):
            if index and not simulator._wait(fault.seconds):
                self.close_connection = True
                return
            self.wfile.write(body[index * fault.chunk_size : (index + 1) * fault.chunk_size])

    def _reset(self) -> None:
        """Abort with a TCP RST rather than a polite FIN, like a dropped middlebox."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a scenario until SIGTERM or SIGINT, for the demo and out-of-process benchmarks."""
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description="Serve simulated AWS Config and STS APIs on loopback.",
    )
    parser.add_argument(
        "--listen", default="127.0.0.1:0", help="HOST:PORT to bind; port 0 picks a free one"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--packs", type=int, help="serve N generated healthy packs instead of the demo scenario"
    )
    parser.add_argument(
        "--regions", default=",".join(DEMO_REGIONS), help="comma-separated regions for --packs"
    )
    parser.add_argument(
        "--accounts", default=DEFAULT_ACCOUNT, help="comma-separated accounts for --packs"
    )
    args = parser.parse_args(argv)
    host, _, port = str(args.listen).rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen must be HOST:PORT, got {args.listen!r}")
    if args.latency < 0:
        parser.error("--latency must not be negative")
    now = time.time()
    if args.packs is None:
        scenario = demo_scenario(now)
    else:
        regions = [region for region in args.regions.split(",") if region]
        accounts = [account for account in args.accounts.split(",") if account]
        try:
            scenario = generated_scenario(args.packs, regions, accounts, now)
        except ValueError as error:
            parser.error(str(error))

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with ConfigSimulator(scenario, host=host, port=int(port)) as simulator:
        simulator.latency = args.latency
        print(f"listening on {simulator.url}", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
