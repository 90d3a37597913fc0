"""Scaling with (account, region) targets: scrape time, CPU, AWS calls, memory per target.

Prints a table; it is not a test. Each account is a role the exporter assumes through the
simulator's STS, as in an AWS Organization. The simulator runs in its own process.

Beside the exporter it times two references: one target's bare paginator (the ratio the issue
sets its goal against) and "boto3 alone": one bare paginator per target, all at once on
threads in one process, which is the floor any single-process exporter built on boto3 can
reach. The "replicas" column splits the accounts over that many exporter processes scraped at
once, as sharding with /probe does.

    python bench/targets.py [--targets 1,10,100,500] [--packs 5] [--latency 0.04]
                            [--concurrency N] [--replicas 2]
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
    bare_paginator,
    exporter_command,
    median_seconds,
    process,
    read_all,
    simulator_command,
)

REGIONS = ("us-east-1", "eu-west-1")


def accounts_for(targets: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range((targets + 1) // len(REGIONS))]


def bare_clients(url: str, count: int) -> list[Any]:
    core = botocore.session.get_session()
    core.set_credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
    config = botocore.config.Config(retries={"mode": "standard"})
    return [
        core.create_client("config", region_name=REGIONS[0], endpoint_url=url, config=config)
        for _ in range(count)
    ]


def boto3_alone(url: str, targets: int, repeats: int) -> tuple[float, float]:
    """Median seconds and CPU seconds per round of one bare paginator per target, on threads."""
    clients = bare_clients(url, targets)
    with ThreadPoolExecutor(max_workers=targets) as pool:
        list(pool.map(read_all, clients))  # warm-up: connections, lazily loaded models
        cpu_before = time.process_time()
        seconds = median_seconds(lambda: list(pool.map(read_all, clients)), repeats)
        return seconds, (time.process_time() - cpu_before) / (repeats + 1)


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
    lines = [f"regions: [{', '.join(regions)}]", "accounts:"]
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


def measure(url: str, targets: int, repeats: int, concurrency: int | None) -> dict[str, float]:
    accounts = accounts_for(targets)
    regions = REGIONS[:1] if targets == 1 else REGIONS
    with exporter(url, accounts, regions, concurrency) as one:
        first = api_calls(one.scrape())  # assumes every role, warms every connection
        cpu_before = cpu_seconds(one.pid)
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            one.scrape()
            timings.append(time.perf_counter() - started)
        cpu = (cpu_seconds(one.pid) - cpu_before) / repeats
        before = api_calls(one.scrape())
        calls_one = api_calls(one.scrape()) - before
        concurrent = scrape_together([one, one])
        calls_two = max(api_calls(text) for text in concurrent) - (before + calls_one)
        rss = resident_mb(one.pid)
    return {
        "targets": len(accounts) * len(regions),
        "median": statistics.median(timings),
        "cpu": cpu,
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
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--concurrency", type=int, help="the exporter's (default: its default)")
    parser.add_argument("--replicas", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    sizes = [int(n) for n in args.targets.split(",")]
    accounts = accounts_for(max(sizes))
    simulator = simulator_command(args.latency, args.packs, REGIONS, accounts)
    with process(simulator, ENV, r"listening on (\S+)") as (_, match):
        url = match[1]
        bare = bare_paginator(url, REGIONS[0], args.scrapes * 3)
        rows = [measure(url, size, args.scrapes, args.concurrency) for size in sizes]
        alone = {size: boto3_alone(url, size, args.scrapes) for size in sizes}
        shards = {
            size: sharded(url, size, args.replicas, args.scrapes, args.concurrency)
            for size in sizes
            if size >= 10 * args.replicas
        }
    print(
        f"simulator latency {args.latency * 1000:.0f} ms, {args.packs} packs per target, "
        f"exporter concurrency {args.concurrency or 'default'}, {os.cpu_count()} CPUs"
    )
    print(f"bare paginator, one target: {bare * 1000:.1f} ms")
    header = f"{'targets':>8}{'median':>10}{'ratio':>7}{'CPU':>9}"
    header += f"{'boto3 alone':>13}{'its CPU':>9}{f'{args.replicas} replicas':>12}"
    header += f"{'calls':>7}{'2 scrapers':>12}{'RSS MB':>9}{'MB/target':>11}"
    print(header)
    for row, size in zip(rows, sizes, strict=True):
        per_target = (row["rss"] - rows[0]["rss"]) / max(1, row["targets"] - 1)
        alone_seconds, alone_cpu = alone[size]
        shard = f"{shards[size] / bare:>11.2f}x" if size in shards else f"{'':>12}"
        print(
            f"{row['targets']:>8.0f}{row['median'] * 1000:>8.1f}ms{row['median'] / bare:>7.2f}"
            f"{row['cpu'] * 1000:>7.0f}ms{alone_seconds / bare:>12.2f}x{alone_cpu * 1000:>7.0f}ms"
            f"{shard}{row['calls']:>7.0f}{row['calls_two']:>12.0f}{row['rss']:>9.1f}"
            f"{per_target if row['targets'] > 1 else 0:>11.2f}"
        )


if __name__ == "__main__":
    main()
