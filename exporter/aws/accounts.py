"""Accounts as the collectors read them: each account's clients, made on first use from its
session, and its id, learned from an ARN or asked of STS once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from time import monotonic
from typing import Any, Literal

import boto3
import botocore.exceptions

from exporter.aws.client_classes import share_client_parts
from exporter.aws.credentials import Sessions, client_config
from exporter.aws.errors import error_code
from exporter.aws.hooks import ApiCallCounter, Owner, fit_client
from exporter.config import AccountConfig, Config

log = logging.getLogger(__name__)

# Where an account comes from: the `source` label of the accounts gauge.
CONFIGURED = "config"
DISCOVERED = "organization"
SOURCES = (CONFIGURED, DISCOVERED)
# How long `/probe` and `/sd` wait before asking STS again for an id it failed to tell: a
# probe of an id no account has asks every account whose id is unknown, at every request.
ID_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class _Clients:
    """What one account reads with."""

    session: boto3.Session
    config: dict[str, Any]


class Account:
    """One set of credentials: its clients, one per region, and its lazily learned id.

    `source` says where the account came from: "config", or "organization" (discovered).
    """

    def __init__(
        self,
        sessions: Sessions,
        account: AccountConfig,
        regions: tuple[str, ...],
        config: Config,
        counter: ApiCallCounter,
        allowed_actions: frozenset[str],
        source: str = CONFIGURED,
    ) -> None:
        self._client_config = client_config(config)
        self.name = account.name
        self.account_id: str | None = account.account_id or None
        self.regions = regions
        self.source = source
        self._sessions = sessions
        self._config = account
        self._id_lock = threading.Lock()
        self._id_failed_at: float | None = None
        self._counter = counter
        self._allowed_actions = allowed_actions
        self._connected: _Clients | None = None
        self._sts: Any = None
        self._connect_lock = threading.RLock()

    def _fit(self, client: Any, owner: Owner | None = None) -> None:
        share_client_parts(client)
        fit_client(client, owner or self, self._counter, self._allowed_actions)

    def _client(
        self,
        session: boto3.Session,
        service: Literal["config", "sts", "organizations"],
        region: str,
        owner: Owner | None = None,
    ) -> Any:
        client = session.client(
            service,
            region_name=region,
            endpoint_url=self._sessions.endpoint_url,
            config=self._client_config,
        )
        self._fit(client, owner)
        return client

    def _connect(self) -> _Clients:
        session = self._sessions.for_account(
            self._config, self.regions[0], self._fit, self._client_config
        )
        clients = {region: self._client(session, "config", region) for region in self.regions}
        return _Clients(session, clients)

    def _clients(self) -> _Clients:
        """Sessions and clients are made on first use (the warm-up's, at start, in the
        background): at a few hundred targets, making them all first delays listening by
        seconds. Once made, they are read without the lock: every AWS call passes here."""
        connected = self._connected
        if connected is not None:
            return connected
        with self._connect_lock:
            if self._connected is None:
                self._connected = self._connect()
            return self._connected

    @property
    def clients(self) -> dict[str, Any]:
        """The account's AWS Config client per region."""
        return self._clients().config

    @property
    def sts_client(self) -> Any:
        """The account's STS client, in its first region, made on first use: most accounts
        learn their id from an ARN and never need one."""
        sts = self._sts
        if sts is not None:
            return sts
        with self._connect_lock:
            if self._sts is None:
                self._sts = self._client(self._clients().session, "sts", self.regions[0])
            return self._sts

    def client_for(self, service: Literal["sts", "organizations"], owner: Owner) -> Any:
        """A new client with this account's credentials, in its first region, whose calls
        are counted under `owner`: work done with them for another job (listing the
        organisation's accounts) is reported apart from this account's own reads."""
        return self._client(self._clients().session, service, self.regions[0], owner)

    def observe_arn(self, arn: str) -> None:
        """Learn the account id from a resource ARN, saving the STS call."""
        if self.account_id is not None:
            return
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[4].isdigit():
            self.account_id = parts[4]

    def set_regions(self, regions: tuple[str, ...]) -> None:
        """Read `regions` from now on, keeping the session, its credentials and the clients of
        the regions that stay: a reload that adds or drops a region of this account changes
        nothing else of it. A client for a new region is made at once if the others were."""
        with self._connect_lock:
            connected = self._connected
            if connected is not None:
                kept = connected.config
                self._connected = _Clients(
                    connected.session,
                    {
                        region: kept.get(region)
                        or self._client(connected.session, "config", region)
                        for region in regions
                    },
                )
            self.regions = regions

    def warm_up(self) -> None:
        """Fetch credentials (AssumeRole, web identity) before any scrape needs them, so the
        first scrapes after a start don't time out; no Config call. The account id is left to
        the first read, whose pack ARNs usually tell it without an STS call.
        """
        credentials = self._clients().session.get_credentials()
        if credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        credentials.get_frozen_credentials()

    @property
    def assumes_role(self) -> bool:
        """Whether the account is read through a role, whose refresh logs its own failures."""
        return bool(self._config.role_arn)

    def resolve_account_id(self, sts: Any = None, retry_seconds: float = 0.0) -> str:
        """The account id, asking STS once if no ARN told it yet; '' when it can't be learned.
        After a failure STS is asked again once `retry_seconds` have passed (a scrape: on
        the next call; `/probe` and `/sd`: `ID_RETRY_SECONDS`).

        `sts` is another job's client of this account (see `client_for`), default its own.
        """
        if self.account_id is not None:
            return self.account_id
        with self._id_lock:
            failed_at = self._id_failed_at
            if self.account_id is None and (
                failed_at is None or monotonic() - failed_at >= retry_seconds
            ):
                try:
                    identity = (sts or self.sts_client).get_caller_identity()
                    self.account_id = str(identity["Account"])
                except Exception as error:  # any failure: serve with account_id="" and retry
                    self._id_failed_at = monotonic()
                    code = "invalid_response" if isinstance(error, KeyError) else error_code(error)
                    log.warning("cannot learn the account id", extra={"error_code": code})
        return self.account_id or ""
