"""The benches still run and print every figure (short runs; the full ones are by hand)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

FIGURES = [
    r"^soak: 50 scrapes in [\d.]+ s; 2 healthy regions of 45 packs, 5 failing \(.+\)$",
    r"^latency ms: p50=[\d.]+ p90=[\d.]+ p99=[\d.]+ max=[\d.]+ mean=[\d.]+$",
    r"^resident memory MiB: start=[\d.]+ end=[\d.]+ \([+-][\d.]+\)$",
    r"^open file descriptors: start=\d+ end=\d+$",
    r"^threads: start=\d+ end=\d+$",
    r"^unexpected scrapes: 0$",
]


def printed_figures(patterns: list[str], *command: str) -> list[str]:
    """The lines a bench prints, each matching its pattern; the bench must exit 0."""
    result = subprocess.run(
        [sys.executable, *command], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(patterns), result.stdout
    for pattern, line in zip(patterns, lines, strict=True):
        assert re.match(pattern, line), line
    return lines


def test_soak_prints_its_figures() -> None:
    lines = printed_figures(FIGURES, "bench/soak.py", "--scrapes", "50")

    fds = re.findall(r"\d+", lines[3])
    assert fds[0] == fds[1], "file descriptors leaked during 50 scrapes"


ORGANIZATION_FIGURES = [
    r"^simulator latency 40 ms in its own process; 20 accounts x 2 regions x 5 packs of 4 rules;"
    r" concurrency 64; \d+ CPUs; calls per refresh, seconds as median \(min-max\) of 1$",
    r"^ +direct: 320 calls \(ListConformancePackComplianceScores 40,"
    r" GetConformancePackComplianceSummary 40, DescribeConformancePackCompliance 200,"
    r" DescribeConformancePackStatus 40\),"
    r" 20 AssumeRole on the first refresh; wall [\d.]+ s \([\d.]+-[\d.]+\), first [\d.]+ s;"
    r" CPU [\d.]+ s \([\d.]+-[\d.]+\), simulator CPU [\d.]+ s; 200 pack series, 800 rule series$",
    r"^aggregator: 3 calls \(DescribeAggregateComplianceByConformancePacks 2,"
    r" DescribeConfigurationAggregatorSourcesStatus 1\),"
    r" 1 AssumeRole on the first refresh; wall [\d.]+ s \([\d.]+-[\d.]+\), first [\d.]+ s;"
    r" CPU [\d.]+ s \([\d.]+-[\d.]+\), simulator CPU [\d.]+ s; 200 pack series, 0 rule series$",
    r"^same series both ways: 1200 samples of aws_config_conformance_pack_compliance and"
    r" aws_config_conformance_pack_rules$",
    r"^direct/aggregator: calls 106\.7x, wall [\d.]+x, CPU [\d.]+x$",
]


def test_organization_bench_prints_its_figures() -> None:
    """bench/organization.py --quick: both ways serve the same series, with the fewest calls."""
    printed_figures(ORGANIZATION_FIGURES, "bench/organization.py", "--quick")


MEMORY_FIGURES = [
    r"^4 packs per target \(1 for the fewer\), compliance and pipeline on, roles assumed"
    r" through the simulator in its own process$",
    r"^1 account x 2 regions: 2 targets, \d+ series, RSS [\d.]+ MB$",
    r"^10 accounts x 2 regions: 20 targets, \d+ series, RSS [\d.]+ MB$",
    r"^RSS per extra target, series included: -?[\d.]+ MB$",
    r"^same targets, fewer packs: \d+ series, RSS [\d.]+ MB$",
    r"^sizing, targets like these: RSS MB = -?[\d.]+ \+ -?[\d.]+ x targets$",
    r"^fit with series apart: RSS MB = -?[\d.]+ \+ -?[\d.]+ x targets"
    r" \+ -?[\d.]+ x thousand series$",
    r"^churn: 10 refreshes, each listing 5 of 10 accounts x 2 regions;"
    r" RSS MB at refresh 5=[\d.]+ 10=[\d.]+$",
]


def test_memory_bench_prints_its_figures() -> None:
    """bench/memory.py --quick: RSS at 1 and 10 accounts, the sizing formula, the churn."""
    lines = printed_figures(MEMORY_FIGURES, "bench/memory.py", "--quick")

    one, many = (float(re.findall(r"RSS ([\d.]+)", line)[0]) for line in lines[1:3])
    assert many > one, "more accounts, more memory: the figures measure the exporter"


LARGE_SCRAPE_FIGURES = [
    r"^4 targets x 100 rules: \d+ series, [\d.]+ MB; seconds as median \(min-max\) of 3$",
    r"^warm /metrics, ours: [\d.]+ s \([\d.]+-[\d.]+\); gzip: [\d.]+ s \([\d.]+-[\d.]+\)$",
    r"^same samples, prometheus_client generate_latest: [\d.]+ s \([\d.]+-[\d.]+\);"
    r" our encoder without pre-encoded blocks: [\d.]+ s \([\d.]+-[\d.]+\)$",
    r"^pack-status reads hanging, timeout 1 s: answered in [\d.]+ s with 1200 rule series;"
    r" within the timeout: yes$",
]


def test_large_scrape_bench_prints_its_figures() -> None:
    """bench/large_scrape.py --quick: every rule still served by a scrape that hits its deadline."""
    printed_figures(LARGE_SCRAPE_FIGURES, "bench/large_scrape.py", "--quick")
