"""What every client the exporter makes is fitted with, as botocore event handlers.

Three jobs, three handlers: refuse operations outside the IAM allow-list, count each HTTP
attempt by outcome, and stop retrying once the caller's deadline has passed. Each client also
loses botocore's handlers that do nothing for the operations we call, or add headers AWS
does not need (`UNNEEDED_HANDLERS`). The deadline travels with the call itself:
`deadline_argument` puts it among the call's parameters, and `_carry_deadline` moves it into
botocore's per-request context before the parameters are validated, where the retry handler
reads it back. An AssumeRole that signing a call sets off (a credential refresh) is not ours
to give parameters to: `inherit_deadline` has it take the deadline of the call being made on
its thread, so a refresh stops retrying when the scrape that needed it gives up.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Set
from typing import Any, Protocol

import botocore.exceptions
import botocore.handlers
import botocore.parsers

from exporter.aws.errors import COMMON_ERROR_CODES, UnlistedOperationError, error_code
from exporter.deadline import Deadline

DEADLINE_PARAMETER = "ExporterDeadline"
_CONTEXT_KEY = "exporter_deadline"
_SETS_THREAD_DEADLINE = "exporter_sets_thread_deadline"
_COUNTED_EXCEPTION = "exporter_counted_exception"

# botocore's built-in handlers (by function name in `botocore.handlers.BUILTIN_HANDLERS`)
# that every client drops; tests fail if a botocore release renames or drops one.
UNNEEDED_HANDLERS = frozenset(
    {
        # Fills idempotency-token members: no operation the exporter calls has one.
        "generate_idempotent_uuid",
        # Sets a checksum-mode member: no operation the exporter calls has one.
        "_handle_request_validation_mode_member",
        # Adds X-Amzn-Trace-Id when running in AWS Lambda, which the exporter does not.
        "add_recursion_detection_header",
        # Adds an API-version header for services whose model asks: Config and STS don't.
        "inject_api_version_header_if_needed",
        # amz-sdk-invocation-id and amz-sdk-request: SDK telemetry that AWS does not need.
        "add_retry_headers",
    }
)


def unneeded_handlers() -> list[tuple[str, Callable[..., Any]]]:
    """(event, handler) of each of `UNNEEDED_HANDLERS` this botocore registers."""
    return [
        (str(event), handler)
        for event, handler, *_ in botocore.handlers.BUILTIN_HANDLERS
        if getattr(handler, "__name__", None) in UNNEEDED_HANDLERS
    ]


_UNNEEDED = unneeded_handlers()


def deadline_argument(deadline: Deadline) -> dict[str, Deadline]:
    """Keyword arguments that give a client call (or every page of a paginator) a deadline."""
    return {DEADLINE_PARAMETER: deadline}


class _ThreadDeadline(threading.local):
    """The deadline of the call in progress on this thread, for calls made while signing it."""

    deadline: Deadline | None = None


_THREAD = _ThreadDeadline()


def _carry_deadline(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    deadline = params.pop(DEADLINE_PARAMETER, None)
    if deadline is not None:
        context[_CONTEXT_KEY] = deadline
        context[_SETS_THREAD_DEADLINE] = True
        _THREAD.deadline = deadline


def _forget_thread_deadline(context: dict[str, Any], **_: Any) -> None:
    if context.pop(_SETS_THREAD_DEADLINE, False):
        _THREAD.deadline = None


def _take_thread_deadline(context: dict[str, Any], **_: Any) -> None:
    if _THREAD.deadline is not None:
        context.setdefault(_CONTEXT_KEY, _THREAD.deadline)


def inherit_deadline(client: Any, operation: str) -> None:
    """Give `client`'s `operation` calls the deadline of the call in progress on their thread:
    for the STS client a credential refresh makes, whose calls we do not make ourselves."""
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(
        f"provide-client-params.{service_id}.{operation}", _take_thread_deadline
    )


def _stop_retries_at_deadline(request_dict: Mapping[str, Any], **_: Any) -> bool | None:
    """`False` (no retry) once the call's deadline passed; `None` leaves botocore to decide."""
    deadline = request_dict.get("context", {}).get(_CONTEXT_KEY)
    if isinstance(deadline, Deadline) and deadline.passed():
        return False
    return None


def attempt_outcome(
    known_codes: frozenset[str],
    operation: Any,
    response: tuple[Any, Mapping[str, Any]] | None,
    caught_exception: BaseException | None,
) -> str:
    """`success`, an AWS error code, or one of the bounded codes of `error_code`."""
    if caught_exception is not None:
        return error_code(caught_exception)
    if response is None:
        return "other"
    http_response, parsed = response
    if int(http_response.status_code) >= 300:
        code = str(parsed.get("Error", {}).get("Code", ""))
        return code if code in known_codes else "other"
    output_shape = operation.output_shape
    if output_shape is not None and not any(name in parsed for name in output_shape.members):
        return "invalid_response"
    return "success"


