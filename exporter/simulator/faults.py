"""Misbehaviour on demand: errors, malformed bodies, delays and broken connections, scoped to
requests by service, operation, region or account, so tests, benchmarks and anyone
rehearsing an alert (`python -m exporter.simulator --fault ...`) reach every failure path."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Literal, get_args

from exporter.simulator.errors import ERRORS, ApiError
from exporter.simulator.transport import Outcome, Reply, Trickle
from exporter.simulator.wire import SERVICES, Request, error_reply, json_reply, xml_reply

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

_ERROR_FAULTS = frozenset(ERRORS) & frozenset(FAULT_KINDS)
_GARBAGE = (
    b"<!DOCTYPE html><html><head><title>Network Authentication Required</title></head>"
    b"<body><h1>Please sign in to continue</h1></body></html>"
)


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
        if self.service is not None and self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}; expected one of {SERVICES}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count must be at least 1, got {self.count}")
        if self.seconds < 0:
            raise ValueError(f"fault seconds must not be negative, got {self.seconds}")
        if self.chunk_size < 1:
            raise ValueError(f"fault chunk_size must be at least 1, got {self.chunk_size}")

    def matches(self, request: Request) -> bool:
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


def parse_fault(spec: str) -> Fault:
    """The fault a command line names: its kind, then `field=value` pairs, comma-separated
    (``access_denied,region=eu-west-1,operation=DescribeConformancePackStatus``).
    Raises ValueError naming what is wrong."""
    kind, *pairs = spec.split(",")
    types = {field.name: field.type for field in fields(Fault) if field.name != "kind"}
    values: dict[str, object] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or name not in types:
            raise ValueError(f"{pair!r} is not one of {', '.join(f'{n}=' for n in types)}")
        declared = str(types[name])
        try:
            if declared.startswith("int"):
                values[name] = int(value)
            elif declared == "float":
                values[name] = float(value)
            elif declared == "bool":
                values[name] = {"true": True, "false": False}[value]
            else:
                values[name] = value
        except (KeyError, ValueError):
            raise ValueError(f"{name}={value!r} is not a valid {declared}") from None
    return Fault(kind, **values)  # type: ignore[arg-type]  # checked in __post_init__


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None


class FaultBook:
    """The faults and global latency in force; safe to change while requests are in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_ActiveFault] = []
        self._latency = 0.0

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

    def add(self, fault: Fault) -> None:
        """Put `fault` in force after those already there."""
        with self._lock:
            self._faults.append(_ActiveFault(fault, fault.count))

    def clear(self) -> None:
        """Remove every fault; the global latency is kept."""
        with self._lock:
            self._faults.clear()

    def take(self, request: Request) -> tuple[float, Fault | None]:
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


def faulted(
    fault: Fault | None,
    delay: float,
    request: Request,
    request_id: str,
    caller_arn: Callable[[str], str],
    answer: Callable[[], Reply],
) -> Outcome:
    """The outcome of `request` under `fault`; `answer` runs only when the fault lets it."""
    kind = fault.kind if fault else None
    if kind in _ERROR_FAULTS:
        error = ApiError.of(
            str(kind),
            request.service,
            caller=caller_arn(request.access_key),
            operation=request.operation,
        )
        return Outcome(error_reply(request.service, error, request_id), delay)
    if kind == "garbage":
        return Outcome(
            Reply(200, "text/html", _GARBAGE, (("x-amzn-RequestId", request_id),)), delay
        )
    if kind == "empty_object":
        if request.service == "sts":
            return Outcome(xml_reply(request.operation, {}, request_id), delay)
        return Outcome(json_reply(200, {}, request_id), delay)
    reply = answer()
    if fault is None:
        return Outcome(reply, delay)
    if fault.kind == "truncated":
        return Outcome(replace(reply, status=200, body=reply.body[: len(reply.body) // 2]), delay)
    if fault.kind == "hang":
        return Outcome(reply, delay + fault.seconds)
    if fault.kind == "reset":
        return Outcome(reply, delay, reset="mid_body" if fault.partial else "at_once")
    return Outcome(reply, delay, trickle=Trickle(fault.seconds, fault.chunk_size))
