"""exporter/reload.py: what a reload keeps, rebuilds and refuses, in-process, with the
simulator's STS and AWS Config on loopback. The exporter process reloading on SIGHUP and
`POST /-/reload` is in tests/test_reload_integration.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.aws.targets import NO_REGION, Target
from exporter.config import ComplianceConfig, Config, load_config
from exporter.deadline import Deadline
from exporter.metrics import RELOAD_SUCCESS_TIME, RELOAD_SUCCESSFUL, SCRAPE_SUCCESS
from exporter.plan import Basis, Plan, collectors_of, prepare
from exporter.reload import Reloader, ReloadStatus, kept_collectors
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import exposition, fake_credentials_sessions, parse_exposition

A, B, C = "111111111111", "222222222222", "333333333333"
ROLE = "arn:aws:iam::{}:role/reader"
COMPLIANCE_CALL = "ListConformancePackComplianceScores"


def kept(before: Config, after: Config) -> dict[str, bool]:
    """Which of `after`'s collectors a reload from `before` keeps (with their readings)."""
    basis = Basis(fake_credentials_sessions(), ())
    running = collectors_of(before, basis)
    chosen = kept_collectors(running, collectors_of(before, basis), collectors_of(after, basis))
    return {collector.name: collector in running for collector in chosen}


def test_collectors_whose_settings_did_not_change_are_kept() -> None:
    config = Config(regions=("us-east-1",))
    assert kept(config, Config(regions=("eu-west-1",), concurrency=8)) == {
        "status": True,
        "compliance": True,
        "pipeline": True,
    }


def test_a_collector_whose_settings_changed_is_built_anew() -> None:
    config = Config()
    slower = Config(compliance=ComplianceConfig(interval_seconds=900))
    fewer = Config(compliance=ComplianceConfig(rule_series="none"))

    assert kept(config, slower) == {"status": True, "compliance": False, "pipeline": True}
    assert kept(config, fewer) == {"status": True, "compliance": False, "pipeline": False}
    assert kept(config, Config(min_interval_seconds=0)) == {
        "status": False,
        "compliance": True,
        "pipeline": True,
    }


def test_collectors_switched_on_and_off() -> None:
    config = Config()
    off = Config(compliance=ComplianceConfig(enabled=False), organization_conformance_packs=True)

    assert kept(config, off) == {"status": True, "organization": False, "pipeline": True}
    assert kept(off, config) == {"status": True, "compliance": False, "pipeline": True}


def test_the_status_starts_successful_at_the_start_time() -> None:
    status = ReloadStatus(1_700_000_000.5)
    start = parse_exposition(exposition(status.families()))
    status.failed()
    failed = parse_exposition(exposition(status.families()))
    status.succeeded()
    fixed = parse_exposition(exposition(status.families()))

    assert start == {RELOAD_SUCCESSFUL: [({}, 1.0)], RELOAD_SUCCESS_TIME: [({}, 1_700_000_000.5)]}
    assert failed == {RELOAD_SUCCESSFUL: [({}, 0.0)], RELOAD_SUCCESS_TIME: [({}, 1_700_000_000.5)]}
    assert fixed[RELOAD_SUCCESSFUL] == [({}, 1.0)]
    assert fixed[RELOAD_SUCCESS_TIME][0][1] >= time.time() - 60


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    pack = SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=time.time() - 600)
    packs = {(a, r): [pack] for a in (A, B, C) for r in ("us-east-1", "eu-west-1")}
    with ConfigSimulator(Scenario(packs)) as sim:
        yield sim


def accounts(*entries: tuple[str, str]) -> str:
    """`accounts` of role entries, each (account id, regions)."""
    listed = "".join(
        f"  - {{role_arn: '{ROLE.format(account)}', regions: [{regions}]}}\n"
        for account, regions in entries
    )
    return f"accounts:\n{listed}"


