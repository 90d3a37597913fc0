"""Scaling with (account, region) targets: scrape time, CPU, AWS calls, memory per target.

Prints a table; it is not a test. Each account is a role the exporter assumes through the
simulator's STS, as in an AWS Organization. The simulator runs in its own process.

Each round scrapes the exporter and runs a plain boto3 paginator loop (one client per target,
every target's pages read on as many threads as the exporter's `concurrency`, in this process)
side by side, in alternating order, so both see the same machine; the table gives medians and
min-max of wall time and CPU, and the exporter's CPU as a fraction of the loop's. The loop is
the naive way to use boto3, not a floor: the exporter fits its clients to spend less per call
(`python bench/instructions.py` counts the instructions of one call). The "replicas" column
splits the accounts over that many exporter processes scraped at once, as sharding with
/probe does.

    python bench/targets.py [--targets 1,10,100,500] [--packs 5] [--latency 0.04]
                            [--scrapes 7] [--concurrency N] [--replicas 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_latency import (
    ENV,
    api_calls,
    exporter_command,
    median_seconds,
    process,
    read_all,
    simulator_command,
)

REGIONS = ("us-east-1", "eu-west-1")
DEFAULT_CONCURRENCY = 64  # the exporter's, from its Config


def accounts_for(targets: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range((targets + 1) // len(REGIONS))]


def plain_clients(url: str, accounts: Sequence[str], regions: Sequence[str]) -> list[Any]:
    """One plain boto3 client per target, as the naive loop makes them."""
    core = botocore.session.get_session()
    core.set_credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
    config = botocore.config.Config(retries={"mode": "standard"})
    return [
        core.create_client("config", region_name=region, endpoint_url=url, config=config)
        for _ in accounts
        for region in regions
    ]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@dataclass
class Exporter:
    pid: int
    metrics_url: str

    def scrape(self) -> str:
        request = urllib.request.Request(
            self.metrics_url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "60"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return str(response.read().decode())


@contextmanager
def exporter(
    url: str, accounts: Sequence[str], regions: Sequence[str], concurrency: int | None
) -> Iterator[Exporter]:
    lines = [f"regions: [{', '.join(regions)}]", "min_interval_seconds: 0", "accounts:"]
    if concurrency is not None:
        lines.insert(0, f"concurrency: {concurrency}")
    lines += [f"  - role_arn: arn:aws:iam::{a}:role/reader" for a in accounts]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        config.write("\n".join(lines) + "\n")
        config.flush()
        env = {**ENV, "AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1"}
        with process(exporter_command(config.name), env, r"\bport=(\d+)") as (child, match):
            yield Exporter(child.pid, f"http://127.0.0.1:{match[1]}/metrics")


def scrape_together(exporters: Sequence[Exporter]) -> list[str]:
    """Scrape every exporter at once, as Prometheus scrapes its targets."""
    texts = [""] * len(exporters)

    def scrape(index: int) -> None:
        texts[index] = exporters[index].scrape()

    threads = [threading.Thread(target=scrape, args=(i,)) for i in range(len(exporters))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return texts


@dataclass
class Spread:
    """Median and range of one figure over the rounds."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def ms(self) -> str:
        """`median (min-max)` in milliseconds."""
        low, high = min(self.values) * 1000, max(self.values) * 1000
        return f"{self.median * 1000:.0f} ({low:.0f}-{high:.0f})"


