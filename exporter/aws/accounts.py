"""Credentials and clients: botocore sessions shared per set of credentials, assumed roles that
renew, each account's clients, and the (account, region) targets that succeed or fail alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session
import botocore.utils

from exporter import __version__
from exporter.aws.errors import error_code
from exporter.aws.hooks import ApiCallCounter, fit_client
from exporter.config import AccountConfig, Config

log = logging.getLogger(__name__)


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

    def default_region(self) -> str | None:
        """The SDK's region: botocore reads AWS_DEFAULT_REGION and profiles, not AWS_REGION."""
        region = self.base.get_config_variable("region")
        return str(region) if region else None

    def for_account(
        self, account: AccountConfig, region: str, fit: Callable[[Any], None]
    ) -> boto3.Session:
        """The session an account's clients come from; `fit` gets every STS client.

        A role is assumed through STS in `region` (the account's first), not the global endpoint.
        """
        if account.profile:
            core = self._new(profile=account.profile)
        elif account.role_arn:
            core = self._new()
            provider = _ProvidedCredentials(self._assumed_role(account, region, fit))
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
        self, account: AccountConfig, region: str, fit: Callable[[Any], None]
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
            fit(client)
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


class Account:
    """One set of credentials: its clients, one per region, and its lazily learned id."""

    def __init__(
        self,
        sessions: Sessions,
        account: AccountConfig,
        regions: tuple[str, ...],
        config: Config,
        counter: ApiCallCounter,
        allowed_actions: frozenset[str],
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

        def fit(client: Any) -> None:
            fit_client(client, self, counter, allowed_actions)

        endpoint_url = sessions.endpoint_url
        session = sessions.for_account(account, regions[0], fit)
        self._session = session
        self.clients: dict[str, Any] = {
            region: session.client(
                "config", region_name=region, endpoint_url=endpoint_url, config=client_config
            )
            for region in regions
        }
        self.sts_client = session.client(
            "sts", region_name=regions[0], endpoint_url=endpoint_url, config=client_config
        )
        for client in [*self.clients.values(), self.sts_client]:
            fit(client)

    def observe_arn(self, arn: str) -> None:
        """Learn the account id from a resource ARN, saving the STS call."""
        if self.account_id is not None:
            return
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[4].isdigit():
            self.account_id = parts[4]

    def warm_up(self) -> None:
        """Fetch credentials (AssumeRole, web identity) before any scrape needs them, so the
        first scrapes after a start don't time out; no Config call. The account id is left to
        the first read, whose pack ARNs usually tell it without an STS call.
        """
        credentials = self._session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        credentials.get_frozen_credentials()

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


@dataclass(frozen=True)
class Target:
    """One region of one account: the unit that succeeds or fails on its own."""

    account: Account
    region: str

    @property
    def client(self) -> Any:
        """The account's AWS Config client in this region."""
        return self.account.clients[self.region]


def build_targets(
    config: Config,
    sessions: Sessions,
    counter: ApiCallCounter,
    allowed_actions: frozenset[str],
    default_regions: tuple[str, ...],
) -> list[Target]:
    """One target per (account, region); without `accounts`, the default credentials' account.

    An account's regions are its own, else the config's, else `default_regions` (the SDK's).

    Raises ValueError when an account ends up with no region to read.
    """
    targets = []
    for account_config in config.accounts or (AccountConfig(),):
        regions = account_config.regions or config.regions or default_regions
        if not regions:
            raise ValueError(
                "no AWS region: set `regions` in the config file, AWS_REGION or AWS_DEFAULT_REGION"
            )
        account = Account(sessions, account_config, regions, config, counter, allowed_actions)
        targets += [Target(account, region) for region in regions]
    return targets


class UnknownTargetError(LookupError):
    """A probe asked for an account or region that is not configured."""


def select_targets(targets: Sequence[Target], account: str, region: str = "") -> list[Target]:
    """The targets `/probe` asks for: an account by id or name, optionally one region."""
    if not account:
        raise UnknownTargetError("the account parameter is required")
    chosen = [t for t in targets if account in (t.account.account_id, t.account.name)]
    if not chosen and any(target.account.account_id is None for target in targets):
        # Profile and default-chain accounts learn their id from their first read; ask
        # STS now (once per account, ever) rather than turn away a valid id.
        chosen = [t for t in targets if t.account.resolve_account_id() == account]
    if not chosen:
        known = sorted({t.account.name or t.account.account_id or "" for t in targets})
        raise UnknownTargetError(f"unknown account {account!r}; configured: {known}")
    if region:
        regions = sorted({target.region for target in chosen})
        chosen = [target for target in chosen if target.region == region]
        if not chosen:
            raise UnknownTargetError(f"{account!r} has no region {region!r}; it has {regions}")
    return chosen
