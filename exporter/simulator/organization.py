"""Organization conformance packs, as stored and as served: the management account sees each
pack's status and every member account's, read through the two organization operations."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass

from exporter.simulator.errors import client_error
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.service_model import Params, conforms, enum_values

STATUSES = "DescribeOrganizationConformancePackStatuses"
MEMBERS = "GetOrganizationConformancePackDetailedStatus"


@dataclass(frozen=True)
class MemberPack:
    """One member account's copy of an organization pack; failures carry ErrorCode/Message.

    `status` is an OrganizationResourceDetailedStatus of the Config model.
    """

    account: str
    pack_name: str
    status: str
    _: KW_ONLY
    updated_at: float
    error_code: str = ""
    error_message: str = ""

    def __post_init__(self) -> None:
        _check_status(self.status, "OrganizationResourceDetailedStatus", self.account)
        if not conforms("AccountId", self.account):
            raise ValueError(f"member account {self.account!r} is not a 12-digit account id")
        if not conforms("StringWithCharLimit256", self.pack_name):
            raise ValueError(f"member pack name {self.pack_name!r} is empty or too long")


@dataclass(frozen=True)
class OrganizationPack:
    """An organization conformance pack in the management account, with its member accounts.

    `status` is an OrganizationResourceStatus of the Config model.
    """

    name: str
    status: str
    _: KW_ONLY
    updated_at: float
    members: tuple[MemberPack, ...] = ()
    error_code: str = ""
    error_message: str = ""

    def __post_init__(self) -> None:
        _check_status(self.status, "OrganizationResourceStatus", self.name)
        if not conforms("OrganizationConformancePackName", self.name):
            raise ValueError(
                f"organization pack name {self.name!r} does not match the"
                " OrganizationConformancePackName shape"
            )
        accounts = Counter(member.account for member in self.members)
        duplicates = sorted(account for account, seen in accounts.items() if seen > 1)
        if duplicates:
            raise ValueError(f"{self.name}: member accounts must be unique: {duplicates}")


class OrganizationShelf:
    """The organization packs of one management (account, region), sorted for paging."""

    def __init__(self, account: str, region: str, packs: Iterable[OrganizationPack]) -> None:
        self.account = account
        self.region = region
        self.packs = tuple(sorted(packs, key=lambda pack: pack.name))
        self.names = tuple(pack.name for pack in self.packs)
        duplicates = sorted(name for name, seen in Counter(self.names).items() if seen > 1)
        if duplicates:
            raise ValueError(f"organization pack names must be unique per region: {duplicates}")

    def find(self, name: str) -> OrganizationPack:
        """The pack called `name`, or the error AWS answers for an unknown one."""
        position = bisect.bisect_left(self.names, name)
        if position == len(self.names) or self.names[position] != name:
            raise client_error(
                "NoSuchOrganizationConformancePackException",
                "One or more organization conformance packs with specified names are not"
                " present. Ensure your names are correct and try your request again later.",
            )
        return self.packs[position]


def organization_statuses(
    payload: dict[str, object], shelf: OrganizationShelf | None, tokens: PageTokens
) -> dict[str, object]:
    """DescribeOrganizationConformancePackStatuses, from the management account only."""
    params = Params(STATUSES, payload)
    shelf = _management(shelf)
    names = sorted(set(params.strings("OrganizationConformancePackNames")))
    packs = [shelf.find(name) for name in names] if names else list(shelf.packs)
    query = query_key(STATUSES, shelf.account, shelf.region, names)
    start = after([pack.name for pack in packs], tokens.read(params.string("NextToken"), query))
    page, more = take(packs[start:], params.page_size)
    result: dict[str, object] = {
        "OrganizationConformancePackStatuses": [
            _with_error(
                {
                    "OrganizationConformancePackName": pack.name,
                    "Status": pack.status,
                    "LastUpdateTime": round(pack.updated_at, 3),
                },
                pack.error_code,
                pack.error_message,
            )
            for pack in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1].name)
    return result


def member_statuses(
    payload: dict[str, object], shelf: OrganizationShelf | None, tokens: PageTokens
) -> dict[str, object]:
    """GetOrganizationConformancePackDetailedStatus: one pack's member accounts, by account."""
    params = Params(MEMBERS, payload)
    shelf = _management(shelf)
    name = params.string("OrganizationConformancePackName") or ""
    members = sorted(shelf.find(name).members, key=lambda member: member.account)
    account = params.string("Filters", "AccountId")
    status = params.string("Filters", "Status")
    query = query_key(MEMBERS, shelf.account, shelf.region, name, account, status)
    accounts = [member.account for member in members]
    start = after(accounts, tokens.read(params.string("NextToken"), query))
    page, more = take(
        (
            member
            for member in members[start:]
            if account in (None, member.account) and status in (None, member.status)
        ),
        params.page_size,
    )
    result: dict[str, object] = {
        "OrganizationConformancePackDetailedStatuses": [
            _with_error(
                {
                    "AccountId": member.account,
                    "ConformancePackName": member.pack_name,
                    "Status": member.status,
                    "LastUpdateTime": round(member.updated_at, 3),
                },
                member.error_code,
                member.error_message,
            )
            for member in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1].account)
    return result


def _management(shelf: OrganizationShelf | None) -> OrganizationShelf:
    """Only the management account (one with organization packs somewhere) may ask."""
    if shelf is None:
        raise client_error(
            "OrganizationAccessDeniedException",
            "This action can only be performed if you are a registered delegated administrator"
            " for AWS Config with permissions to call ListDelegatedAdministrators API.",
        )
    return shelf


def _with_error(status: dict[str, object], code: str, message: str) -> dict[str, object]:
    if code:
        status["ErrorCode"] = code
    if message:
        status["ErrorMessage"] = message
    return status


def _check_status(status: str, shape: str, owner: str) -> None:
    allowed = enum_values(shape)
    if status not in allowed:
        raise ValueError(f"{owner}: status {status!r} is not one of the model's {allowed}")
