"""End to end: two exporters share the targets. Real Prometheus discovers the (account, region)
targets at exporter 0's `/sd` and probes each on exactly one exporter, with the shipped job of
deploy/prometheus/sharded.yml (only its addresses and intervals replaced).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.metrics import STATE
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import REPO, ExporterProcess, aws_env, run_tool, wait_for
from tests.e2e.conftest import JOB, PrometheusServer, binary

pytestmark = pytest.mark.e2e

SHARDED = REPO / "deploy" / "prometheus" / "sharded.yml"
SHIPPED_ADDRESSES = ("conformance-pack-exporter-0:9869", "conformance-pack-exporter-1:9869")
ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
REGIONS = ("us-east-1", "eu-west-1")
TARGETS = len(ACCOUNTS) * len(REGIONS)
PACKS_PER_TARGET = 2


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    now = time.time()
    packs = {
        (account, region): [
            SimulatedPack("cis-baseline", "CREATE_COMPLETE", requested_at=now - 900),
            SimulatedPack("pci-dss", "CREATE_FAILED", reason="denied", requested_at=now - 600),
        ]
        for account in ACCOUNTS
        for region in REGIONS
    }
    with ConfigSimulator(Scenario(packs)) as simulator:
        yield simulator


def is_ready(exporter: ExporterProcess) -> bool:
    return exporter.get("/-/ready")[0] == 200


@pytest.fixture
def exporters(simulator: ConfigSimulator, tmp_path: Path) -> Iterator[list[ExporterProcess]]:
    """Two exporters with the same configuration, both ready."""
    config = {
        "regions": list(REGIONS),
        "compliance": {"enabled": False},
        "accounts": [
            {"role_arn": f"arn:aws:iam::{account}:role/conformance-pack-exporter"}
            for account in ACCOUNTS
        ],
    }
    config_path = tmp_path / "exporter.yml"
    config_path.write_text(yaml.safe_dump(config))
    started = [
        ExporterProcess(
            [f"--config.file={config_path}", "--web.listen-address=127.0.0.1:0"],
            aws_env(simulator.url),
        )
        for _ in range(2)
    ]
    try:
        for exporter in started:
            exporter.wait_until_listening()
            wait_for(partial(is_ready, exporter), 30, "readiness")
        yield started
    finally:
        for exporter in started:
            exporter.stop()


def sharded_job(addresses: list[str]) -> dict[str, Any]:
    """The shipped job, pointed at `addresses` and scraping every second."""
    job = yaml.safe_load(SHARDED.read_text())["scrape_configs"][0]
    assert job["job_name"] == JOB
    text = yaml.safe_dump(job)
    for shipped, address in zip(SHIPPED_ADDRESSES, addresses, strict=True):
        assert shipped in text
        text = text.replace(shipped, address)
    job = yaml.safe_load(text)
    job.update(scrape_interval="1s", scrape_timeout="1s")
    return dict(job)


def by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    """Each series' value by the values of `labels`."""
    return {
        tuple(series["metric"].get(name, "") for name in labels): float(series["value"][1])
        for series in result
    }


def test_shipped_sharded_config_passes_promtool() -> None:
    run_tool(binary("promtool"), "check", "config", SHARDED)


def test_every_target_is_probed_once_on_one_of_two_exporters(
    exporters: list[ExporterProcess], prometheus_factory: Callable[..., PrometheusServer]
) -> None:
    addresses = [exporter.url.removeprefix("http://") for exporter in exporters]
    prometheus = prometheus_factory([], scrape_configs=[sharded_job(addresses)])

    # Every target, up, on one exporter each (its first scrape may still be a few seconds off).
    up_query = f'up{{job="{JOB}"}}'
    wait_for(lambda: len(prometheus.query(f"{up_query} == 1")) == TARGETS, 60, "every target up")
    # Every pack of every target scraped (the rounds of the two exporters may still differ).
    packs_query = f"count by (account_id, region, conformance_pack, state) ({STATE})"

    def packs_seen() -> bool:
        seen = by(prometheus.query(packs_query), "account_id", "region", "conformance_pack")
        return len(seen) == TARGETS * PACKS_PER_TARGET

    wait_for(packs_seen, 60, "every pack's state series")

    up = by(prometheus.query(up_query), "account_id", "region", "instance")
    assert sorted((account, region) for account, region, _ in up) == sorted(
        (account, region) for account in ACCOUNTS for region in REGIONS
    ), "each (account, region) is scraped exactly once"
    assert set(up.values()) == {1.0}
    instances = {instance for _, _, instance in up}
    assert instances == set(addresses), "both exporters got targets"

    copies = by(prometheus.query(packs_query), "account_id", "region", "conformance_pack", "state")
    assert set(copies.values()) == {1.0}, f"a pack series scraped twice: {copies}"
    packs = {(account, region, pack) for account, region, pack, _ in copies}
    assert len(packs) == TARGETS * PACKS_PER_TARGET
    # A target's pack series come from the exporter its `up` series names.
    readers = by(
        prometheus.query(f"count by (account_id, region, instance) ({STATE})"),
        "account_id",
        "region",
        "instance",
    )
    assert set(readers) == set(up)
