"""A warm `/metrics` at the per-region rule quota, beside prometheus_client's encoder on the
same samples, and a scrape's answer time against its timeout at that size.

Prints figures; it is not a test. The exporter runs as its own process from a config file
against the simulator in another (40 targets of 1,000 rules each by default: 10 packs of 100
rules, ≈160k series). Once every rule is served, it times `/metrics` (median of --rounds),
then prometheus_client's `generate_latest` on the samples of that answer, parsed back, in
this process. Last, every pack-status read hangs, so a scrape sent with the timeout header
runs to its deadline, and the bench prints when its answer arrived.

    python bench/large_scrape.py [--accounts 20] [--regions 2] [--packs 10] [--rules 100]
                                 [--rounds 7] [--timeout 5] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import botocore.session
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import scrape_latency

from exporter.exposition import encode_text
from exporter.metrics import RULE_COMPLIANCE
from exporter.simulator import ConfigSimulator, Fault, Scenario, generated_scenario

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
STATUS_READ = "DescribeConformancePackStatus"
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
# A rule's series: one per compliance value of the installed botocore model.
VALUES = len(
    botocore.session.get_session()
    .get_service_model("config")
    .shape_for("ConformancePackComplianceType")
    .enum  # type: ignore[attr-defined]
)


def serve(scenario: Scenario, latency: float, connection: Connection) -> None:
    """The simulator's process: sends its URL; "hang" makes every pack-status read hang."""
    with ConfigSimulator(scenario) as simulator:
        simulator.latency = latency
        connection.send(simulator.url)
        while (command := connection.recv()) != "stop":
            if command == "hang":
                simulator.add_fault(Fault("hang", operation=STATUS_READ, seconds=60))
            connection.send(command)


class Families:
    """Parsed families as a collector, for prometheus_client's encoder."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def config_text(accounts: Sequence[str], regions: Sequence[str]) -> str:
    """Every account through a role; compliance read once, status on every scrape."""
    lines = [
        f"regions: [{', '.join(regions)}]",
        "min_interval_seconds: 0",
        "compliance: {interval_seconds: 3600}",
        "pipeline: {enabled: false}",
        "accounts:",
        *(f"  - role_arn: arn:aws:iam::{account}:role/reader" for account in accounts),
    ]
    return "\n".join(lines) + "\n"


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=120) as response:
        body: bytes = response.read()
        return body


def rule_series(body: bytes) -> int:
    return body.count(f"\n{RULE_COMPLIANCE}{{".encode())


def median_seconds(action: Callable[[], object], rounds: int) -> tuple[float, float, float]:
    """Median, min and max seconds of `rounds` calls, each after a garbage collection."""
    timings = []
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), min(timings), max(timings)


def until_served(url: str, expected: int, limit: float) -> bytes:
    """The first answer with every rule series, polled until `limit` seconds have passed."""
    stop = time.monotonic() + limit
    while time.monotonic() < stop:
        body = get(url)
        if rule_series(body) == expected:
            return body
        time.sleep(0.5)
    raise SystemExit(f"the exporter did not serve {expected} rule series in {limit:.0f} s")


def figure(seconds: tuple[float, float, float]) -> str:
    median, low, high = seconds
    return f"{median:.3f} s ({low:.3f}-{high:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--packs", type=int, default=10)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for the rules")
    parser.add_argument("--quick", action="store_true", help="4 targets of 100 rules, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.accounts, args.packs, args.rules, args.rounds, args.timeout = 2, 2, 50, 3, 1.0
        args.wait = 60

    accounts = [f"{100000000000 + index:012d}" for index in range(args.accounts)]
    regions = REGIONS[: args.regions]
    targets = len(accounts) * len(regions)
    rules = args.packs * args.rules
    scenario = generated_scenario(args.packs, regions, accounts, rules_per_pack=args.rules)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve, args=(scenario, 0.0, theirs), daemon=True)
    child.start()
    theirs.close()
    try:
        url = ours.recv()
        env = {**scrape_latency.ENV, "AWS_ENDPOINT_URL": url}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
            config.write(config_text(accounts, regions))
            config.flush()
            command = scrape_latency.exporter_command(config.name)
            with scrape_latency.process(command, env, r"\bport=(\d+)") as (_, match):
                metrics_url = f"http://127.0.0.1:{match[1]}/metrics"
                body = until_served(metrics_url, targets * rules * VALUES, args.wait)
                ours_text = median_seconds(lambda: get(metrics_url), args.rounds)
                gzipped = {"Accept-Encoding": "gzip"}
                ours_gzip = median_seconds(lambda: get(metrics_url, gzipped), args.rounds)
                body = get(metrics_url)
                families = list(text_string_to_metric_families(body.decode()))
                theirs_text = median_seconds(
                    lambda: generate_latest(Families(families)), args.rounds
                )
                cold = median_seconds(lambda: encode_text(families), args.rounds)
                ours.send("hang")
                ours.recv()
                started = time.perf_counter()
                late = get(metrics_url, {TIMEOUT_HEADER: f"{args.timeout:g}"})
                answered = time.perf_counter() - started
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.terminate()

    series = sum(len(family.samples) for family in families)
    print(
        f"{targets} targets x {rules} rules: {series} series, {len(body) / 1e6:.1f} MB;"
        f" seconds as median (min-max) of {args.rounds}"
    )
    print(f"warm /metrics, ours: {figure(ours_text)}; gzip: {figure(ours_gzip)}")
    print(
        f"same samples, prometheus_client generate_latest: {figure(theirs_text)};"
        f" our encoder without pre-encoded blocks: {figure(cold)}"
    )
    within = "yes" if answered <= args.timeout else "NO"
    print(
        f"pack-status reads hanging, timeout {args.timeout:g} s: answered in {answered:.3f} s"
        f" with {rule_series(late)} rule series; within the timeout: {within}"
    )


if __name__ == "__main__":
    main()
