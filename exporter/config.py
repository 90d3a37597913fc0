"""The configuration file: YAML read into frozen dataclasses, validated strictly on load.

Errors name the file, the key and the YAML line so a bad deployment fails at start with one
actionable message instead of a traceback or a silently ignored typo.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session

# REGION_PATTERN is re-exported: the syntax of a region name is checked before its existence.
from exporter.regions import REGION_PATTERN as REGION_PATTERN
from exporter.regions import region_problem

# ConfigError and read_config_text are re-exported: callers know them from this module.
from exporter.strict_yaml import ConfigError as ConfigError
from exporter.strict_yaml import ConfigNode, parse_yaml
from exporter.strict_yaml import read_config_text as read_config_text

ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
SESSION_NAME_PATTERN = re.compile(r"^[\w+=,.@-]{2,64}$")
EXTERNAL_ID_PATTERN = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
PROFILE_PATTERN = re.compile(r"^[\w+=,.@:/-]{1,128}$")
NAME_PATTERN = re.compile(r"^[\w.-]{1,64}$")
ROLE_NAME_PATTERN = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")  # an optional IAM path
ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")
# AWS caps a session of a role assumed with role credentials (role chaining) at one hour.
ROLE_CHAINING_MAX_SECONDS = 3600


@dataclass(frozen=True)
class AccountConfig:
    """One account to read: a role to assume, a named profile, or (neither) the default chain."""

    name: str = ""
    role_arn: str = ""
    external_id: str = ""
    session_name: str = "conformance-pack-exporter"
    duration_seconds: int = 3600
    profile: str = ""
    regions: tuple[str, ...] = ()

    @property
    def account_id(self) -> str:
        """The id in the role ARN; '' when it has to be learned."""
        return self.role_arn.split(":")[4] if self.role_arn else ""


@dataclass(frozen=True)
class ComplianceConfig:
    """Per-rule compliance: on by default, re-read from AWS at most every `interval_seconds`.

    The compliance calls cost more than the status ones, so by default they are not repeated
    on every scrape (0 does repeat them); the resource counts cost one more call per 25
    non-compliant rules and a series per rule, so they are opt-in.
    """

    enabled: bool = True
    interval_seconds: float = 300.0
    noncompliant_resources: bool = False


@dataclass(frozen=True)
class AggregatorConfig:
    """An AWS Config aggregator whose organisation-wide pack compliance is exported.

    It is read with the exporter's own client of `account` (a configured account's name or
    id; '' for the first account) in `region`, so no credentials exist only for it.
    """

    name: str
    region: str
    account: str = ""


@dataclass(frozen=True)
class OrganizationAccountsConfig:
    """The accounts of an AWS Organization, listed with the base credentials and each read
    through the same role; `regions` empty means the top-level ones."""

    role_name: str
    external_id: str = ""
    session_name: str = "conformance-pack-exporter"
    duration_seconds: int = 3600
    regions: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    refresh_interval_seconds: float = 3600.0

    def member(self, account_id: str, partition: str) -> AccountConfig:
        """How a discovered member account is read: through the role, in the given regions."""
        return AccountConfig(
            role_arn=f"arn:{partition}:iam::{account_id}:role/{self.role_name}",
            external_id=self.external_id,
            session_name=self.session_name,
            duration_seconds=self.duration_seconds,
            regions=self.regions,
        )


@dataclass(frozen=True)
class Config:
    """Everything the exporter can be told; the defaults are safe for a 10 s scrape timeout."""

    regions: tuple[str, ...] = ()
    allow_unknown_regions: bool = False  # for a region newer than the installed botocore
    accounts: tuple[AccountConfig, ...] = ()
    # Floods of unauthenticated /metrics or /probe requests read AWS once per target per 5 s.
    min_interval_seconds: float = 5.0
    organization_conformance_packs: bool = False
    conformance_packs: tuple[str, ...] = ()
    export_status_reason: bool = True
    concurrency: int = 64
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    total_max_attempts: int = 3
    default_scrape_timeout_seconds: float = 10.0
    scrape_timeout_offset_seconds: float = 0.5
    compliance: ComplianceConfig = dataclasses.field(default_factory=ComplianceConfig)
    aggregators: tuple[AggregatorConfig, ...] = ()
    organization_accounts: OrganizationAccountsConfig | None = None

    @property
    def base_account(self) -> AccountConfig | None:
        """The default credentials' account when no `accounts` are listed; None when they are.

        With discovery on, it is read in the discovery regions: it is one of the
        organisation's accounts, read with its own credentials rather than a role into itself.
        """
        if self.accounts:
            return None
        discovery = self.organization_accounts
        return AccountConfig(regions=discovery.regions if discovery else ())


@functools.cache
def model_name(shape: str) -> tuple[re.Pattern[str], int]:
    """A name's pattern and longest length in AWS Config's model, as the installed botocore
    has it: the API's own limits, so a name AWS would refuse fails at start instead."""
    model = botocore.session.get_session().get_service_model("config")
    metadata = model.shape_for(shape).metadata
    return re.compile(metadata["pattern"], re.ASCII), int(metadata["max"])


