"""exporter/warm_up.py: roles assumed at start, before any scrape, with no Config call; a role
that can't be assumed fails alone and still lets the exporter become ready.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from exporter.aws.accounts import Account
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target, build_targets
from exporter.collectors import IAM_ACTIONS
from exporter.config import AccountConfig, Config
from exporter.scrape import Scraper
from exporter.simulator import ConfigSimulator, Scenario
from exporter.warm_up import TargetUpdates, WarmUp
from tests.conftest import fake_credentials_sessions, wait_for

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::{}:role/conformance-pack-exporter"
GRANTED = ("111111111111", "222222222222")
DENIED = "333333333333"


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    scenario = Scenario({}, denied_roles=frozenset({ROLE.format(DENIED)}))
    with ConfigSimulator(scenario) as sim:
        yield sim


def test_roles_are_assumed_before_any_scrape(simulator, caplog) -> None:
    caplog.set_level(logging.INFO)
    accounts = tuple(AccountConfig(role_arn=ROLE.format(a)) for a in (*GRANTED, DENIED))
    config = Config(regions=("us-east-1", "eu-west-1"), accounts=accounts, total_max_attempts=1)
    targets = build_targets(
        config, fake_credentials_sessions(simulator.url), ApiCallCounter(), IAM_ACTIONS, ()
    )
    warm_up = WarmUp((target.account for target in targets), concurrency=4)

    assert not warm_up.ready
    warm_up.start()
    wait_for(lambda: warm_up.ready, 10, "the warm-up", interval=0.01)

    granted = {call.role_arn for call in simulator.assume_role_calls if call.granted}
    assert granted == {ROLE.format(a) for a in GRANTED}
    assert simulator.calls(service="config") == 0
    # One line for the role that failed, its refresh's; the summary counts it.
    failures = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [(r.getMessage(), r.account_id, r.error_code) for r in failures] == [
        ("assuming the role failed", DENIED, "AccessDenied")
    ]
    summary = [r for r in caplog.records if r.getMessage() == "warmed up"]
    assert [(r.accounts, r.failed) for r in summary] == [(3, 1)]


class RecordingScraper(Scraper):
    """A scraper (of no collector) that records which roles were assumed when each list of
    targets reached it."""

    def __init__(self, simulator: ConfigSimulator, targets: Sequence[Target]) -> None:
        self.simulator = simulator
        self.assumed_when_applied: list[set[str]] = []
        super().__init__((), targets, ApiCallCounter())

    def set_targets(self, targets: Sequence[Target], collectors: Any = None) -> None:
        calls = self.simulator.assume_role_calls
        self.assumed_when_applied.append({call.role_arn for call in calls})
        super().set_targets(targets, collectors)


def test_new_accounts_are_warm_before_they_are_read_and_those_that_left_are_forgotten(
    simulator,
) -> None:
    config = Config(
        regions=("us-east-1",),
        accounts=tuple(AccountConfig(role_arn=ROLE.format(a)) for a in (*GRANTED, DENIED)),
    )
    counter = ApiCallCounter()
    first, second, kept = build_targets(
        config, fake_credentials_sessions(simulator.url), counter, IAM_ACTIONS, ()
    )
    scraper = RecordingScraper(simulator, [first])
    forgotten: list[set[Account]] = []
    updates = TargetUpdates(scraper, forgotten.append, concurrency=4)
    updates.keep = frozenset({kept.account})

    updates.apply([Target(first.account, "us-east-1"), second, kept])
    assert scraper.targets[0] is first, "an equal target did not keep its running object"
    updates.apply([second])

    new = {ROLE.format(GRANTED[1]), ROLE.format(DENIED)}
    at_start, *applied = scraper.assumed_when_applied
    assert (at_start, applied) == (set(), [new, new]), "read before its role was assumed"
    assert [call.role_arn for call in simulator.assume_role_calls].count(
        ROLE.format(GRANTED[0])
    ) == 0
    assert forgotten == [{first.account}], "a kept or staying account was forgotten"
