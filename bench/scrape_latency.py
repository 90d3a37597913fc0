"""Scrape latency against boto3's bare paginator, on the simulator with injected latency.

Prints figures; it is not a test. The simulator and the exporter each run in their own
process, as in production, so neither steals the other's interpreter lock.

    python bench/scrape_latency.py [--latency 0.04] [--packs 45] [--scrapes 30]
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.config

REPO = Path(__file__).resolve().parent.parent
REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
)
ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDBENCHBENCHBENCH0",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "PYTHONUNBUFFERED": "1",
}


@contextmanager
def process(
    command: list[str], env: dict[str, str], ready: str
) -> Iterator[tuple[subprocess.Popen[str], re.Match[str]]]:
    """Run `command`; yield it and the match of the first output line matching `ready`."""
    child = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if match := re.search(ready, line):
                # Keep draining, or a chatty child blocks on a full pipe.
                drain = threading.Thread(target=child.stdout.read, daemon=True)
                drain.start()
                yield child, match
                break
        else:
            raise RuntimeError(f"{command[:4]} exited before printing {ready!r}")
    finally:
        child.terminate()
        child.wait(10)


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up: connections, credential resolution, model loading
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def bare_paginator(url: str, region: str, repeats: int) -> float:
    client = boto3.Session(
        aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    ).client(
        "config", endpoint_url=url, config=botocore.config.Config(retries={"mode": "standard"})
    )
    return median_seconds(lambda: read_all(client), repeats)


def read_all(client: Any) -> None:
    """Every page of pack statuses, through boto3's paginator and nothing else."""
    for _ in client.get_paginator("describe_conformance_pack_status").paginate(
        PaginationConfig={"PageSize": 20}
    ):
        pass


def api_calls(exposition: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("aws_config_exporter_api_requests_total{")
    )


def simulator_command(
    latency: float, packs: int, regions: Sequence[str], accounts: Sequence[str] = ()
) -> list[str]:
    """The simulator as its own process, serving generated healthy packs."""
    command = [
        sys.executable,
        "-m",
        "exporter.simulator",
        f"--latency={latency}",
        f"--packs={packs}",
        f"--regions={','.join(regions)}",
    ]
    return command + ([f"--accounts={','.join(accounts)}"] if accounts else [])


def exporter_command(config_path: str) -> list[str]:
    """The exporter as its own process, on an ephemeral port."""
    return [
        sys.executable,
        "-m",
        "exporter",
        "--web.listen-address=127.0.0.1:0",
        f"--config.file={config_path}",
    ]


def exporter_scrape(url: str, regions: tuple[str, ...], repeats: int) -> tuple[float, float]:
    """Median scrape seconds and AWS calls per scrape for an exporter reading `regions`."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as config:
        # Every scrape reads AWS: a result served again would time nothing.
        config.write(f"regions: [{', '.join(regions)}]\nmin_interval_seconds: 0\n")
        config.flush()
        command = exporter_command(config.name)
        with process(command, {**ENV, "AWS_ENDPOINT_URL": url}, r"\bport=(\d+)") as (_, match):
            metrics_url = f"http://127.0.0.1:{match[1]}/metrics"

            def scrape() -> str:
                with urllib.request.urlopen(metrics_url, timeout=30) as response:
                    return str(response.read().decode())

            before = api_calls(scrape())
            seconds = median_seconds(scrape, repeats)
            after = api_calls(scrape())
            calls_per_scrape = (after - before) / (repeats + 2)
    return seconds, calls_per_scrape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--packs", type=int, default=45)
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()

    simulator = simulator_command(args.latency, args.packs, REGIONS)
    with process(simulator, ENV, r"listening on (\S+)") as (_, match):
        url = match[1]
        bare = bare_paginator(url, REGIONS[0], args.scrapes)
        one, one_calls = exporter_scrape(url, REGIONS[:1], args.scrapes)
        eight, eight_calls = exporter_scrape(url, REGIONS, args.scrapes)

    pages = math.ceil(args.packs / 20)
    print(f"simulator latency {args.latency * 1000:.0f} ms, {args.packs} packs per region")
    print(f"{'':28}{'median':>10}{'ratio':>7}{'bound':>7}{'within':>8}{'AWS calls/scrape':>18}")
    print(f"{'bare paginator, 1 region':28}{bare * 1000:>8.1f}ms{1:>7.2f}{'':>15}{pages:>18}")
    rows = [
        ("exporter, 1 region", one, 1.15, one_calls),
        ("exporter, 8 regions", eight, 1.5, eight_calls),
    ]
    for name, seconds, bound, calls in rows:
        ratio = seconds / bare
        within = "yes" if ratio <= bound else "NO"
        print(
            f"{name:28}{seconds * 1000:>8.1f}ms{ratio:>7.2f}{bound:>7.2f}{within:>8}{calls:>18.1f}"
        )


if __name__ == "__main__":
    main()
