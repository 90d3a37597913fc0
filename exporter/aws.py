"""AWS access: clients per region, timeouts and retries, the API-call counter, account ids.

Everything that knows botocore lives here so the collector deals only in targets and plain
pack-status dictionaries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.parsers
import botocore.session
import botocore.utils

from exporter import __version__
from exporter.config import AccountConfig, Config

log = logging.getLogger(__name__)

# Every AWS operation the exporter may call, as IAM actions. Clients refuse any other
# operation (see `restrict_to_iam_actions`), so deploy/iam/ can be checked against this.
IAM_ACTIONS = frozenset(
    {
        "config:DescribeConformancePackStatus",
        "config:DescribeOrganizationConformancePackStatuses",
        "config:GetOrganizationConformancePackDetailedStatus",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
    }
)

OPERATION = "describe_conformance_pack_status"
RESULT_KEY = "ConformancePackStatusDetails"
PAGE_SIZE = 20
NAMES_PER_CALL = 25

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
    """A code path tried an AWS operation missing from IAM_ACTIONS (a bug, caught in tests)."""


class DeadlineExceededError(Exception):
    """The scrape deadline passed before all pages were fetched."""


_deadline = threading.local()
_parsing = threading.local()  # set between a reply's arrival and its parsed `needs-retry`


def _epoch_or_parsed(value: Any) -> Any:
    """Keep the JSON protocol's epoch numbers as floats; parse anything else as botocore does.

    botocore turns each into a datetime through dateutil's tz conversion, which was 40 % of
    the CPU a page of 20 pack statuses cost.
    """
    if isinstance(value, int | float):
        return float(value)
    return botocore.utils.parse_timestamp(value)


def _fast_timestamps(core: botocore.session.Session) -> botocore.session.Session:
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=_epoch_or_parsed
    )
    return core


class _ProvidedCredentials(botocore.credentials.CredentialProvider):
    """Hands a session the (refreshable) credentials built for it."""

    METHOD = "assume-role"

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


class Sessions:
    """botocore sessions, one per set of credentials, all sharing one model loader.

    A session of its own costs ~10 MB and ~160 ms; with the loader shared, an account costs
    a fraction of a megabyte. `base` holds the default credential chain (IRSA included).
    """

    def __init__(
        self,
        base: botocore.session.Session | None = None,
        endpoint_url: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`now` replaces botocore's clock for credential expiry (tests move it forward)."""
        self.base = _fast_timestamps(base or botocore.session.get_session())
        self.endpoint_url = endpoint_url
        self._clock = {"time_fetcher": now} if now else {}

    def for_account(
        self, account: AccountConfig, region: str, instrument: Callable[[Any], None]
    ) -> boto3.Session:
        """The session an account's clients come from; `instrument` gets every STS client.

        A role is assumed through STS in `region` (the account's first), not the global endpoint.
        """
        if account.profile:
            core = self._new(profile=account.profile)
        elif account.role_arn:
            core = self._new()
            provider = _ProvidedCredentials(self._assumed_role(account, region, instrument))
            resolver = botocore.credentials.CredentialResolver(providers=[provider])
            core.register_component("credential_provider", resolver)
        else:
            core = self.base
        return boto3.Session(botocore_session=core)

    def _new(self, profile: str | None = None) -> botocore.session.Session:
        core = botocore.session.Session(profile=profile)
        core.register_component("data_loader", self.base.get_component("data_loader"))
        return _fast_timestamps(core)

    def _assumed_role(
        self, account: AccountConfig, region: str, instrument: Callable[[Any], None]
    ) -> botocore.credentials.Credentials:
        """Credentials that assume the role on first use and renew before they expire."""
        extra: dict[str, Any] = {
            "RoleSessionName": account.session_name,
            "DurationSeconds": account.duration_seconds,
        }
        if account.external_id:
            extra["ExternalId"] = account.external_id

        def sts_client(service_name: str, **settings: Any) -> Any:
            client = self.base.create_client(
                service_name, region_name=region, endpoint_url=self.endpoint_url, **settings
            )
            instrument(client)
            return client

        def refresh() -> dict[str, Any]:
            source = self.base.get_credentials()
            if source is None:
                raise botocore.exceptions.NoCredentialsError()
            fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
                client_creator=sts_client,
                source_credentials=source,
                role_arn=account.role_arn,
                extra_args=extra,
            )
            return dict(fetcher.fetch_credentials())

        return botocore.credentials.DeferredRefreshableCredentials(
            refresh_using=refresh, method="assume-role", **self._clock
        )


