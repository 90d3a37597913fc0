"""The accounts the configuration names, read and checked: each entry on its own, no account
listed twice, discovery's settings, and sessions no longer than role chaining allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from exporter.config_types import (
    AccountConfig,
    Config,
    OrganizationAccountsConfig,
    Readers,
    read_mapping,
)
from exporter.strict_yaml import ConfigNode

ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
SESSION_NAME_PATTERN = re.compile(r"^[\w+=,.@-]{2,64}$")
EXTERNAL_ID_PATTERN = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
PROFILE_PATTERN = re.compile(r"^[\w+=,.@:/-]{1,128}$")
NAME_PATTERN = re.compile(r"^[\w.-]{1,64}$")
ROLE_NAME_PATTERN = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")  # an optional IAM path
ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")
# AWS caps a session of a role assumed with role credentials (role chaining) at one hour.
ROLE_CHAINING_MAX_SECONDS = 3600


def _external_id(node: ConfigNode) -> str:
    """An external id: checked like the others, but never quoted, since it is a secret."""
    text = node.string()
    if not EXTERNAL_ID_PATTERN.fullmatch(text):
        raise node.error("not a valid external id (2 to 1224 of letters, digits, _+=,.@:/-)")
    return text


def account_readers(regions: Callable[[ConfigNode], tuple[str, ...]]) -> Readers:
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


def read_accounts(node: ConfigNode, readers: Readers) -> tuple[AccountConfig, ...]:
    """The accounts list: each one valid on its own, and no account listed twice."""
    accounts: dict[str, AccountConfig] = {}  # by key: accounts[1], …
    for item in node.sequence("accounts"):
        values = read_mapping(item, readers)
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


def read_organization_accounts(
    node: ConfigNode, regions: Callable[[ConfigNode], tuple[str, ...]]
) -> OrganizationAccountsConfig:
    """The discovery settings: a role name at least; excluded ids are account ids."""
    readers: Readers = {
        "role_name": lambda item: item.string(ROLE_NAME_PATTERN, "IAM role name"),
        "external_id": _external_id,
        "session_name": lambda item: item.string(SESSION_NAME_PATTERN, "role session name"),
        "duration_seconds": lambda item: item.integer(900, 43200),
        "regions": regions,
        "exclude": lambda item: item.strings(ACCOUNT_ID_PATTERN, "account id (12 digits)"),
        "refresh_interval_seconds": lambda item: item.seconds(1, 86400),
    }
    values = read_mapping(node, readers)
    if "role_name" not in values:
        raise node.missing("role_name", "missing: the role to assume in every member account")
    return OrganizationAccountsConfig(**values)


def check_role_chaining(
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