# How each key is read, in the order the unknown-key message lists them.
_Readers = Mapping[str, Callable[[ConfigNode], Any]]


def _model_name_reader(shape: str, what: str) -> Callable[[ConfigNode], str]:
    """The reader of a name the model's `shape` constrains."""

    def read(node: ConfigNode) -> str:
        pattern, max_length = model_name(shape)
        return node.string(pattern, what, max_length)

    return read


def _pack_names(node: ConfigNode) -> tuple[str, ...]:
    """The packs to read: valid ConformancePackNames, at most 1000 of them."""
    pattern, max_length = model_name("ConformancePackName")
    return node.strings(pattern, "conformance pack name", 1000, max_length)


def _read(node: ConfigNode, readers: _Readers, *, null_is_empty: bool = False) -> dict[str, Any]:
    """A mapping's values, each through its key's reader; unknown keys are errors."""
    values = node.mapping(tuple(readers), null_is_empty=null_is_empty)
    return {name: readers[name](value) for name, value in values.items()}


def _regions(allow_unknown: bool) -> Callable[[ConfigNode], tuple[str, ...]]:
    """The reader of a regions list: well-formed names botocore knows, unless told otherwise.

    The line is the unknown name's own; the key is the list's, as for its other item errors.
    """

    def read(node: ConfigNode) -> tuple[str, ...]:
        regions = node.strings(REGION_PATTERN, "region")
        for item, name in zip(node.sequence("regions"), regions, strict=True):
            problem = region_problem(name, allow_unknown=allow_unknown)
            if problem is not None:
                raise node.error(problem, item.node)
        return regions

    return read


def _external_id(node: ConfigNode) -> str:
    """An external id: checked like the others, but never quoted, since it is a secret."""
    text = node.string()
    if not EXTERNAL_ID_PATTERN.fullmatch(text):
        raise node.error("not a valid external id (2 to 1224 of letters, digits, _+=,.@:/-)")
    return text


def _account_readers(regions: Callable[[ConfigNode], tuple[str, ...]]) -> _Readers:
    """How an account's keys are read; `regions` is the top level's region reader."""
    return {
        "name": lambda node: node.string(NAME_PATTERN, "account name (letters, digits, _ . -)"),
        "role_arn": lambda node: node.string(ROLE_ARN_PATTERN, "IAM role ARN"),
        "external_id": _external_id,
        "session_name": lambda node: node.string(SESSION_NAME_PATTERN, "role session name"),
        "duration_seconds": lambda node: node.integer(900, 43200),
        "profile": lambda node: node.string(PROFILE_PATTERN, "profile name"),
        "regions": regions,
    }


def _accounts(node: ConfigNode, readers: _Readers) -> tuple[AccountConfig, ...]:
    """The accounts list: each one valid on its own, and no account listed twice."""
    accounts: dict[str, AccountConfig] = {}  # by key: accounts[1], …
    for item in node.sequence("accounts"):
        values = _read(item, readers)
        if "role_arn" in values and "profile" in values:
            raise item.error("give role_arn or profile, not both")
        if "role_arn" not in values and values.keys() & {
            "external_id",
            "session_name",
            "duration_seconds",
        }:
            raise item.error("external_id, session_name and duration_seconds need role_arn")
        account = AccountConfig(**values)
        _check_another_account(item, account, accounts)
        accounts[item.key] = account
    return tuple(accounts.values())