class Running:
    """What the CLI runs: a plan from a file, and its reloader, on the simulator. The SDK
    gives no region: a file without `regions` has none to read."""

    def __init__(self, simulator: ConfigSimulator, path: Path, text: str) -> None:
        path.write_text(text)
        self.path = path
        self.plan: Plan = prepare(
            load_config(str(path)), fake_credentials_sessions(simulator.url), ()
        )
        self.scraper = self.plan.scraper
        self.reloader = Reloader(str(path), lambda: load_config(str(path)), self.plan)

    def reload(self, text: str) -> tuple[bool, str]:
        self.path.write_text(text)
        return self.reloader.reload()

    def accounts(self) -> dict[str | None, Any]:
        return {t.account.account_id: t.account for t in self.scraper.targets}

    def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        return parse_exposition(exposition(self.scraper.collect(Deadline.after(10))))

    def read_all(self) -> None:
        """Scrape until every background read has been served once."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            served = self.scrape()[SCRAPE_SUCCESS]
            if len(served) == 2 * len(self.scraper.targets):  # status and compliance
                return
            time.sleep(0.01)
        raise AssertionError("the background reads were not served")


@pytest.fixture
def running(simulator: ConfigSimulator, tmp_path: Path) -> Iterator[Any]:
    made: list[Running] = []

    def start(text: str) -> Running:
        made.append(Running(simulator, tmp_path / "config.yml", text))
        return made[-1]

    yield start
    for each in made:
        each.reloader.close()
        each.scraper.close()


SETTINGS = "pipeline: {enabled: false}\nmin_interval_seconds: 0\n"


def test_a_reload_keeps_accounts_and_readings_warms_new_ones_and_forgets_old_ones(
    running, simulator
) -> None:
    exporter = running(SETTINGS + accounts((A, "us-east-1, eu-west-1"), (B, "us-east-1")))
    exporter.read_all()
    before = exporter.accounts()
    compliance_calls = simulator.calls(operation=COMPLIANCE_CALL, account=A)

    assert exporter.reload(SETTINGS + accounts((A, "us-east-1, eu-west-1"), (C, "eu-west-1")))
    warmed = [call.role_arn for call in simulator.assume_role_calls]
    served = exporter.scrape()

    assert exporter.accounts()[A] is before[A], "A's account (credentials, clients) was rebuilt"
    assert set(exporter.accounts()) == {A, C}
    assert warmed.count(ROLE.format(C)) == 1, "C was read before its role was assumed"
    assert warmed.count(ROLE.format(A)) == 1
    compliance = {
        (labels["account_id"], labels["region"])
        for labels, _ in served[SCRAPE_SUCCESS]
        if labels["collector"] == "compliance"
    }
    assert {(A, "us-east-1"), (A, "eu-west-1")} <= compliance, "A's readings were dropped"
    assert simulator.calls(operation=COMPLIANCE_CALL, account=A) == compliance_calls
    counted = {row[0] for row in exporter.plan.basis.counter.samples()}
    assert B not in counted, "the removed account's call counts are kept"
    assert A in counted


def test_changed_client_settings_rebuild_the_accounts(running) -> None:
    exporter = running(SETTINGS + accounts((A, "us-east-1")))
    before = exporter.accounts()[A]

    assert exporter.reload(SETTINGS + "read_timeout_seconds: 3\n" + accounts((A, "us-east-1")))

    assert exporter.accounts()[A] is not before


def test_a_region_added_and_one_dropped_keep_the_account_and_its_readings(
    running, simulator
) -> None:
    exporter = running(SETTINGS + accounts((A, "us-east-1, ap-southeast-2")))
    exporter.read_all()
    before = exporter.accounts()[A]
    calls = simulator.calls(operation=COMPLIANCE_CALL, region="us-east-1")

    assert exporter.reload(SETTINGS + accounts((A, "us-east-1, eu-west-1")))
    exporter.read_all()

    assert exporter.accounts()[A] is before, "A's account (credentials, clients) was rebuilt"
    assert before.regions == ("us-east-1", "eu-west-1")
    assert {t.region for t in exporter.scraper.targets} == {"us-east-1", "eu-west-1"}
    assert simulator.calls(operation=COMPLIANCE_CALL, region="us-east-1") == calls
    assert simulator.calls(operation=COMPLIANCE_CALL, region="eu-west-1") == 1
    assert [call.role_arn for call in simulator.assume_role_calls] == [ROLE.format(A)]


def test_a_file_that_fails_after_its_accounts_are_built_changes_no_region(running) -> None:
    exporter = running(SETTINGS + accounts((A, "us-east-1")))
    before = exporter.accounts()[A]

    broken = SETTINGS + accounts((A, "us-east-1, eu-west-1"))
    broken += "organization_accounts: {role_name: reader}\n"  # no region to list them in
    succeeded, said = exporter.reload(broken)

    assert (succeeded, said) == (False, NO_REGION)
    assert before.regions == ("us-east-1",)
    assert {t.region for t in exporter.scraper.targets} == {"us-east-1"}


def test_a_concurrency_change_keeps_every_reading(running, simulator) -> None:
    exporter = running(SETTINGS + accounts((A, "us-east-1, eu-west-1")))
    exporter.read_all()
    calls = simulator.calls(operation=COMPLIANCE_CALL)

    assert exporter.reload("concurrency: 2\n" + SETTINGS + accounts((A, "us-east-1, eu-west-1")))
    exporter.scrape()

    assert simulator.calls(operation=COMPLIANCE_CALL) == calls


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("concurrency: many\n", "{path}:1: key 'concurrency': expected an integer, got str"),
        ("compliance: {enabled: false}\n", NO_REGION),
    ],
    ids=["bad key", "no region"],
)
def test_a_file_that_fails_changes_nothing(running, simulator, caplog, text, line) -> None:
    exporter = running(SETTINGS + accounts((A, "us-east-1")))
    targets, config = exporter.scraper.targets, exporter.reloader.config
    caplog.set_level(logging.INFO)

    succeeded, said = exporter.reload(text)

    expected = line.format(path=exporter.path)
    if "{path}" in line:
        expected = f"configuration error: {expected}"
    assert (succeeded, said) == (False, expected)
    assert exporter.scraper.targets == targets
    assert exporter.reloader.config is config
    assert exporter.reloader.status.families()[0].samples[0].value == 0.0
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (record.levelname, record.error) == ("ERROR", expected)
    assert simulator.assume_role_calls == ()


def test_without_a_file_a_reload_succeeds_and_changes_nothing(simulator) -> None:
    plan = prepare(Config(), fake_credentials_sessions(simulator.url), ("us-east-1",))
    reloader = Reloader(None, Config, plan)
    targets: tuple[Target, ...] = plan.scraper.targets

    assert reloader.reload() == (
        True,
        "nothing to reload: the exporter runs without --config.file",
    )
    assert plan.scraper.targets == targets
    plan.scraper.close()
