"""exporter/discovery.py: which of an organisation's accounts are read, and how, driven through
botocore's Stubber on the base credentials' Organizations and STS clients. The exporter process
against moto's Organizations is in tests/test_discovery_integration.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.stub import Stubber

from exporter.aws.packs import fetch_pack_statuses
from exporter.aws.targets import Target
from exporter.config import AccountConfig, Config, OrganizationAccountsConfig
from exporter.deadline import Deadline
from exporter.discovery import AccountDiscovery
from exporter.plan import Basis, build
from exporter.scrape import Scraper
from exporter.simulator import ConfigSimulator
from exporter.warm_up import TargetUpdates
from tests.conftest import ACCOUNT, fake_credentials_sessions, wait_for

REGIONS = ("us-east-1", "eu-west-1")
MEMBER_A, MEMBER_B, MEMBER_C = "210987654321", "333333333333", "444444444444"


def listed(
    account_id: str,
    state: str | None = "ACTIVE",
    status: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """An account as ListAccounts returns it; `State` is the current field, `Status` the old.
    Its name is `account-<id>` unless given ('' leaves it out)."""
    account: dict[str, Any] = {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::{ACCOUNT}:account/o-example/{account_id}",
        "Email": f"{account_id}@example.com",
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }
    if name != "":
        account["Name"] = name or f"account-{account_id}"
    if state is not None:
        account["State"] = state
    if status is not None:
        account["Status"] = status
    return account


class Discovery:
    """A discovery as the CLI builds it, applying its lists through the path every change of
    targets takes (warm-up, then the scraper, then forgetting), with its stubs and the target
    lists it applied."""

    def __init__(self, config: Config, simulator: ConfigSimulator) -> None:
        """Members' roles are assumed through `simulator` when they are warmed up."""
        basis = Basis(fake_credentials_sessions(simulator.url), ())
        self.counter = basis.counter
        self.scraper = Scraper((), (), basis.counter)
        updates = TargetUpdates(self.scraper, basis.counter.forget, concurrency=4)
        self.applied: list[list[Target]] = []
        self.names_applied: list[dict[str, str]] = []  # the names served as each list applies

        def apply(targets: Sequence[Target]) -> None:
            self.applied.append(list(targets))
            self.names_applied.append(dict(self.discovery.account_names()))
            updates.apply(targets)

        plan = self.built = build(config, basis, apply, ask_aws=False)
        self.basis = basis
        self.initial = plan.targets
        self.scraper.set_targets(self.initial)
        built = plan.discovery
        assert isinstance(built, AccountDiscovery)
        updates.keep = frozenset({built.account})
        self.discovery = built
        self.organizations = Stubber(built.organizations)
        self.sts = Stubber(built.sts)
        self.organizations.activate()
        self.sts.activate()

    def answer(self, *pages: Sequence[dict[str, Any]]) -> None:
        """The next listing's pages."""
        for index, page in enumerate(pages):
            response: dict[str, Any] = {"Accounts": list(page)}
            expected: dict[str, Any] = {"MaxResults": 20}
            if index:
                expected["NextToken"] = f"page-{index}"
            if index < len(pages) - 1:
                response["NextToken"] = f"page-{index + 1}"
            self.organizations.add_response("list_accounts", response, expected)

    def identity(self, account_id: str = ACCOUNT) -> None:
        """The base credentials' GetCallerIdentity (asked once, ever)."""
        self.sts.add_response(
            "get_caller_identity",
            {"Account": account_id, "Arn": f"arn:aws:iam::{account_id}:user/x", "UserId": "AIDX"},
        )

    def read(self) -> list[tuple[str, str, str]]:
        """(account id, region, source) of the last list applied."""
        return [
            (target.account.account_id or "", target.region, target.account.source)
            for target in self.applied[-1]
        ]


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    with ConfigSimulator() as sim:
        yield sim


