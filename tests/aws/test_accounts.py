"""exporter/aws/accounts.py with many accounts against the simulator's STS and Config: role
assumption, credential refresh, account ids, isolation of a failing account, shared in-flight
calls, min_interval and /probe selection.

Real boto3 over HTTP (signed requests, AssumeRole, pagination), in-process for speed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.exceptions
import pytest

from exporter.aws import accounts
from exporter.aws.accounts import ID_RETRY_SECONDS, Account
from exporter.aws.credentials import client_config
from exporter.aws.hooks import ApiCallCounter, deadline_argument
from exporter.aws.targets import UnknownTargetError, build_targets, select_targets
from exporter.collectors import IAM_ACTIONS, build_collectors
from exporter.config import AccountConfig, ComplianceConfig, Config, PipelineConfig
from exporter.deadline import Deadline
from exporter.metrics import SCRAPE_SUCCESS
from exporter.scrape import Scraper
from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack
from tests.aws.conftest import make_account
from tests.conftest import ACCOUNT, aws_env, fake_credentials_sessions, scrape_samples, wait_for

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::{}:role/conformance-pack-exporter"
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
DENIED = "333333333333"
REGIONS = ("us-east-1", "eu-west-1")


def packs(account: str) -> list[SimulatedPack]:
    return [
        SimulatedPack(f"pack-{account[:3]}-{i}", "CREATE_COMPLETE", requested_at=1.0)
        for i in range(3)
    ]


@pytest.fixture
def clock() -> list[float]:
    """The simulator's clock offset in seconds, changeable by a test."""
    return [0.0]


@pytest.fixture
def simulator(clock: list[float]) -> Iterator[ConfigSimulator]:
    scenario = Scenario(
        {(account, region): packs(account) for account in ACCOUNTS for region in REGIONS},
        denied_roles=frozenset({ROLE.format(DENIED)}),
        role_external_ids={ROLE.format(ACCOUNTS[0]): "org-7f3a"},
    )
    with ConfigSimulator(scenario, clock=lambda: time.time() + clock[0]) as sim:
        yield sim


@pytest.fixture
def botocore_clock() -> list[float]:
    """How far botocore's credential clock runs ahead of real time, in seconds."""
    return [0.0]


@pytest.fixture
def collector_factory(simulator, botocore_clock) -> Iterator[Callable[..., Scraper]]:
    made: list[Scraper] = []

    def make(
        accounts: tuple[AccountConfig, ...] | None = None, min_interval_seconds: float = 0.0
    ) -> Scraper:
        if accounts is None:
            accounts = (
                AccountConfig(role_arn=ROLE.format(ACCOUNTS[0]), external_id="org-7f3a"),
                AccountConfig(name="second", role_arn=ROLE.format(ACCOUNTS[1])),
                AccountConfig(role_arn=ROLE.format(DENIED), regions=("us-east-1",)),
            )
        config = Config(
            regions=REGIONS,
            accounts=accounts,
            total_max_attempts=1,
            min_interval_seconds=min_interval_seconds,
            compliance=ComplianceConfig(enabled=False),  # status reads alone: countable calls
            pipeline=PipelineConfig(enabled=False),  # nor pipeline reads, which renew too
        )
        counter = ApiCallCounter()

        def now() -> datetime:
            return datetime.now(timezone.utc) + timedelta(seconds=botocore_clock[0])

        sessions = fake_credentials_sessions(simulator.url, now)
        targets = build_targets(config, sessions, counter, IAM_ACTIONS, ())
        collectors = build_collectors(config, targets[0].client.meta.service_model)
        scraper = Scraper(collectors, targets, counter)
        made.append(scraper)
        return scraper

    yield make
    for collector in made:
        collector.close()


def scrape(scraper: Scraper, timeout: float = 10.0, targets=None):
    return scrape_samples(scraper, timeout, targets)


def success(samples) -> dict[tuple[str, str], float]:
    return {
        (labels["account_id"], labels["region"]): value
        for labels, value in samples[SCRAPE_SUCCESS]
        if labels["collector"] == "status"
    }