_KNOWN_CODES: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def _known_codes(service_model: Any) -> frozenset[str]:
    """The error codes counted by name for a service: one set per (shared) service model,
    not one per client (2 KB each)."""
    known = _KNOWN_CODES.get(service_model)
    if known is None:
        names = {shape.name for shape in service_model.error_shapes}
        known = _KNOWN_CODES.setdefault(service_model, COMMON_ERROR_CODES | names)
    return known


class Owner(Protocol):
    """Whose calls are counted: an account (whose id may be learned after its first call),
    or work done with its credentials that is reported on its own (account discovery)."""

    @property
    def account_id(self) -> str | None: ...

    def __hash__(self) -> int: ...


class ApiCallCounter:
    """Counts every HTTP attempt botocore makes, retries included, by outcome.

    Keys hold the caller's `owner` (an account) rather than its id, because the id may only
    be learned after the first call; the owner's `account_id` is read when exposed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[Owner, str, str, str]] = Counter()
        # Owners forgotten, held weakly: a read still in flight when discovery dropped its
        # account would count it again, and keep the account and its clients for good.
        self._forgotten: weakref.WeakSet[Owner] = weakref.WeakSet()

    def attach(self, client: Any, owner: Owner) -> None:
        """Count `client`'s attempts under `owner` and the client's region."""
        service_model = client.meta.service_model
        known_codes = _known_codes(service_model)
        region = client.meta.region_name

        def on_attempt(
            operation: Any,
            request_dict: Mapping[str, Any],
            response: tuple[Any, Mapping[str, Any]] | None = None,
            caught_exception: BaseException | None = None,
            **_: Any,
        ) -> None:
            outcome = attempt_outcome(known_codes, operation, response, caught_exception)
            self._add(owner, region, operation.name, outcome)
            request_dict["context"][_COUNTED_EXCEPTION] = caught_exception

        def on_unparsable(
            exception: BaseException, context: Mapping[str, Any], **kwargs: Any
        ) -> None:
            """A reply botocore cannot parse raises before `needs-retry`: count it here.

            A failure `needs-retry` saw is counted already; botocore's own errors other than
            a parser's, and AWS errors of other clients (an AssumeRole while signing), come
            from before sending, so they are no attempt of this client.
            """
            if exception is context.get(_COUNTED_EXCEPTION):
                return
            before_sending = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
            if isinstance(exception, botocore.parsers.ResponseParserError) or not isinstance(
                exception, before_sending
            ):
                operation = str(kwargs["event_name"]).rsplit(".", 1)[-1]
                self._add(owner, region, operation, "invalid_response")

        service_id = service_model.service_id.hyphenize()
        client.meta.events.register_first(f"needs-retry.{service_id}", on_attempt)
        client.meta.events.register(f"after-call-error.{service_id}", on_unparsable)

    def _add(self, owner: Owner, region: str, operation: str, outcome: str) -> None:
        with self._lock:
            if owner not in self._forgotten:
                self._counts[(owner, region, operation, outcome)] += 1

    def forget(self, owners: Set[Owner]) -> None:
        """Drop the counts of `owners`: accounts that discovery no longer lists, whose series
        go with them rather than being kept for the life of the process; their calls still
        in flight are not counted."""
        with self._lock:
            self._forgotten.update(owners)
            for key in [key for key in self._counts if key[0] in owners]:
                del self._counts[key]

    def samples(
        self, selected: Callable[[Owner, str], bool] | None = None
    ) -> list[tuple[str, str, str, str, int]]:
        """(account_id, region, operation, outcome, count), sorted, of the (owner, region)
        pairs `selected` (default: all)."""
        with self._lock:
            counts = [
                (key, count)
                for key, count in self._counts.items()
                if selected is None or selected(key[0], key[1])
            ]
        rows = [
            (owner.account_id or "", region, operation, outcome, count)
            for (owner, region, operation, outcome), count in counts
        ]
        return sorted(rows)


def fit_client(
    client: Any, owner: Owner, counter: ApiCallCounter, allowed_actions: frozenset[str]
) -> None:
    """Give `client` the allow-list, the deadline handlers and the attempt counter, and take
    away the handlers it does not need."""
    service_model = client.meta.service_model
    service_id = service_model.service_id.hyphenize()
    prefix = service_model.signing_name

    def refuse_unlisted(model: Any, **_: Any) -> None:
        action = f"{prefix}:{model.name}"
        if action not in allowed_actions:
            raise UnlistedOperationError(f"{action} is not an action any collector declares")

    events = client.meta.events
    for event, handler in _UNNEEDED:
        events.unregister(event, handler)
    events.register(f"provide-client-params.{service_id}", _carry_deadline)
    events.register(f"after-call.{service_id}", _forget_thread_deadline)
    events.register(f"after-call-error.{service_id}", _forget_thread_deadline)
    events.register(f"before-parameter-build.{service_id}", refuse_unlisted)
    events.register_first(f"needs-retry.{service_id}", _stop_retries_at_deadline)
    counter.attach(client, owner)