@pytest.fixture
def make(simulator: ConfigSimulator) -> Iterator[Any]:
    made: list[Discovery] = []

    def build(**config: Any) -> Discovery:
        settings = {"role_name": "conformance-pack-exporter", **config.pop("discovery", {})}
        full = Config(
            regions=REGIONS, organization_accounts=OrganizationAccountsConfig(**settings), **config
        )
        made.append(Discovery(full, simulator))
        return made[-1]

    yield build
    for discovery in made:
        discovery.organizations.assert_no_pending_responses()
        discovery.sts.assert_no_pending_responses()


def test_active_accounts_are_read_over_every_page_and_nothing_else(make) -> None:
    found = make()
    found.identity()
    found.answer(
        [listed(MEMBER_B), listed(ACCOUNT), listed("555555555555", "SUSPENDED")],
        [
            listed(MEMBER_A, state=None, status="ACTIVE"),  # only the older field
            listed("666666666666", "PENDING_CLOSURE"),
            listed("777777777777", "CLOSED"),
            listed("888888888888", "A_STATE_NEWER_THAN_BOTOCORE"),
        ],
    )

    assert found.discovery.refresh()

    assert found.read() == [
        (ACCOUNT, "us-east-1", "organization"),
        (ACCOUNT, "eu-west-1", "organization"),
        (MEMBER_A, "us-east-1", "organization"),
        (MEMBER_A, "eu-west-1", "organization"),
        (MEMBER_B, "us-east-1", "organization"),
        (MEMBER_B, "eu-west-1", "organization"),
    ]


def test_the_base_account_is_read_with_its_own_credentials_from_the_start(make) -> None:
    found = make()
    base = found.initial[0].account
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A)])

    assert found.discovery.refresh()

    assert [target.region for target in found.initial] == list(REGIONS)
    assert found.discovery.account is base, "the listing account is the one read at start"
    assert [t.account for t in found.applied[-1][:2]] == [base, base]
    assert found.applied[-1][2].account is not base


def test_configured_accounts_win_and_excluded_ones_are_not_read(make) -> None:
    configured = AccountConfig(
        name="audit",
        role_arn=f"arn:aws:iam::{MEMBER_A}:role/own-role",
        regions=("ap-southeast-2",),
    )
    found = make(accounts=(configured,), discovery={"exclude": (MEMBER_B,)})
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A), listed(MEMBER_B), listed(MEMBER_C)])

    assert found.discovery.refresh()

    assert found.read() == [
        (MEMBER_A, "ap-southeast-2", "config"),
        (ACCOUNT, "us-east-1", "organization"),
        (ACCOUNT, "eu-west-1", "organization"),
        (MEMBER_C, "us-east-1", "organization"),
        (MEMBER_C, "eu-west-1", "organization"),
    ]
    assert found.applied[-1][0] is found.initial[0], "the configured target is kept as it is"


def test_discovery_regions_apply_to_discovered_accounts_only(make) -> None:
    found = make(discovery={"regions": ("eu-central-1",)})
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A)])

    assert found.discovery.refresh()

    assert found.read() == [
        (ACCOUNT, "eu-central-1", "organization"),
        (MEMBER_A, "eu-central-1", "organization"),
    ]


def test_a_closed_account_stops_and_a_new_one_starts_the_rest_are_kept(make, simulator) -> None:
    found = make()
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A), listed(MEMBER_B)])
    found.answer([listed(ACCOUNT), listed(MEMBER_A, "SUSPENDED"), listed(MEMBER_C)])
    found.answer([listed(ACCOUNT), listed(MEMBER_C)])

    assert found.discovery.refresh()
    first = {t.account.account_id: t.account for t in found.applied[-1]}
    assert found.discovery.refresh()
    second = {t.account.account_id: t.account for t in found.applied[-1]}
    assert found.discovery.refresh()
    third = {t.account.account_id: t.account for t in found.applied[-1]}

    assert sorted(first) == [ACCOUNT, MEMBER_A, MEMBER_B]
    assert sorted(second) == [ACCOUNT, MEMBER_C]
    assumed = [call.role_arn.split(":")[4] for call in simulator.assume_role_calls]
    assert sorted(assumed) == [MEMBER_A, MEMBER_B, MEMBER_C], "each new account warmed once"
    assert third == second, "an unchanged account keeps its credentials and clients"
    assert second[ACCOUNT] is first[ACCOUNT]


