"""Accounts that discovery opens and closes leave nothing behind: after rounds of listings that
each drop half the accounts and add others, the live botocore sessions, clients and accounts,
and the shared loader's search paths, are as many as after the first rounds.

Built as the exporter builds itself (`plan.prepare`), against the simulator over HTTP; only
the Organizations listing, which the simulator does not serve, is stubbed.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator

import botocore.client
import botocore.session
import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.config import Config, OrganizationAccountsConfig
from exporter.plan import Plan, prepare
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import every_target_read, fake_credentials_sessions, wait_for

REGIONS = ("us-east-1", "eu-west-1")
POOL = [f"{300000000000 + i}" for i in range(8)]


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    packs = [SimulatedPack(f"p-{i}", "CREATE_COMPLETE", requested_at=1.0) for i in range(3)]
    estate = {(account, region): packs for account in POOL for region in REGIONS}
    with ConfigSimulator(Scenario(estate)) as sim:
        yield sim


def live() -> Counter[str]:
    """The objects an account leaves behind if anything holds on to it."""
    gc.collect()
    kinds = (
        (botocore.session.Session, "sessions"),
        (botocore.client.BaseClient, "clients"),
        (Account, "accounts"),
    )
    return Counter(
        name for found in gc.get_objects() for kind, name in kinds if isinstance(found, kind)
    )


def churn(plan: Plan, listing: Stubber, round_: int) -> None:
    """One listing of a different half of POOL, then every target read."""
    half = len(POOL) // 2
    listed = [*POOL, *POOL][round_ % len(POOL) : round_ % len(POOL) + half]
    accounts = [{"Id": account_id, "State": "ACTIVE"} for account_id in listed]
    listing.add_response("list_accounts", {"Accounts": accounts})
    discovery = plan.built.discovery
    assert discovery is not None
    assert discovery.refresh()

    wait_for(lambda: every_target_read(plan), 30, "every target read")


def test_accounts_dropped_by_discovery_are_let_go(simulator) -> None:
    config = Config(
        regions=REGIONS,
        min_interval_seconds=0,
        organization_accounts=OrganizationAccountsConfig("reader"),
    )
    sessions = fake_credentials_sessions(simulator.url)
    plan = prepare(config, sessions, ())
    assert plan.built.discovery is not None
    listing = Stubber(plan.built.discovery.organizations)
    listing.activate()
    paths = sessions.base.get_component("data_loader").search_paths
    try:
        for round_ in range(3):
            churn(plan, listing, round_)
        after_three, paths_after_three = live(), len(paths)
        for round_ in range(3, 12):
            churn(plan, listing, round_)

        # Reads of dropped accounts still in flight hold them until they finish.
        wait_for(lambda: live() == after_three, 30, f"{after_three} objects alive, not more")
        assert after_three["accounts"] <= len(POOL) // 2 + 1
        assert len(paths) == paths_after_three, "one search path per account ever made"
    finally:
        plan.scraper.close()
