"""End to end: two exporters share the targets of an organisation. Real Prometheus, with the
jobs and rules of deploy/prometheus/sharded.yml (only addresses and intervals replaced),
discovers the (account, region) targets at exporter 0's `/sd`, probes each on exactly one
exporter, and reads each exporter's own health at `/metrics?collect[]=discovery`. The accounts
are partly configured, partly listed from moto's AWS Organizations (server mode).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.server import ThreadedMotoServer

from exporter.metrics import ACCOUNTS, SCRAPE_SUCCESS, STATE
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import ACCOUNT, REPO, ExporterProcess, Organization, aws_env, run_tool, wait_for
from tests.e2e.conftest import JOB, PrometheusServer, binary

pytestmark = pytest.mark.e2e

SHARDED = REPO / "deploy" / "prometheus" / "sharded.yml"
SHIPPED_ADDRESSES = tuple(
    f"conformance-pack-exporter-{n}.conformance-pack-exporter.monitoring.svc:9869" for n in (0, 1)
)
REPLICAS_JOB = "conformance-pack-exporter-replicas"
DISCOVERY_ALERT = "ConformancePackExporterDiscoveryFailing"
ROLE = "conformance-pack-exporter"
# Listed in `accounts`; the hashmod of (account, region) sends 111111111111's targets to
# exporter 0 and 222222222222's to exporter 1, whatever ids moto gives the members.
CONFIGURED = ("111111111111", "222222222222")
MEMBERS = ("payments", "analytics", "sandbox")
REGIONS = ("us-east-1", "eu-west-1")
PACKS_PER_TARGET = 2


@pytest.fixture
def discovered(organization: Organization) -> tuple[str, ...]:
    """The accounts moto's Organizations lists: the management account (the base
    credentials' own, read without a role) and three members (random ids)."""
    return (ACCOUNT, *(organization.create(name) for name in MEMBERS))


