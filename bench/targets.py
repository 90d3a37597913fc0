"""Scaling with (account, region) targets: scrape time, AWS calls, memory per target.

Prints a table; it is not a test. Each account is a role the exporter assumes through the
simulator's STS, as in an AWS Organization. The simulator runs in its own process.

    python bench/targets.py [--targets 1,10,100,500] [--packs 5] [--latency 0.04]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import botocore.config
import botocore.session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_latency import ENV, api_calls, exporter_command, process, simulator_command

REGIONS = ("us-east-1", "eu-west-1")


def accounts_for(targets: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range((targets + 1) // len(REGIONS))]


def bare_paginator(url: str, repeats: int) -> float:
    core = botocore.session.get_session()
    core.set_credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
    client = core.create_client(
        "config",
        region_name=REGIONS[0],
        endpoint_url=url,
        config=botocore.config.Config(retries={"mode": "standard"}),
    )
    paginator = client.get_paginator("describe_conformance_pack_status")
    timings = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        for _ in paginator.paginate(PaginationConfig={"PageSize": 20}):
            pass
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def measure(url: str, targets: int, repeats: int) -> dict[str, float]:
    accounts = accounts_for(targets)
    lines = [f"regions: [{', '.join(REGIONS)}]", "concurrency: 256", "accounts:"]
    lines += [f"  - role_arn: arn:aws:iam::{a}:role/reader" for a in accounts]
    if targets == 1:
        lines[-1] += "\n    regions: [us-east-1]"
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        config.write("\n".join(lines) + "\n")
        config.flush()
        command = exporter_command(config.name)
        env = {**ENV, "AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1"}
        with process(command, env, r"\bport=(\d+)") as (child, match):
            metrics_url = f"http://127.0.0.1:{match[1]}/metrics"

            def scrape() -> str:
                request = urllib.request.Request(
                    metrics_url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "60"}
                )
                with urllib.request.urlopen(request, timeout=120) as response:
                    return str(response.read().decode())

            first = api_calls(scrape())  # assumes every role, warms every connection
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                scrape()
                timings.append(time.perf_counter() - started)
            before = api_calls(scrape())
            calls_one = api_calls(scrape()) - before
            concurrent: list[str] = []
            pair = [threading.Thread(target=lambda: concurrent.append(scrape())) for _ in range(2)]
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join()
            calls_two = max(api_calls(text) for text in concurrent) - (before + calls_one)
            rss = resident_mb(child.pid)
    return {
        "targets": len(accounts) * len(REGIONS) if targets > 1 else 1,
        "median": statistics.median(timings),
        "first_calls": first,
        "calls": calls_one,
        "calls_two": calls_two,
        "rss": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1,10,100,500")
    parser.add_argument("--packs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--scrapes", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(n) for n in args.targets.split(",")]
    accounts = accounts_for(max(sizes))
    simulator = simulator_command(args.latency, args.packs, REGIONS, accounts)
    with process(simulator, ENV, r"listening on (\S+)") as (_, match):
        url = match[1]
        bare = bare_paginator(url, args.scrapes * 3)
        rows = [measure(url, size, args.scrapes) for size in sizes]
    print(f"simulator latency {args.latency * 1000:.0f} ms, {args.packs} packs per target")
    print(f"bare paginator, one target: {bare * 1000:.1f} ms")
    header = f"{'targets':>8}{'median':>10}{'ratio':>7}{'calls':>7}{'2 scrapers':>12}"
    print(header + f"{'RSS MB':>9}{'MB/target':>11}")
    for row in rows:
        per_target = (row["rss"] - rows[0]["rss"]) / max(1, row["targets"] - 1)
        print(
            f"{row['targets']:>8.0f}{row['median'] * 1000:>8.1f}ms{row['median'] / bare:>7.2f}"
            f"{row['calls']:>7.0f}{row['calls_two']:>12.0f}{row['rss']:>9.1f}"
            f"{per_target if row['targets'] > 1 else 0:>11.2f}"
        )


if __name__ == "__main__":
    main()
