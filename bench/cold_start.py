"""The first scrape after a start: how long until the exporter is ready, and what the first
and later scrapes cost, with every account a role assumed through the simulator's STS.

Prints figures; it is not a test. Each round starts a new exporter process against one
simulator process (40 ms latency by default) and scrapes it as soon as `/-/ready` answers 200,
as Kubernetes would, then again.

    python bench/cold_start.py [--accounts 25] [--regions 4] [--rounds 3] [--latency 0.04]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_latency import ENV, REGIONS, exporter_command, process, simulator_command


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def one_start(url: str, accounts: list[str], regions: tuple[str, ...]) -> dict[str, float]:
    """Seconds from the process start to listening, to ready, and of the first two scrapes."""
    lines = [
        f"regions: [{', '.join(regions)}]",
        "compliance: {enabled: false}",
        "min_interval_seconds: 0",  # the second scrape reads AWS too, as it did at start
        "accounts:",
    ]
    lines += [f"  - role_arn: arn:aws:iam::{a}:role/reader" for a in accounts]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        config.write("\n".join(lines) + "\n")
        config.flush()
        env = {**ENV, "AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1"}
        started = time.monotonic()
        with process(exporter_command(config.name), env, r"\bport=(\d+)") as (_, match):
            listening = time.monotonic() - started
            base = f"http://127.0.0.1:{match[1]}"
            while get(f"{base}/-/ready") != 200:
                time.sleep(0.01)  # a polled endpoint: nothing to await
            ready = time.monotonic() - started
            scrapes = []
            for _ in range(2):
                begun = time.monotonic()
                get(f"{base}/metrics")
                scrapes.append(time.monotonic() - begun)
    return {"listening": listening, "ready": ready, "first": scrapes[0], "second": scrapes[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=25)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--packs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.04)
    args = parser.parse_args()
    regions = REGIONS[: args.regions]
    accounts = [f"{100000000000 + i}" for i in range(args.accounts)]
    command = simulator_command(args.latency, args.packs, regions, accounts)
    with process(command, dict(ENV), r"listening on (http://\S+)") as (_, match):
        rounds = [one_start(match[1], accounts, regions) for _ in range(args.rounds)]
    print(
        f"{args.accounts} accounts x {len(regions)} regions = {args.accounts * len(regions)} "
        f"targets, {args.packs} packs each, {args.latency * 1000:.0f} ms latency; "
        f"seconds from the process start, median (min-max) of {args.rounds} starts"
    )
    for name in ("listening", "ready", "first", "second"):
        values = [r[name] for r in rounds]
        label = {"first": "first scrape", "second": "second scrape"}.get(name, name)
        print(
            f"  {label:<14} {statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"
        )


if __name__ == "__main__":
    main()