@pytest.fixture
def targets(discovered: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (account, region) the exporters read, sorted."""
    return sorted((account, region) for account in (*CONFIGURED, *discovered) for region in REGIONS)


@pytest.fixture
def simulator(targets: list[tuple[str, str]]) -> Iterator[ConfigSimulator]:
    now = time.time()
    packs = {
        target: [
            SimulatedPack("cis-baseline", "CREATE_COMPLETE", requested_at=now - 900),
            SimulatedPack("pci-dss", "CREATE_FAILED", reason="denied", requested_at=now - 600),
        ]
        for target in targets
    }
    with ConfigSimulator(Scenario(packs)) as simulator:
        yield simulator


def is_ready(exporter: ExporterProcess) -> bool:
    return exporter.get("/-/ready")[0] == 200


@pytest.fixture
def exporters(
    simulator: ConfigSimulator, moto_url: str, tmp_path: Path
) -> Iterator[list[ExporterProcess]]:
    """Two exporters with the same configuration, both ready (their first listing ended)."""
    config = {
        "regions": list(REGIONS),
        "compliance": {"enabled": False},
        # The scenario has no recorders: the pipeline would alert on each target.
        "pipeline": {"enabled": False},
        "accounts": [{"role_arn": f"arn:aws:iam::{account}:role/{ROLE}"} for account in CONFIGURED],
        "organization_accounts": {"role_name": ROLE, "refresh_interval_seconds": 1},
    }
    config_path = tmp_path / "exporter.yml"
    config_path.write_text(yaml.safe_dump(config))
    env = aws_env(simulator.url, AWS_ENDPOINT_URL_ORGANIZATIONS=moto_url)
    started = [
        ExporterProcess([f"--config.file={config_path}", "--web.listen-address=127.0.0.1:0"], env)
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


def sharded_config(addresses: list[str]) -> tuple[list[Path], list[dict[str, Any]]]:
    """The shipped rule files and jobs, pointed at `addresses` and scraping every second."""
    shipped = yaml.safe_load(SHARDED.read_text())
    text = yaml.safe_dump(shipped["scrape_configs"])
    for shipped_address, address in zip(SHIPPED_ADDRESSES, addresses, strict=True):
        assert shipped_address in text
        text = text.replace(shipped_address, address)
    jobs: list[dict[str, Any]] = yaml.safe_load(text)
    assert [job["job_name"] for job in jobs] == [JOB, REPLICAS_JOB]
    for job in jobs:
        job.update(scrape_interval="1s", scrape_timeout="1s")
    rule_files = [(SHARDED.parent / name).resolve() for name in shipped["rule_files"]]
    return rule_files, jobs


def by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    """Each series' value by the values of `labels`."""
    return {
        tuple(series["metric"].get(name, "") for name in labels): float(series["value"][1])
        for series in result
    }


def alerts_by_name(prometheus: PrometheusServer) -> dict[str, list[tuple[str, ...]]]:
    """(job, instance, account_id, region, state) of each pending or firing alert, by name."""
    alerts: dict[str, list[tuple[str, ...]]] = {}
    for alert in prometheus.alerts():
        labels = alert["labels"]
        where = tuple(labels.get(name, "") for name in ("job", "instance", "account_id", "region"))
        alerts.setdefault(labels["alertname"], []).append((*where, alert["state"]))
    return alerts


def test_shipped_sharded_config_passes_promtool() -> None:
    run_tool(binary("promtool"), "check", "config", SHARDED)


def test_every_target_is_probed_once_and_every_exporter_reports_its_discovery(
    exporters: list[ExporterProcess],
    targets: list[tuple[str, str]],
    discovered: tuple[str, ...],
    moto_server: ThreadedMotoServer,
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    addresses = [exporter.url.removeprefix("http://") for exporter in exporters]
    status, _, body = exporters[0].get("/sd")
    assert status == 200
    listed = [
        (group["labels"]["__param_account"], group["labels"]["region"])
        for group in json.loads(body)
    ]
    assert sorted(listed) == targets, "/sd lists the configured and the discovered accounts"
    rule_files, jobs = sharded_config(addresses)
    prometheus = prometheus_factory([], rule_files=rule_files, scrape_configs=jobs)

    # Every target, up, on one exporter each (its first scrape may still be a few seconds off).
    up_query = f'up{{job="{JOB}"}}'
    wait_for(
        lambda: len(prometheus.query(f"{up_query} == 1")) == len(targets), 60, "every target up"
    )
    # Every pack of every target scraped (the rounds of the two exporters may still differ).
    packs_query = f"count by (account_id, region, conformance_pack, state) ({STATE})"

    def packs_seen() -> bool:
        seen = by(prometheus.query(packs_query), "account_id", "region", "conformance_pack")
        return len(seen) == len(targets) * PACKS_PER_TARGET

    wait_for(packs_seen, 60, "every pack's state series")

    up = by(prometheus.query(up_query), "account_id", "region", "instance")
    assert sorted((account, region) for account, region, _ in up) == targets, (
        "each (account, region) is scraped exactly once"
    )
    assert set(up.values()) == {1.0}
    instances = {instance for _, _, instance in up}
    assert instances == set(addresses), "both exporters got targets"

    copies = by(prometheus.query(packs_query), "account_id", "region", "conformance_pack", "state")
    assert set(copies.values()) == {1.0}, f"a pack series scraped twice: {copies}"
    packs = {(account, region, pack) for account, region, pack, _ in copies}
    assert len(packs) == len(targets) * PACKS_PER_TARGET
    # A target's pack series come from the exporter its `up` series names.
    readers = by(
        prometheus.query(f"count by (account_id, region, instance) ({STATE})"),
        "account_id",
        "region",
        "instance",
    )
    assert set(readers) == set(up)

    # Each exporter once in the replicas job, with its listing's health, the accounts it reads
    # and its process; none of its targets, and none of that in the probe job.
    replicas_up = f'up{{job="{REPLICAS_JOB}"}} == 1'
    wait_for(lambda: len(prometheus.query(replicas_up)) == 2, 30, "both exporters up")
    assert by(prometheus.query(replicas_up), "instance") == {(a,): 1.0 for a in addresses}
    # As ConformancePackExporterDiscoveryFailing selects it: by collector only.
    discovery = by(
        prometheus.query(f'{SCRAPE_SUCCESS}{{collector="discovery"}}'),
        "job",
        "instance",
        "account_id",
        "region",
    )
    assert discovery == {(REPLICAS_JOB, a, ACCOUNT, REGIONS[0]): 1.0 for a in addresses}
    accounts = by(prometheus.query(ACCOUNTS), "job", "instance", "source")
    assert accounts == {
        **{(REPLICAS_JOB, a, "organization"): float(len(discovered)) for a in addresses},
        **{(REPLICAS_JOB, a, "config"): float(len(CONFIGURED)) for a in addresses},
    }
    replica_collectors = by(
        prometheus.query(f'count by (collector) ({SCRAPE_SUCCESS}{{job="{REPLICAS_JOB}"}})'),
        "collector",
    )
    assert replica_collectors == {("discovery",): 2.0}, "the replicas job reads no target"
    assert not prometheus.query(f'{STATE}{{job="{REPLICAS_JOB}"}}')
    processes = by(prometheus.query("process_start_time_seconds"), "job", "instance")
    assert set(processes) == {(REPLICAS_JOB, a) for a in addresses}

    # The shipped rules: one ConformancePackFailed per target (each has a failed pack), from
    # the probe job, and no other alert while all is well.
    def every_failed_pack_alerting() -> dict[str, list[tuple[str, ...]]]:
        alerts = alerts_by_name(prometheus)
        return alerts if len(alerts.get("ConformancePackFailed", [])) == len(targets) else {}

    alerts = wait_for(every_failed_pack_alerting, 30, "a ConformancePackFailed per target")
    assert set(alerts) == {"ConformancePackFailed"}, alerts
    failed = sorted(
        (job, account, region) for job, _, account, region, _ in alerts["ConformancePackFailed"]
    )
    assert failed == [(JOB, account, region) for account, region in targets]

    # Organizations unreachable: each exporter keeps its last list, and the shipped alert on the
    # listing goes pending for each, through the replicas job (its `for:` is 15 minutes).
    moto_server.stop()
    failing = wait_for(
        lambda: (
            len(found := alerts_by_name(prometheus).get(DISCOVERY_ALERT, [])) == len(addresses)
            and found
        ),
        60,
        f"{DISCOVERY_ALERT} on both exporters",
    )
    assert sorted(failing) == sorted(
        (REPLICAS_JOB, a, ACCOUNT, REGIONS[0], "pending") for a in addresses
    )
    assert len(prometheus.query(f"{up_query} == 1")) == len(targets), "every target still read"
