"""botocore sessions shared per set of credentials, and assumed roles that renew late in
their session, all with the one client configuration that bounds their waits.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session
import botocore.utils

from exporter import __version__
from exporter.aws.client_classes import (
    CompactEmitter,
    needed_events,
    share_client_classes,
)
from exporter.aws.errors import assume_role_hint, error_code
from exporter.aws.hooks import inherit_deadline
from exporter.aws.refresh_windows import fit_refresh_windows, quiet_botocore_refresh_warning
from exporter.config import AccountConfig, Config
from exporter.log import EveryInterval

log = logging.getLogger(__name__)

# botocore's credential `method`s: role sessions, and long-term keys (unless a session token
# comes with them); any other method (custom-process, login, …) could be either.
ROLE_METHODS = frozenset(
    {"assume-role", "assume-role-with-web-identity", "iam-role", "container-role", "sso"}
)
STATIC_METHODS = frozenset(
    {"env", "shared-credentials-file", "config-file", "explicit", "boto-config"}
)
# A failing refresh is logged once a minute per account, with the count of those held back.
REFRESH_FAILURE_LOG_SECONDS = 60.0


@functools.cache
def _client_config(
    connect_timeout: float, read_timeout: float, total_max_attempts: int
) -> botocore.config.Config:
    return botocore.config.Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": total_max_attempts},
        max_pool_connections=4,
        # Every call's parameters are built by the exporter and checked by tests.
        parameter_validation=False,
        user_agent_extra=f"conformance-pack-exporter/{__version__}",
    )


def client_config(config: Config) -> botocore.config.Config:
    """The one client configuration of every client: Config, STS (GetCallerIdentity and the
    AssumeRole of a credential refresh) and Organizations, so none waits botocore's default
    60 s per read, 5 times over, while a scrape or an account's refresh lock waits on it."""
    return _client_config(
        config.connect_timeout_seconds, config.read_timeout_seconds, config.total_max_attempts
    )


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


def _utc_now() -> datetime:
    """The clock assumed-role credentials check their expiry against before every request.

    botocore's default reads the local time zone through dateutil on each check, 6 % of the
    instructions of a call; the expiry is an aware datetime, so UTC compares the same.
    """
    return datetime.now(timezone.utc)


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
    a fraction of a megabyte, and less with every session's clients sharing one class per
    service and a role's session holding only the handlers its clients use. `base` holds the
    default credential chain (IRSA included).
    """

    def __init__(
        self,
        base: botocore.session.Session | None = None,
        endpoint_url: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`now` replaces botocore's clock for credential expiry (tests move it forward)."""
        self.base = _fast_timestamps(base or botocore.session.get_session())
        share_client_classes(self.base)
        self.endpoint_url = endpoint_url
        self._now = now or _utc_now
        self._paths_lock = threading.Lock()
        quiet_botocore_refresh_warning()

    def base_is_role(self) -> bool | None:
        """Whether the base credentials are a role session, from how botocore found them (no
        AWS call): AWS caps a role assumed with them (role chaining) at one hour. None when
        unknown: no credentials, or a method that could be either."""
        try:
            credentials = self.base.get_credentials()
        except botocore.exceptions.BotoCoreError:
            return None
        method = getattr(credentials, "method", None)
        if method in ROLE_METHODS:
            return True
        if method in STATIC_METHODS and credentials is not None and not credentials.token:
            return False
        return None

    def default_region(self) -> str | None:
        """The SDK's region: botocore reads AWS_DEFAULT_REGION and profiles, not AWS_REGION."""
        region = self.base.get_config_variable("region")
        return str(region) if region else None

    def partition(self, region: str) -> str:
        """The partition of `region` (aws, aws-cn, …), for ARNs; "aws" for a region newer
        than botocore (allow_unknown_regions)."""
        try:
            return str(self.base.get_partition_for_region(region))
        except botocore.exceptions.UnknownRegionError:
            return "aws"

    def for_account(
        self,
        account: AccountConfig,
        region: str,
        fit: Callable[[Any], None],
        config: botocore.config.Config,
    ) -> boto3.Session:
        """The session an account's clients come from; `fit` gets every STS client, made
        with `config` like the account's other clients.

        A role is assumed through STS in `region` (the account's first), not the global endpoint.
        """
        if account.profile:
            core = self._new(profile=account.profile)
        elif account.role_arn:
            core = self._new()
            provider = _ProvidedCredentials(self._assumed_role(account, region, fit, config))
            resolver = botocore.credentials.CredentialResolver(providers=[provider])
            core.register_component("credential_provider", resolver)
        else:
            core = self.base
        return self._boto3(core)

    def _boto3(self, core: botocore.session.Session) -> boto3.Session:
        """boto3's session of `core`. boto3 appends its data directory to the loader's search
        paths with each session, and every account shares the base loader: kept once rather
        than once per account ever made (discovery makes them as long as it runs)."""
        with self._paths_lock:
            paths = core.get_component("data_loader").search_paths
            known = len(paths)
            session = boto3.Session(botocore_session=core)
            paths[known:] = [path for path in paths[known:] if path not in paths[:known]]
        return session

    def _new(self, profile: str | None = None) -> botocore.session.Session:
        """A session on the shared loader; a profile's keeps every built-in handler, as its
        credentials may need other services' clients (SSO). A role's session reads its
        settings (retries, endpoints, …) from the base session's store: it has no profile of
        its own, so they are the same, and a store is ~20 KB per account."""
        if profile:
            core = botocore.session.Session(profile=profile, event_hooks=CompactEmitter())
        else:
            core = botocore.session.Session(
                include_builtin_handlers=False, event_hooks=needed_events()
            )
            core.register_component("config_store", self.base.get_component("config_store"))
        core.register_component("data_loader", self.base.get_component("data_loader"))
        share_client_classes(core)
        return _fast_timestamps(core)

    def _assumed_role(
        self,
        account: AccountConfig,
        region: str,
        fit: Callable[[Any], None],
        config: botocore.config.Config,
    ) -> botocore.credentials.Credentials:
        """Credentials that assume the role on first use and renew once per session, late
        in it; a failure is logged here, once a minute, with what to do about it."""
        extra: dict[str, Any] = {
            "RoleSessionName": account.session_name,
            "DurationSeconds": account.duration_seconds,
        }
        if account.external_id:
            extra["ExternalId"] = account.external_id
        failures = EveryInterval(REFRESH_FAILURE_LOG_SECONDS)

        def sts_client(service_name: str, **settings: Any) -> Any:
            client = self.base.create_client(
                service_name,
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=config,
                **settings,
            )
            fit(client)
            inherit_deadline(client, "AssumeRole")
            return client

        def refresh() -> dict[str, Any]:
            try:
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
            except Exception as error:
                held_back = failures.allow()
                if held_back is not None:
                    log.warning(
                        "assuming the role failed",
                        extra={
                            "account_id": account.account_id,
                            "error_code": error_code(error),
                            "hint": assume_role_hint(error),
                            "repeats_not_logged": held_back,
                        },
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                raise

        credentials = botocore.credentials.DeferredRefreshableCredentials(
            refresh_using=refresh, method="assume-role", time_fetcher=self._now
        )
        fit_refresh_windows(credentials, account.duration_seconds)
        return credentials