def test_the_call_counts_of_closed_accounts_are_dropped(make) -> None:
    """The counter would otherwise keep every account ever discovered, for good."""
    found = make()
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A), listed(MEMBER_B)])
    found.answer([listed(ACCOUNT), listed(MEMBER_A, "SUSPENDED"), listed(MEMBER_C)])

    assert found.discovery.refresh()
    first = {t.account.account_id: t.account for t in found.applied[-1]}
    for account in first.values():
        fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(10))
    assert found.discovery.refresh()

    owners = {owner for owner, *_ in found.counter._counts}  # what it holds, served or not
    assert first[MEMBER_A] not in owners
    assert first[MEMBER_B] not in owners
    assert first[ACCOUNT] in owners, "the base account's counts stay"


def test_names_come_from_each_successful_listing_whole(make) -> None:
    """Every active account's name, read or not (excluded, configured); a listing replaces
    them all, a failed one keeps them; a new account's name is there before it is read."""
    configured = AccountConfig(name="audit", role_arn=f"arn:aws:iam::{MEMBER_C}:role/own-role")
    found = make(accounts=(configured,), discovery={"exclude": (MEMBER_B,)})
    found.identity()
    found.answer(
        [
            listed(ACCOUNT, name="Management"),
            listed(MEMBER_A, name="Team A: prod"),
            listed(MEMBER_B),
            listed(MEMBER_C, name="Audit"),
            listed("555555555555", "SUSPENDED"),
        ]
    )
    found.answer([listed(ACCOUNT, name="Management"), listed(MEMBER_A, name="")])
    found.organizations.add_client_error("list_accounts", "ServiceException")

    assert found.discovery.account_names() == {}
    assert found.discovery.refresh()
    first = dict(found.discovery.account_names())
    assert found.discovery.refresh()
    second = dict(found.discovery.account_names())
    assert not found.discovery.refresh()

    assert first == {
        ACCOUNT: "Management",
        MEMBER_A: "Team A: prod",
        MEMBER_B: f"account-{MEMBER_B}",
        MEMBER_C: "Audit",
    }
    assert found.names_applied[0] == first
    assert second == {ACCOUNT: "Management"}, "a name AWS no longer gives is dropped"
    assert found.discovery.account_names() == second, "a failed listing changes nothing"
    names = {t.account.source: t.account.name for t in found.applied[-1]}
    assert names == {"config": "audit", "organization": ""}, "never a /probe name"


def test_a_failed_listing_keeps_the_last_list_and_reports_it(make, caplog) -> None:
    found = make()
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A)])
    found.organizations.add_client_error(
        "list_accounts", "AccessDeniedException", http_status_code=400
    )

    assert found.discovery.refresh()
    good = found.discovery.last_reading()
    assert not found.discovery.refresh()
    failed = found.discovery.last_reading()

    assert len(found.applied) == 1, "a failed listing applied a list"
    assert good is not None
    assert failed is not None
    assert (good[0].success, good[0].account_id, good[0].region) == (True, ACCOUNT, "us-east-1")
    assert (failed[0].success, failed[0].error_code) == (False, "AccessDeniedException")
    assert failed[1] == good[1], "the last success is still the first listing's"
    assert "account discovery failed" in caplog.text