def _check_another_account(
    item: ConfigNode, account: AccountConfig, earlier: Mapping[str, AccountConfig]
) -> None:
    """Refuse an entry that is an earlier one's account again: its name or role ARN's id
    taken, or the same profile or default credentials read twice. It would be read and
    served twice, and `/probe?account=` could not tell the two apart. Two profiles of one
    account are only known from STS: start-up reads such an account once."""
    nodes = item.mapping(None)
    once = "list each account once, with all its regions"
    for key, other in earlier.items():
        if account.name and account.name in (other.name, other.account_id):
            raise nodes["name"].error(f"{account.name!r} names two accounts ({key} too)")
        if account.account_id and account.account_id in (other.name, other.account_id):
            raise nodes["role_arn"].error(
                f"account {account.account_id} is already read by {key}; {once}"
            )
        if account.profile and account.profile == other.profile:
            raise nodes["profile"].error(
                f"profile {account.profile!r} is already read by {key}; {once}"
            )
        if not (account.role_arn or account.profile or other.role_arn or other.profile):
            raise item.error(f"the default credentials are already read by {key}; {once}")


def _aggregator_readers(allow_unknown_regions: bool) -> _Readers:
    """How an aggregator's keys are read; its region is checked like every other one."""

    def region(node: ConfigNode) -> str:
        name = node.string(REGION_PATTERN, "region")
        problem = region_problem(name, allow_unknown=allow_unknown_regions)
        if problem is not None:
            raise node.error(problem)
        return name

    return {
        "name": _model_name_reader("ConfigurationAggregatorName", "aggregator name"),
        "region": region,
        "account": lambda node: node.string(NAME_PATTERN, "account name or id"),
    }


def _aggregators(node: ConfigNode, readers: _Readers) -> tuple[AggregatorConfig, ...]:
    """The aggregators list; whether the exporter reads their accounts is checked afterwards."""
    aggregators = []
    for item in node.sequence("aggregators"):
        values = _read(item, readers)
        for required in ("name", "region"):
            if required not in values:
                raise item.missing(required, "missing: an aggregator needs a name and a region")
        aggregators.append(AggregatorConfig(**values))
    return tuple(aggregators)


def _aggregator_account(config: Config, aggregator: AggregatorConfig) -> AccountConfig | None:
    """The configured account an aggregator is read with: named, or the first; None if none."""
    if not aggregator.account:
        return config.base_account or config.accounts[0]
    named = [a for a in config.accounts if aggregator.account in (a.name, a.account_id)]
    return named[0] if named else None


def _check_aggregators(root: ConfigNode, config: Config) -> None:
    """Every aggregator is read through a target: an account the exporter reads, in a region
    it reads that account in. Aggregators are few: their nodes are looked up again here."""
    if not config.aggregators:
        return
    items = root.mapping(None)["aggregators"].sequence("aggregators")
    seen: dict[tuple[str, str, str], str] = {}
    for item, aggregator in zip(items, config.aggregators, strict=True):
        nodes = item.mapping(None)
        account = _aggregator_account(config, aggregator)
        if account is None:
            known = [a.name or a.account_id for a in config.accounts if a.name or a.account_id]
            raise nodes["account"].error(
                f"no account in `accounts` is named {aggregator.account!r} or has that id"
                f" in its role ARN (known: {', '.join(known) or 'none'})"
            )
        label = account.name or account.account_id
        who = f"account {label!r}" if label else "the default credentials' account"
        regions = account.regions or config.regions
        if not regions:
            raise nodes["region"].error(
                f"{who} is read in the SDK's region, unknown until start; list its regions"
                " in `regions`"
            )
        if aggregator.region not in regions:
            where = "the top-level `regions`"
            if account.regions:
                where = "its `regions`" if config.accounts else "`organization_accounts.regions`"
            raise nodes["region"].error(
                f"{who} is not read in region {aggregator.region!r}; add the region to {where}"
            )
        key = (aggregator.name, label, aggregator.region)
        if key in seen:
            raise item.error(f"the same aggregator as {seen[key]}")
        seen[key] = item.key


def _organization_accounts(
    node: ConfigNode, regions: Callable[[ConfigNode], tuple[str, ...]]
) -> OrganizationAccountsConfig:
    """The discovery settings: a role name at least; excluded ids are account ids."""
    readers: _Readers = {
        "role_name": lambda item: item.string(ROLE_NAME_PATTERN, "IAM role name"),
        "external_id": _external_id,
        "session_name": lambda item: item.string(SESSION_NAME_PATTERN, "role session name"),
        "duration_seconds": lambda item: item.integer(900, 43200),
        "regions": regions,
        "exclude": lambda item: item.strings(ACCOUNT_ID_PATTERN, "account id (12 digits)"),
        "refresh_interval_seconds": lambda item: item.seconds(1, 86400),
    }
    values = _read(node, readers)
    if "role_name" not in values:
        raise node.missing("role_name", "missing: the role to assume in every member account")
    return OrganizationAccountsConfig(**values)


