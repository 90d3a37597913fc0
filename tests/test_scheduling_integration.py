"""Integration: slow background reads never starve the status reads of the next scrapes.

The exporter process reads 128 targets (64 role accounts in 2 regions) from the simulator over
HTTP, with every compliance rule call slowed to seconds: a compliance refresh then keeps more
workers busy than `concurrency` allows for a long time, and status reads must still start and
finish within their own scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import ConfigSimulator, Fault
from exporter.simulator.scenario import generated_scenario
from tests.conftest import ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
ACCOUNTS = tuple(f"{200000000000 + index:012d}" for index in range(64))
PACKS = 3
SLOW_RULE_CALL = 3.0  # seconds: one compliance refresh of a target takes PACKS times this
SCRAPE_TIMEOUT = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    scenario = generated_scenario(PACKS, REGIONS, ACCOUNTS, rules_per_pack=2)
    with ConfigSimulator(scenario) as sim:
        yield sim


@pytest.fixture
def exporter(simulator: ConfigSimulator, tmp_path: Path) -> Iterator[ExporterProcess]:
    accounts = "".join(
        f"  - role_arn: arn:aws:iam::{account}:role/conformance-pack-exporter\n"
        for account in ACCOUNTS
    )
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{', '.join(REGIONS)}]\n"
        "min_interval_seconds: 0\n"
        "concurrency: 64\n"
        "compliance: {interval_seconds: 300}\n"
        f"accounts:\n{accounts}"
    )
    process = ExporterProcess(
        ["--web.listen-address=127.0.0.1:0", f"--config.file={config}"], aws_env(simulator.url)
    )
    try:
        process.wait_until_listening()
        wait_for(lambda: process.get("/-/ready")[0] == 200, 60, "the warm-up of 64 roles")
        yield process
    finally:
        process.stop()


def successes(text: str, collector: str) -> dict[tuple[str, str], float]:
    """`scrape_success` of `collector` by (account, region)."""
    return {
        (labels["account_id"], labels["region"]): value
        for labels, value in parse_exposition(text)["aws_config_exporter_scrape_success"]
        if labels["collector"] == collector
    }


def test_status_reads_succeed_while_compliance_reads_crawl(
    exporter: ExporterProcess, simulator: ConfigSimulator
) -> None:
    slow = Fault("latency", operation="DescribeConformancePackCompliance", seconds=SLOW_RULE_CALL)
    simulator.add_fault(slow)
    all_succeeded = {(account, region): 1.0 for account in ACCOUNTS for region in REGIONS}

    exporter.scrape(SCRAPE_TIMEOUT)  # starts the compliance refresh of all 128 targets
    wait_for(
        lambda: simulator.calls(operation="DescribeConformancePackCompliance"),
        10,
        "the compliance refresh to reach the slow calls",
    )
    following = [successes(exporter.scrape(SCRAPE_TIMEOUT), "status") for _ in range(3)]

    assert following == [all_succeeded] * 3
    # Compliance still finishes, on its own workers: every target's refresh succeeds.
    wait_for(
        lambda: successes(exporter.scrape(SCRAPE_TIMEOUT), "compliance") == all_succeeded,
        4 * PACKS * SLOW_RULE_CALL + 30,
        "every target's compliance refresh",
        interval=1.0,
    )