def error_code(error: BaseException) -> str:
    """A short, bounded code for logs and the `outcome` label."""
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or "other"
    if isinstance(error, DeadlineExceededError | botocore.exceptions.ReadTimeoutError):
        return "timeout"
    if isinstance(error, botocore.exceptions.ConnectTimeoutError):
        return "timeout"
    if isinstance(error, botocore.exceptions.EndpointConnectionError | ConnectionError):
        return "connection_error"
    if isinstance(error, botocore.exceptions.ConnectionClosedError):
        return "connection_error"
    if isinstance(error, botocore.exceptions.HTTPClientError):
        return "connection_error"
    if isinstance(error, InvalidResponseError | botocore.parsers.ResponseParserError):
        return "invalid_response"
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return "no_credentials"
    return "other"


def _attempt_outcome(
    known_codes: frozenset[str],
    operation: Any,
    response: tuple[Any, Mapping[str, Any]] | None,
    caught_exception: BaseException | None,
) -> str:
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


def restrict_to_iam_actions(client: Any) -> None:
    """Make `client` refuse operations outside IAM_ACTIONS before sending anything."""
    service_model = client.meta.service_model
    prefix = service_model.signing_name

    def check(model: Any, **_: Any) -> None:
        action = f"{prefix}:{model.name}"
        if action not in IAM_ACTIONS:
            raise UnlistedOperationError(f"{action} is not in exporter.aws.IAM_ACTIONS")

    client.meta.events.register(
        f"before-parameter-build.{service_model.service_id.hyphenize()}", check
    )


class ApiCallCounter:
    """Counts every HTTP attempt botocore makes, retries included, by outcome.

    Keys hold the `Account` object rather than its id, because the id may only be learned
    after the first call; it is resolved when the counter is exposed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[Account, str, str, str]] = Counter()

    def attach(self, client: Any, account: Account, region: str) -> None:
        """Count the client's attempts and stop its retries once the scrape deadline passed."""
        service_model = client.meta.service_model
        known_codes = COMMON_ERROR_CODES | {shape.name for shape in service_model.error_shapes}

        def on_attempt(
            operation: Any,
            response: tuple[Any, Mapping[str, Any]] | None = None,
            caught_exception: BaseException | None = None,
            **_: Any,
        ) -> bool | None:
            _parsing.active = False
            outcome = _attempt_outcome(known_codes, operation, response, caught_exception)
            with self._lock:
                self._counts[(account, region, operation.name, outcome)] += 1
            deadline = getattr(_deadline, "value", None)
            if deadline is not None and time.monotonic() >= deadline:
                return False
            return None

        def on_parse(**_: Any) -> None:
            _parsing.active = True

        def on_unparsed(exception: BaseException, **kwargs: Any) -> None:
            """A reply that failed to parse raises before `needs-retry`: count it here."""
            if getattr(_parsing, "active", False):
                _parsing.active = False
                operation = str(kwargs["event_name"]).rsplit(".", 1)[-1]
                with self._lock:
                    self._counts[(account, region, operation, "invalid_response")] += 1

        service_id = service_model.service_id.hyphenize()
        client.meta.events.register_first(f"needs-retry.{service_id}", on_attempt)
        client.meta.events.register(f"before-parse.{service_id}", on_parse)
        client.meta.events.register(f"after-call-error.{service_id}", on_unparsed)

    def samples(
        self, accounts: Collection[Account] | None = None
    ) -> list[tuple[str, str, str, str, int]]:
        """(account_id, region, operation, outcome, count) of `accounts` (default: all), sorted."""
        with self._lock:
            counts = [
                (key, count)
                for key, count in self._counts.items()
                if accounts is None or key[0] in accounts
            ]
        rows = [
            (account.account_id or "", region, operation, outcome, count)
            for (account, region, operation, outcome), count in counts
        ]
        return sorted(rows)