def test_an_unknown_base_account_id_fails_the_listing_rather_than_read_it_twice(make) -> None:
    found = make()
    found.sts.add_client_error("get_caller_identity", "AccessDenied")
    found.answer([listed(ACCOUNT), listed(MEMBER_A)])

    assert not found.discovery.refresh()

    reading = found.discovery.last_reading()
    assert reading is not None
    assert reading[0].error_code == "unknown_account_id"
    assert found.applied == []


def test_the_first_listing_makes_discovery_ready_whatever_its_outcome(make) -> None:
    found = make(discovery={"refresh_interval_seconds": 3600})
    found.organizations.add_client_error("list_accounts", "AccessDeniedException")

    assert not found.discovery.ready
    found.discovery.start()
    wait_for(lambda: found.discovery.ready, 10, "the first listing", interval=0.01)
    found.discovery.close()

    reading = found.discovery.last_reading()
    assert reading is not None
    assert not reading[0].success


def test_a_listing_applies_nothing_once_a_reload_closed_its_discovery(make) -> None:
    """A reload builds on the targets read now with the listings paused, then closes the
    discovery: its listing in progress must not apply a list over the reload's."""
    found = make()
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A)])
    outcome: list[bool] = []

    def no_pending() -> bool:
        try:
            found.organizations.assert_no_pending_responses()
            found.sts.assert_no_pending_responses()
        except AssertionError:
            return False
        return True

    with found.discovery.paused():
        listing = threading.Thread(target=lambda: outcome.append(found.discovery.refresh()))
        listing.start()
        wait_for(no_pending, 10, "the listing", interval=0.01)
        found.discovery.close()
    listing.join(10)

    assert outcome == [False]
    assert found.applied == []


def test_a_reload_s_discovery_carries_on_the_last_list(make) -> None:
    found = make()
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A), listed(MEMBER_B)])
    found.discovery.start()
    wait_for(lambda: found.discovery.ready, 10, "the first listing", interval=0.01)
    found.discovery.close()
    listed_accounts = {t.account.account_id: t.account for t in found.applied[-1]}
    settings = OrganizationAccountsConfig("conformance-pack-exporter", exclude=(MEMBER_B,))
    config = Config(regions=REGIONS, organization_accounts=settings)
    running = found.built.accounts.keys(listed_accounts.values())

    successor = build(
        config, found.basis, found.applied.append, reusable=running, previous=found.discovery
    ).discovery

    assert successor is not None
    carried = {t.account.account_id: t.account for t in successor.targets()}
    assert carried == {ACCOUNT: listed_accounts[ACCOUNT], MEMBER_A: listed_accounts[MEMBER_A]}
    assert successor.account is found.discovery.account
    assert successor.ready
    assert successor.last_reading() == found.discovery.last_reading()
    assert successor.account_names() == {
        account_id: f"account-{account_id}" for account_id in (ACCOUNT, MEMBER_A, MEMBER_B)
    }, "the names are carried on with the list, until the successor's own listing"


@pytest.mark.parametrize(
    ("exclude", "lists_at_once"), [((), False), ((MEMBER_B,), True)], ids=["same", "changed"]
)
def test_a_reload_s_discovery_lists_at_once_only_if_the_listing_changed(
    make, exclude, lists_at_once
) -> None:
    """A flood of `POST /-/reload` must not become a flood of ListAccounts calls."""
    found = make()
    found.identity()
    found.answer([listed(ACCOUNT), listed(MEMBER_A)])
    found.discovery.start()
    wait_for(lambda: found.discovery.ready, 10, "the first listing", interval=0.01)
    found.discovery.close()
    settings = OrganizationAccountsConfig("conformance-pack-exporter", exclude=exclude)
    config = Config(regions=REGIONS, organization_accounts=settings)
    running = found.built.accounts.keys(t.account for t in found.applied[-1])

    successor = build(
        config, found.basis, found.applied.append, reusable=running, previous=found.discovery
    ).discovery

    assert successor is not None
    waits = successor._delay  # what its thread waits before listing
    assert waits == 0.0 if lists_at_once else 3500 < waits <= 3600
