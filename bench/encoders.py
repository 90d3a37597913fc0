"""Our encoders against prometheus_client's, on the same families, in one run.

Prints figures; it is not a test. exporter/exposition.py exists because prometheus_client's
encoders were slow on large state sets: if a later prometheus_client closes the gap, the last
line says so, and the module can go.

    python bench/encoders.py [--packs 500,5000] [--rounds 11]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import botocore.session
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from exporter.exposition import encode_openmetrics, encode_text

# The states of the installed botocore model, read as the exporter reads them.
STATES: tuple[str, ...] = tuple(
    botocore.session.get_session()
    .get_service_model("config")
    .shape_for("ConformancePackState")
    .enum  # type: ignore[attr-defined]
)
ACCOUNTS = tuple(f"{100000000000 + i:012d}" for i in range(5))
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")
# Below this median speed-up at every size, our encoders no longer pay for their code.
WORTH_KEEPING = 1.25


class Families:
    """Already built families as a collector, for prometheus_client's encoders."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def their_text(families: list[Metric]) -> bytes:
    """prometheus_client's text format 0.0.4 encoder."""
    return generate_latest(Families(families))


# prometheus_client ships its OpenMetrics encoder untyped.
_generate_openmetrics: Callable[[Families], bytes] = generate_openmetrics


def their_openmetrics(families: list[Metric]) -> bytes:
    """prometheus_client's OpenMetrics 1.0 encoder."""
    return _generate_openmetrics(Families(families))


Encoder = Callable[[list[Metric]], bytes]
FORMATS: tuple[tuple[str, Encoder, Encoder], ...] = (
    ("text 0.0.4", encode_text, their_text),
    ("OpenMetrics", encode_openmetrics, their_openmetrics),
)


def state_families(packs: int) -> list[Metric]:
    """A 0/1 state set per pack, as the exporter serves it, spread over accounts and regions."""
    family = GaugeMetricFamily(
        "aws_config_conformance_pack_state",
        "1 for the conformance pack's current deployment state, 0 for the others.",
        labels=("account_id", "region", "conformance_pack", "state"),
    )
    for index in range(packs):
        account = ACCOUNTS[index % len(ACCOUNTS)]
        region = REGIONS[index // len(ACCOUNTS) % len(REGIONS)]
        current = STATES[index % len(STATES)]
        for state in STATES:
            labels = [account, region, f"pack-{index:05d}", state]
            family.add_metric(labels, 1.0 if state == current else 0.0)
    return [family]


def paired_seconds(
    families: list[Metric], ours: Encoder, theirs: Encoder, rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds per call of each, in rounds that alternate which goes first, each call after a
    garbage collection so neither pays for the other's garbage."""
    ours_seconds: list[float] = []
    theirs_seconds: list[float] = []
    for round_number in range(rounds):
        pair = [(ours, ours_seconds), (theirs, theirs_seconds)]
        for encode, seconds in pair if round_number % 2 else reversed(pair):
            gc.collect()
            started = time.perf_counter()
            encode(families)
            seconds.append(time.perf_counter() - started)
    return ours_seconds, theirs_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", default="500,5000", help="comma-separated pack counts")
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()

    client = version("prometheus_client")
    print(
        f"prometheus_client {client}, Python {platform.python_version()}, {len(STATES)} states"
        f" per pack, {args.rounds} rounds; speed-up = their time / ours, median (min-max)"
    )
    print(f"{'packs':>6}{'samples':>9}  {'format':<12}{'ours':>10}{'theirs':>10}  speed-up")
    medians = []
    for packs in (int(n) for n in args.packs.split(",")):
        families = state_families(packs)
        for name, ours, theirs in FORMATS:
            if ours(families) != theirs(families):
                raise SystemExit(f"{name}: our bytes differ from prometheus_client's")
            ours_seconds, theirs_seconds = paired_seconds(families, ours, theirs, args.rounds)
            ratios = [t / o for o, t in zip(ours_seconds, theirs_seconds, strict=True)]
            medians.append(statistics.median(ratios))
            print(
                f"{packs:>6}{packs * len(STATES):>9}  {name:<12}"
                f"{statistics.median(ours_seconds) * 1000:>8.1f}ms"
                f"{statistics.median(theirs_seconds) * 1000:>8.1f}ms"
                f"  {medians[-1]:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            )
    if max(medians) < WORTH_KEEPING:
        print(
            f"prometheus_client {client} has closed the gap (under {WORTH_KEEPING}x everywhere):"
            " exporter/exposition.py's encoders no longer pay for themselves"
        )
    else:
        print(f"our encoders are still worth keeping with prometheus_client {client}")


if __name__ == "__main__":
    main()