class Account:
    """One set of credentials: its clients, one per region, and its lazily learned id."""

    def __init__(
        self,
        sessions: Sessions,
        account: AccountConfig,
        regions: tuple[str, ...],
        config: Config,
        counter: ApiCallCounter,
    ) -> None:
        client_config = botocore.config.Config(
            connect_timeout=config.connect_timeout_seconds,
            read_timeout=config.read_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": config.total_max_attempts},
            max_pool_connections=4,
            user_agent_extra=f"conformance-pack-exporter/{__version__}",
        )
        self.name = account.name
        self.account_id: str | None = account.account_id or None
        self._id_lock = threading.Lock()
        self._counter = counter
        endpoint_url = sessions.endpoint_url
        session = sessions.for_account(account, regions[0], self._instrument)
        self.clients: dict[str, Any] = {}
        for region in regions:
            client = session.client(
                "config", region_name=region, endpoint_url=endpoint_url, config=client_config
            )
            self.clients[region] = client
        self.sts_client = session.client(
            "sts", region_name=regions[0], endpoint_url=endpoint_url, config=client_config
        )
        for client in [*self.clients.values(), self.sts_client]:
            self._instrument(client)

    def _instrument(self, client: Any) -> None:
        restrict_to_iam_actions(client)
        self._counter.attach(client, self, client.meta.region_name)

    def observe_arn(self, arn: str) -> None:
        """Learn the account id from a resource ARN, saving the STS call."""
        if self.account_id is not None:
            return
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[4].isdigit():
            self.account_id = parts[4]

    def resolve_account_id(self) -> str:
        """The account id, asking STS once if no ARN told it yet; '' when it can't be learned."""
        if self.account_id is not None:
            return self.account_id
        with self._id_lock:
            if self.account_id is None:
                try:
                    identity = self.sts_client.get_caller_identity()
                    self.account_id = str(identity["Account"])
                except Exception as error:  # any failure: serve with account_id="" and retry
                    code = "invalid_response" if isinstance(error, KeyError) else error_code(error)
                    log.warning("cannot learn the account id", extra={"error_code": code})
        return self.account_id or ""


def pack_states(client: Any) -> tuple[str, ...]:
    """The states the installed botocore model knows, read at run time, never hard-coded."""
    shape = client.meta.service_model.shape_for("ConformancePackState")
    return tuple(shape.enum)


def _name_chunks(names: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if not names:
        yield ()
        return
    for start in range(0, len(names), NAMES_PER_CALL):
        yield names[start : start + NAMES_PER_CALL]


def read_all_pages(
    client: Any,
    operation: str,
    result_key: str,
    page_size: int,
    deadline: float,
    **arguments: Any,
) -> list[dict[str, Any]]:
    """Every page of a paginated operation at `page_size`, before `deadline`.

    `deadline` is a `time.monotonic()` value; it also stops botocore's retries (see
    `ApiCallCounter.attach`). A 2xx page without `result_key` (botocore parses a non-JSON
    body as `{}`) is an error, not an empty result.
    """
    items: list[dict[str, Any]] = []
    _deadline.value = deadline
    try:
        pages = client.get_paginator(operation).paginate(
            PaginationConfig={"PageSize": page_size}, **arguments
        )
        for page in pages:
            if result_key not in page:
                raise InvalidResponseError(f"the response has no {result_key}")
            items.extend(page[result_key])
            if time.monotonic() >= deadline and "NextToken" in page:
                raise DeadlineExceededError("the scrape deadline passed between pages")
    finally:
        _deadline.value = None
    return items


def fetch_pack_statuses(
    client: Any, names: tuple[str, ...], deadline: float
) -> list[dict[str, Any]]:
    """Every pack's status (or the named packs', 25 names a call) at 20 packs a page."""
    statuses: list[dict[str, Any]] = []
    for chunk in _name_chunks(names):
        arguments = {"ConformancePackNames": list(chunk)} if chunk else {}
        statuses += read_all_pages(client, OPERATION, RESULT_KEY, PAGE_SIZE, deadline, **arguments)
    return statuses
