"""The accounts of an AWS Organization, as `organizations:ListAccounts` lists them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.aws.pages import read_all_pages
from exporter.deadline import Deadline

IAM_ACTIONS = frozenset({"organizations:ListAccounts"})  # with the base credentials only
OPERATION = "list_accounts"
RESULT_KEY = "Accounts"
PAGE_SIZE = 20  # the operation's maximum
ACTIVE = "ACTIVE"


def is_active(account: Mapping[str, Any]) -> bool:
    """Whether the account can be read: `State` is ACTIVE, or `Status` where no `State` is
    given (the older field). Any other value, known to the model or newer, is not read."""
    return bool(account.get("State", account.get("Status")) == ACTIVE)


def list_active_accounts(client: Any, deadline: Deadline) -> dict[str, str]:
    """The organisation's active accounts, in the order AWS lists them: id → name ('' where
    AWS gives none). The names come with the pages discovery reads anyway: no call of their
    own, and they label the accounts (`aws_config_account_info`)."""
    accounts = read_all_pages(client, OPERATION, RESULT_KEY, PAGE_SIZE, deadline)
    return {
        str(account["Id"]): str(account.get("Name", ""))
        for account in accounts
        if is_active(account) and "Id" in account
    }