def measure(url: str, targets: int, repeats: int, concurrency: int | None) -> dict[str, Any]:
    """The exporter's scrape and the plain loop, interleaved round by round."""
    accounts = accounts_for(targets)
    regions = REGIONS[:1] if targets == 1 else REGIONS
    clients = plain_clients(url, accounts, regions)
    threads = min(len(clients), concurrency or DEFAULT_CONCURRENCY)
    seconds: dict[str, list[float]] = {"exporter": [], "boto3": []}
    cpu: dict[str, list[float]] = {"exporter": [], "boto3": []}
    with exporter(url, accounts, regions, concurrency) as one, ThreadPoolExecutor(threads) as pool:

        def scrape_exporter() -> None:
            cpu_before, started = cpu_seconds(one.pid), time.perf_counter()
            one.scrape()
            seconds["exporter"].append(time.perf_counter() - started)
            cpu["exporter"].append(cpu_seconds(one.pid) - cpu_before)

        def plain_loop() -> None:
            cpu_before, started = time.process_time(), time.perf_counter()
            list(pool.map(read_all, clients))
            seconds["boto3"].append(time.perf_counter() - started)
            cpu["boto3"].append(time.process_time() - cpu_before)

        first = api_calls(one.scrape())  # assumes every role, warms every connection
        list(pool.map(read_all, clients))  # the same for the plain clients
        for round_ in range(repeats):
            for run in (scrape_exporter, plain_loop)[:: 1 if round_ % 2 else -1]:
                run()
        before = api_calls(one.scrape())
        calls_one = api_calls(one.scrape()) - before
        concurrent = scrape_together([one, one])
        calls_two = max(api_calls(text) for text in concurrent) - (before + calls_one)
        rss = resident_mb(one.pid)
    ratios = [e / b for e, b in zip(cpu["exporter"], cpu["boto3"], strict=True) if b]
    return {
        "targets": len(accounts) * len(regions),
        "exporter": Spread(seconds["exporter"]),
        "exporter_cpu": Spread(cpu["exporter"]),
        "boto3": Spread(seconds["boto3"]),
        "boto3_cpu": Spread(cpu["boto3"]),
        "cpu_ratio": statistics.median(cpu["exporter"]) / statistics.median(cpu["boto3"]),
        "cpu_ratio_range": (min(ratios), max(ratios)),
        "first_calls": first,
        "calls": calls_one,
        "calls_two": calls_two,
        "rss": rss,
    }


def sharded(url: str, targets: int, replicas: int, repeats: int, concurrency: int | None) -> float:
    """Median seconds to scrape `replicas` exporters at once, each owning a share of accounts."""
    accounts = accounts_for(targets)
    with ExitStack() as stack:
        exporters = [
            stack.enter_context(exporter(url, accounts[shard::replicas], REGIONS, concurrency))
            for shard in range(replicas)
        ]
        return median_seconds(lambda: scrape_together(exporters), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1,10,100,500")
    parser.add_argument("--packs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--scrapes", type=int, default=7)
    parser.add_argument("--concurrency", type=int, help="the exporter's (default: its default)")
    parser.add_argument("--replicas", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    sizes = [int(n) for n in args.targets.split(",")]
    accounts = accounts_for(max(sizes))
    simulator = simulator_command(args.latency, args.packs, REGIONS, accounts)
    with process(simulator, ENV, r"listening on (\S+)") as (_, match):
        url = match[1]
        rows = [measure(url, size, args.scrapes, args.concurrency) for size in sizes]
        shards = {
            size: sharded(url, size, args.replicas, args.scrapes, args.concurrency)
            for size in sizes
            if size >= 10 * args.replicas
        }
    print(
        f"simulator latency {args.latency * 1000:.0f} ms, {args.packs} packs per target, "
        f"exporter concurrency {args.concurrency or 'default'}, {os.cpu_count()} CPUs, "
        f"{args.scrapes} interleaved rounds; ms as median (min-max)"
    )
    header = f"{'targets':>7}{'exporter':>17}{'its CPU':>17}{'plain boto3':>17}{'its CPU':>17}"
    header += f"{'CPU ratio':>17}{f'{args.replicas} replicas':>11}"
    header += f"{'calls':>6}{'2 scrapers':>11}{'RSS MB':>8}{'MB/target':>10}"
    print(header)
    for row, size in zip(rows, sizes, strict=True):
        per_target = (row["rss"] - rows[0]["rss"]) / max(1, row["targets"] - 1)
        low, high = row["cpu_ratio_range"]
        ratio = f"{row['cpu_ratio']:.2f} ({low:.2f}-{high:.2f})"
        shard = f"{shards[size] * 1000:>9.0f}ms" if size in shards else f"{'':>11}"
        print(
            f"{row['targets']:>7.0f}{row['exporter'].ms():>17}{row['exporter_cpu'].ms():>17}"
            f"{row['boto3'].ms():>17}{row['boto3_cpu'].ms():>17}{ratio:>17}{shard}"
            f"{row['calls']:>6.0f}{row['calls_two']:>11.0f}{row['rss']:>8.1f}"
            f"{per_target if row['targets'] > 1 else 0:>10.2f}"
        )


if __name__ == "__main__":
    main()