_COMPLIANCE: _Readers = {
    "enabled": ConfigNode.boolean,
    "interval_seconds": lambda node: node.seconds(0, 86400),
    "noncompliant_resources": ConfigNode.boolean,
}


def _config_readers(allow_unknown_regions: bool) -> _Readers:
    """How the top-level keys are read; the region check depends on one of them."""
    regions = _regions(allow_unknown_regions)
    accounts = _account_readers(regions)
    aggregators = _aggregator_readers(allow_unknown_regions)
    return {
        "regions": regions,
        "allow_unknown_regions": ConfigNode.boolean,
        "accounts": lambda node: _accounts(node, accounts),
        "min_interval_seconds": lambda node: node.seconds(0, 3600),
        "organization_conformance_packs": ConfigNode.boolean,
        "conformance_packs": _pack_names,
        "export_status_reason": ConfigNode.boolean,
        "concurrency": lambda node: node.integer(1, 256),
        "connect_timeout_seconds": lambda node: node.seconds(0.1, 60),
        "read_timeout_seconds": lambda node: node.seconds(0.1, 120),
        "total_max_attempts": lambda node: node.integer(1, 10),
        "default_scrape_timeout_seconds": lambda node: node.seconds(1, 600),
        "scrape_timeout_offset_seconds": lambda node: node.seconds(0, 10),
        "compliance": lambda node: ComplianceConfig(**_read(node, _COMPLIANCE)),
        "aggregators": lambda node: _aggregators(node, aggregators),
        "organization_accounts": lambda node: _organization_accounts(node, regions),
    }


def _allows_unknown_regions(root: ConfigNode) -> bool:
    """Whether the file sets allow_unknown_regions: true, wherever the key is in the file.

    A bad value is reported before anything else: the regions it was meant to allow would
    otherwise be blamed. A bad mapping is left for the full read.
    """
    try:
        node = root.mapping(None, null_is_empty=True).get("allow_unknown_regions")
    except ConfigError:
        return False
    return node is not None and node.boolean()


def _check_role_chaining(
    root: ConfigNode, config: Config, base_is_role: Callable[[], bool | None]
) -> None:
    """Refuse sessions longer than AWS allows a role assumed with role credentials (role
    chaining): every AssumeRole would fail. Whether the exporter's own credentials are a role
    is asked only when a session is that long (it may read instance metadata)."""
    nodes = root.mapping(None, null_is_empty=True)
    entries = []
    if config.accounts:
        items = nodes["accounts"].sequence("accounts")
        entries = list(zip(items, (a.duration_seconds for a in config.accounts), strict=True))
    if config.organization_accounts is not None:
        entries.append(
            (nodes["organization_accounts"], config.organization_accounts.duration_seconds)
        )
    too_long = [item for item, duration in entries if duration > ROLE_CHAINING_MAX_SECONDS]
    if too_long and base_is_role():
        raise (
            too_long[0]
            .mapping(None)["duration_seconds"]
            .error(
                f"the exporter's own credentials are a role session, and AWS caps a role assumed"
                f" with them (role chaining) at {ROLE_CHAINING_MAX_SECONDS} seconds: every"
                f" AssumeRole would fail; lower it to {ROLE_CHAINING_MAX_SECONDS}"
            )
        )


def parse_config(
    text: str, path: str, base_is_role: Callable[[], bool | None] = lambda: None
) -> Config:
    """Parse and validate config text; `path` is only used in error messages.

    `base_is_role` tells whether the exporter's own credentials are a role session (None:
    unknown), for the one check that depends on them.
    """
    root = parse_yaml(text, path)
    readers = _config_readers(_allows_unknown_regions(root))
    config = Config(**_read(root, readers, null_is_empty=True))
    _check_aggregators(root, config)
    _check_role_chaining(root, config, base_is_role)
    return config


def load_config(path: str, base_is_role: Callable[[], bool | None] = lambda: None) -> Config:
    """Read and validate the config file at `path` (see parse_config)."""
    return parse_config(read_config_text(path), path, base_is_role)
