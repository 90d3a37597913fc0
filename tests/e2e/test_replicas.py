"""End to end: two exporter replicas never mix their state in one series. Real Prometheus
scrapes two exporters the shipped way (deploy/prometheus/sharded.yml: `/sd`, hashmod, one
address per replica; only addresses and intervals replaced), and every counter of API calls
only grows and every compliance series is in every successful scrape of its target from its
first sample on. The same checks against a Service that spreads the probes over the replicas
(the mode the deploy files no longer ship) find false counter resets: the checks can fail.

Exporter 0 is probed directly before Prometheus starts, as a replica that has been running
longer than the other: its counters are ahead, as after a restart of the other replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack, SimulatedRule
from tests.conftest import ExporterProcess, aws_env, wait_for
from tests.e2e.conftest import JOB, PrometheusServer
from tests.e2e.test_sharding import is_ready, sharded_config

pytestmark = pytest.mark.e2e

ROLE = "conformance-pack-exporter"
# The hashmod of (account, region) sends 111111111111's targets to exporter 0 and
# 222222222222's to exporter 1 (tests/e2e/test_sharding.py relies on the same split).
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
TARGETS = [(account, region) for account in ACCOUNTS for region in REGIONS]
PACKS = ("cis-baseline", "pci-dss")
COMPLIANCE = "aws_config_conformance_pack_compliance"
API_REQUESTS = "aws_config_exporter_api_requests_total"
# Successful scrapes every compliance series must have been in before the checks run.
SCRAPES = 8
# Longer than the test runs: the range selectors below see every sample Prometheus stored.
WINDOW = "10m"
# The Service's address: what every probe's `instance` is when a Service takes them.
SERVICE_ADDRESS = "conformance-pack-exporter.monitoring.svc:9869"


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    now = time.time()
    packs = [
        SimulatedPack(
            name,
            "CREATE_COMPLETE",
            requested_at=now - 900,
            score=50.0,
            scored_at=now,
            rules=(
                SimulatedRule("s3-versioning"),
                SimulatedRule("iam-root-key", "NON_COMPLIANT", 3),
            ),
        )
        for name in PACKS
    ]
    with ConfigSimulator(Scenario({target: packs for target in TARGETS})) as simulator:
        yield simulator


@pytest.fixture
def exporters(simulator: ConfigSimulator, tmp_path: Path) -> Iterator[list[ExporterProcess]]:
    """Two ready replicas with the same configuration, exporter 0 ahead in its counters."""
    config = {
        "regions": list(REGIONS),
        "min_interval_seconds": 0,
        # Read in the background: a replica serves a target's compliance once it has read it.
        "compliance": {"interval_seconds": 2},
        "pipeline": {"enabled": False},
        "accounts": [{"role_arn": f"arn:aws:iam::{account}:role/{ROLE}"} for account in ACCOUNTS],
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
        for _ in range(3):
            for account, region in TARGETS:
                status, _, body = started[0].get(f"/probe?account={account}&region={region}")
                assert status == 200, body
        yield started
    finally:
        for exporter in started:
            exporter.stop()


def service_jobs(addresses: list[str]) -> tuple[list[Path], list[dict[str, Any]]]:
    """The probe job as a load-balancing Service makes it: each target reaches both replicas,
    under the one `instance` of the Service, so their answers land in the same series."""
    rule_files, (probe, replicas) = sharded_config(addresses)
    probe["http_sd_configs"] = [{"url": f"http://{address}/sd"} for address in addresses]
    probe["relabel_configs"] = [{"target_label": "instance", "replacement": SERVICE_ADDRESS}]
    return rule_files, [probe, replicas]


Samples = list[tuple[dict[str, str], list[tuple[float, float]]]]


def samples(prometheus: PrometheusServer, selector: str, at: float) -> Samples:
    """Each series' labels and raw (timestamp, value) samples over WINDOW."""
    return [
        (dict(series["metric"]), [(float(t), float(v)) for t, v in series["values"]])
        for series in prometheus.query(f"{selector}[{WINDOW}]", at)
    ]


def compliance_gaps(prometheus: PrometheusServer, at: float) -> list[str]:
    """Successful scrapes of a target, after its compliance series' first sample, without it."""
    scraped: dict[tuple[str, str], set[float]] = {}
    for labels, values in samples(prometheus, f'up{{job="{JOB}"}}', at):
        target = (labels["account_id"], labels["region"])
        scraped.setdefault(target, set()).update(t for t, v in values if v == 1)
    gaps = []
    for labels, values in samples(prometheus, f'{COMPLIANCE}{{job="{JOB}"}}', at):
        seen = {t for t, _ in values}
        first = min(seen)
        target = (labels["account_id"], labels["region"])
        missing = sorted(t for t in scraped[target] - seen if t > first)
        if missing:
            gaps.append(f"{labels}: missing at {missing}")
    return gaps


def observe(
    exporters: list[ExporterProcess],
    prometheus_factory: Callable[..., PrometheusServer],
    jobs: Callable[[list[str]], tuple[list[Path], list[dict[str, Any]]]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The API call series with a counter reset, and the compliance gaps, once every
    compliance series of every target has been in SCRAPES scrapes."""
    addresses = [exporter.url.removeprefix("http://") for exporter in exporters]
    rule_files, scrape_configs = jobs(addresses)
    prometheus = prometheus_factory([], rule_files=rule_files, scrape_configs=scrape_configs)
    per_pack = f"count_over_time({COMPLIANCE}{{job='{JOB}'}}[{WINDOW}])"
    enough = f"count(min by (account_id, region, conformance_pack) ({per_pack}) >= {SCRAPES})"

    def every_pack_scraped_enough() -> bool:
        result = prometheus.query(enough)
        return bool(result) and float(result[0]["value"][1]) == len(TARGETS) * len(PACKS)

    wait_for(every_pack_scraped_enough, 90, f"every pack's compliance in {SCRAPES} scrapes")
    at = time.time()
    counting = prometheus.query(f'increase({API_REQUESTS}{{job="{JOB}"}}[{WINDOW}]) > 0', at)
    assert {(s["metric"]["account_id"], s["metric"]["region"]) for s in counting} == set(TARGETS)
    resets = prometheus.query(f'resets({API_REQUESTS}{{job="{JOB}"}}[{WINDOW}]) > 0', at)
    return resets, compliance_gaps(prometheus, at)


def test_shipped_sharding_never_mixes_the_state_of_two_replicas(
    exporters: list[ExporterProcess], prometheus_factory: Callable[..., PrometheusServer]
) -> None:
    resets, gaps = observe(exporters, prometheus_factory, sharded_config)
    assert resets == [], "a counter of API calls went down: two replicas in one series"
    assert gaps == [], "a target's compliance is missing from some of its scrapes"


def test_a_service_spreading_probes_over_replicas_mixes_their_counters(
    exporters: list[ExporterProcess], prometheus_factory: Callable[..., PrometheusServer]
) -> None:
    resets, _ = observe(exporters, prometheus_factory, service_jobs)
    reset_targets = {(s["metric"]["account_id"], s["metric"]["region"]) for s in resets}
    assert reset_targets == set(TARGETS), "every target's counters alternate between replicas"
