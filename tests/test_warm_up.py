"""exporter/warm_up.py: roles assumed at start, before any scrape, with no Config call; a role
that can't be assumed fails alone and still lets the exporter become ready.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import build_targets
from exporter.collectors import IAM_ACTIONS
from exporter.config import AccountConfig, Config
from exporter.simulator import ConfigSimulator, Scenario
from exporter.warm_up import WarmUp
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
