"""bench/soak.py still runs and prints every figure (a short run; the full one is by hand)."""

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


def test_soak_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, "bench/soak.py", "--scrapes", "50"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(FIGURES), result.stdout
    for pattern, line in zip(FIGURES, lines, strict=True):
        assert re.match(pattern, line), line
    fds = re.findall(r"\d+", lines[3])
    assert fds[0] == fds[1], "file descriptors leaked during 50 scrapes"