def test_each_account_is_read_through_its_role(simulator, collector_factory) -> None:
    samples = scrape(collector_factory())

    assert success(samples) == {
        (ACCOUNTS[0], "us-east-1"): 1.0,
        (ACCOUNTS[0], "eu-west-1"): 1.0,
        (ACCOUNTS[1], "us-east-1"): 1.0,
        (ACCOUNTS[1], "eu-west-1"): 1.0,
        (DENIED, "us-east-1"): 0.0,
    }
    packs_seen = {
        (labels["account_id"], labels["conformance_pack"])
        for labels, _ in samples["aws_config_conformance_pack_info"]
    }
    assert (ACCOUNTS[1], "pack-222-0") in packs_seen
    assert all(pack.split("-")[1] == account[:3] for account, pack in packs_seen)
    calls = {call.role_arn: call for call in simulator.assume_role_calls}
    assert calls[ROLE.format(ACCOUNTS[0])].external_id == "org-7f3a"
    assert calls[ROLE.format(ACCOUNTS[0])].session_name == "conformance-pack-exporter"
    assert calls[ROLE.format(ACCOUNTS[0])].duration_seconds == 3600
    assert simulator.calls(operation="GetCallerIdentity") == 0


def test_a_role_that_cannot_be_assumed_is_counted_and_isolated(collector_factory) -> None:
    samples = scrape(collector_factory())

    denied = {
        labels["outcome"]: v
        for labels, v in samples["aws_config_exporter_api_requests_total"]
        if labels["account_id"] == DENIED
    }
    assert denied == {"AccessDenied": 1.0}
    assert not any(
        labels["account_id"] == DENIED for labels, _ in samples["aws_config_conformance_pack_state"]
    )


def test_credentials_are_refreshed_before_they_expire(
    simulator, botocore_clock, collector_factory
) -> None:
    accounts = (AccountConfig(role_arn=ROLE.format(ACCOUNTS[1]), duration_seconds=3600),)
    collector = collector_factory(accounts)
    assert set(success(scrape(collector)).values()) == {1.0}
    assert len(simulator.assume_role_calls) == 1

    # Fifty-five minutes later, by botocore's clock, five are left: it must renew them.
    botocore_clock[0] = 55 * 60
    samples = scrape(collector)

    assert set(success(samples).values()) == {1.0}
    # Renewed at least once; with the shifted clock new credentials look near expiry too,
    # so each region's request may renew again.
    assert 2 <= len(simulator.assume_role_calls) <= 1 + len(REGIONS)


def test_expired_credentials_without_refresh_would_fail(
    simulator, clock, collector_factory
) -> None:
    """The simulator really rejects expired tokens, so the refresh test above means something."""
    collector = collector_factory((AccountConfig(role_arn=ROLE.format(ACCOUNTS[1])),))
    scrape(collector)
    clock[0] = 2 * 3600

    samples = scrape(collector)

    # botocore sees an expiry in the future by its own clock, so it does not refresh.
    assert set(success(samples).values()) == {0.0}
    outcomes = {
        labels["outcome"] for labels, _ in samples["aws_config_exporter_api_requests_total"]
    }
    assert "ExpiredTokenException" in outcomes


def test_concurrent_scrapes_share_one_set_of_calls(simulator, collector_factory) -> None:
    collector = collector_factory((AccountConfig(role_arn=ROLE.format(ACCOUNTS[1])),))
    scrape(collector)
    simulator.reset_calls()
    simulator.latency = 0.2
    results: list[dict[tuple[str, str], float]] = []

    def scrape_into_results() -> None:
        results.append(success(scrape(collector)))

    scrapers = [threading.Thread(target=scrape_into_results) for _ in range(2)]
    for thread in scrapers:
        thread.start()
    for thread in scrapers:
        thread.join()

    assert results[0] == results[1] == {(ACCOUNTS[1], r): 1.0 for r in REGIONS}
    assert simulator.calls(operation="DescribeConformancePackStatus") == len(REGIONS)


def test_min_interval_serves_the_last_collection(simulator, collector_factory) -> None:
    collector = collector_factory(
        (AccountConfig(role_arn=ROLE.format(ACCOUNTS[1])),), min_interval_seconds=60
    )
    first = scrape(collector)
    simulator.reset_calls()

    second = scrape(collector)

    assert simulator.calls() == 0
    assert second["aws_config_conformance_pack_info"] == first["aws_config_conformance_pack_info"]
    last = second["aws_config_exporter_last_success_timestamp_seconds"]
    assert {labels["region"] for labels, _ in last} == set(REGIONS)
    assert all(time.time() - 60 < value <= time.time() for _, value in last)


def test_late_results_do_not_leak_into_the_next_scrape(simulator, collector_factory) -> None:
    collector = collector_factory((AccountConfig(role_arn=ROLE.format(ACCOUNTS[1])),))
    scrape(collector)
    simulator.add_fault(Fault(kind="hang", region="eu-west-1", seconds=1.5, count=1))

    timed_out = scrape(collector, timeout=0.5)
    # The hanging call is still in flight: no second call is piled on it.
    while_hanging = scrape(collector, timeout=0.5)
    simulator.reset_calls()
    after = wait_for(
        lambda: success(scrape(collector, timeout=0.5))[(ACCOUNTS[1], "eu-west-1")] == 1.0,
        10,
        "a scrape after the hang",
        interval=0.05,
    )

    assert success(timed_out)[(ACCOUNTS[1], "eu-west-1")] == 0.0
    assert success(while_hanging)[(ACCOUNTS[1], "eu-west-1")] == 0.0
    assert after
    # Polled scrapes joined nothing while the hung read ran, then made exactly one call.
    assert simulator.calls(operation="DescribeConformancePackStatus", region="eu-west-1") == 1


def test_probe_selects_by_account_id_or_name_and_region(collector_factory) -> None:
    collector = collector_factory()

    by_name = select_targets(collector.targets, "second")
    by_id = select_targets(collector.targets, ACCOUNTS[1], "eu-west-1")

    assert {t.region for t in by_name} == set(REGIONS)
    assert [(t.account.account_id, t.region) for t in by_id] == [(ACCOUNTS[1], "eu-west-1")]
    samples = scrape(collector, targets=by_id)
    assert success(samples) == {(ACCOUNTS[1], "eu-west-1"): 1.0}
    assert {
        labels["account_id"] for labels, _ in samples["aws_config_exporter_api_requests_total"]
    } == {ACCOUNTS[1]}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "account parameter is required"),
        ({"account": "999999999999"}, "unknown account '999999999999'"),
        ({"account": "second", "region": "mars-1"}, "has no region 'mars-1'"),
        ({"account": "second", "target": "x"}, "unknown parameters ['target']"),
    ],
)
def test_probe_rejects_unknown_targets_without_calling_aws(
    simulator, collector_factory, parameters, message
) -> None:
    collector = collector_factory()
    simulator.reset_calls()

    with pytest.raises(UnknownTargetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        collector.probe(parameters, Deadline.after(5))

    assert simulator.calls() == 0


def test_account_id_is_asked_once(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())

    assert account.resolve_account_id() == ACCOUNT
    assert account.resolve_account_id() == ACCOUNT
    assert simulator.calls(operation="GetCallerIdentity") == 1


def test_account_id_from_an_arn_needs_no_sts(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())
    account.observe_arn("arn:aws:config:us-east-1:999999999999:conformance-pack/x/y")
    assert account.resolve_account_id() == "999999999999"
    assert simulator.calls(operation="GetCallerIdentity") == 0


def test_failed_sts_is_retried_on_the_next_scrape(simulator) -> None:
    account = make_account(simulator, ApiCallCounter(), total_max_attempts=1)
    simulator.add_fault(Fault(kind="access_denied", service="sts", count=1))

    assert account.resolve_account_id() == ""
    assert account.resolve_account_id() == ACCOUNT


def role_account(simulator, config: Config, **account: Any) -> Account:
    """One role account on the simulator, as build_targets makes it."""
    role = AccountConfig(role_arn=ROLE.format(ACCOUNTS[1]), **account)
    return Account(
        fake_credentials_sessions(simulator.url),
        role,
        ("us-east-1",),
        config,
        ApiCallCounter(),
        IAM_ACTIONS,
    )


def read_packs(account: Account, deadline: Deadline) -> Any:
    return account.clients["us-east-1"].describe_conformance_pack_status(
        **deadline_argument(deadline)
    )


def test_every_client_has_the_configured_timeouts_and_attempts(simulator) -> None:
    config = Config(connect_timeout_seconds=0.7, read_timeout_seconds=1.5, total_max_attempts=2)
    assume_role_clients: list[Any] = []
    sessions = fake_credentials_sessions(simulator.url)
    role = AccountConfig(role_arn=ROLE.format(ACCOUNTS[1]))
    session = sessions.for_account(
        role, "us-east-1", assume_role_clients.append, client_config(config)
    )
    credentials = session.get_credentials()
    assert credentials is not None
    credentials.get_frozen_credentials()  # assumes the role
    account = role_account(simulator, config)

    clients = [
        *assume_role_clients,
        account.clients["us-east-1"],
        account.sts_client,
        account.client_for("organizations", account),
    ]

    assert [c.meta.service_model.service_name for c in clients[:1]] == ["sts"]
    assert {
        (
            c.meta.config.connect_timeout,
            c.meta.config.read_timeout,
            c.meta.config.retries["total_max_attempts"],
        )
        for c in clients
    } == {(0.7, 1.5, 2)}
    assert client_config(config) is client_config(Config(**vars(config))), "one, not copies"


def test_a_refresh_stops_retrying_at_the_deadline_of_the_call_that_needs_it(simulator) -> None:
    account = role_account(simulator, Config(total_max_attempts=3))
    simulator.add_fault(Fault(kind="unavailable", service="sts", operation="AssumeRole"))

    with pytest.raises(botocore.exceptions.ClientError):
        read_packs(account, Deadline(time.monotonic() - 1))
    passed = simulator.calls(operation="AssumeRole")
    with pytest.raises(botocore.exceptions.ClientError):
        read_packs(account, Deadline.after(30))

    assert passed == 1
    assert simulator.calls(operation="AssumeRole") == 1 + 3, "retried while time is left"


def test_a_900_second_session_is_assumed_once_until_its_last_third(
    simulator, botocore_clock, collector_factory
) -> None:
    collector = collector_factory(
        (AccountConfig(role_arn=ROLE.format(ACCOUNTS[1]), duration_seconds=900),)
    )
    for _ in range(3):
        assert set(success(scrape(collector)).values()) == {1.0}
    botocore_clock[0] = 599  # 301 s left: outside the last third
    assert set(success(scrape(collector)).values()) == {1.0}
    before_window = len(simulator.assume_role_calls)

    botocore_clock[0] = 601  # 299 s left: inside it
    assert set(success(scrape(collector)).values()) == {1.0}

    assert before_window == 1
    assert len(simulator.assume_role_calls) == 2


def test_a_failed_account_id_is_asked_again_after_the_retry_interval(simulator, monkeypatch):
    account = make_account(simulator, ApiCallCounter(), total_max_attempts=1)
    simulator.add_fault(Fault(kind="access_denied", service="sts", count=1))
    now = [1000.0]
    monkeypatch.setattr(accounts, "monotonic", lambda: now[0])

    assert account.resolve_account_id(retry_seconds=ID_RETRY_SECONDS) == ""
    assert account.resolve_account_id(retry_seconds=ID_RETRY_SECONDS) == ""
    assert simulator.calls(operation="GetCallerIdentity") == 1
    now[0] += ID_RETRY_SECONDS
    assert account.resolve_account_id(retry_seconds=ID_RETRY_SECONDS) == ACCOUNT
    assert simulator.calls(operation="GetCallerIdentity") == 2


def test_probes_of_unknown_ids_ask_sts_at_most_once_a_minute(exporter_factory) -> None:
    """The exporter process, its default account's id unknown (no packs, no ARN) and STS
    failing: a loop of /probe requests for an id no account has."""
    with ConfigSimulator(Scenario({})) as empty:
        empty.add_fault(Fault(kind="access_denied", service="sts"))
        process = exporter_factory([], aws_env(empty.url))
        statuses = [process.get("/probe?account=999999999999")[0] for _ in range(20)]
        asked = empty.calls(operation="GetCallerIdentity")

    assert set(statuses) == {400}
    assert asked == 1
