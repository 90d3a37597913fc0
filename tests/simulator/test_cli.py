"""python -m exporter.simulator as a process."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session
import pytest

from exporter.simulator import DEFAULT_ACCOUNT
from tests.simulator.conftest import pack_names

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A simulator process that printed its URL; `stop` fills in what it printed after."""

    process: subprocess.Popen[str]
    url: str
    stdout: str = ""
    stderr: str = ""

    def client(self, session: Any, region: str) -> Any:
        return session.client(
            "config",
            region_name=region,
            endpoint_url=self.url,
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM) -> None:
        self.process.send_signal(stop_signal)
        self.stdout, self.stderr = self.process.communicate(timeout=10)


@contextlib.contextmanager
def simulator_process(*arguments: str) -> Iterator[Served]:
    """`python -m exporter.simulator` on a free loopback port, killed if a test leaves it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator", "--listen", "127.0.0.1:0", *arguments],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        yield Served(process, match[1])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("arguments", "stop_signal", "region", "expected"),
    [
        (["--packs", "3", "--regions", "us-east-1,eu-west-1"], signal.SIGTERM, "eu-west-1", 3),
        (["--latency", "0.01"], signal.SIGINT, "us-east-1", 7),
    ],
)
def test_cli_prints_its_url_and_stops_on_signal(session, arguments, stop_signal, region, expected):
    with simulator_process(*arguments) as served:
        assert len(pack_names(served.client(session, region))) == expected
        served.stop(stop_signal)

    assert served.process.returncode == 0
    assert (served.stdout, served.stderr) == ("", "")


def test_cli_rejects_a_bad_listen_address():
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator", "--listen", "nowhere"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )

    assert result.returncode == 2
    assert "--listen must be HOST:PORT" in result.stderr


def test_cli_serves_generated_rules(session):
    with simulator_process("--packs=2", "--rules=30", "--regions=us-east-1") as served:
        client = served.client(session, "us-east-1")
        pages = client.get_paginator("describe_compliance_by_config_rule").paginate()
        assert sum(len(page["ComplianceByConfigRules"]) for page in pages) == 60
        served.stop()

    assert served.process.returncode == 0


def test_cli_faults_requests_and_prints_the_calls_it_received(session):
    """`--fault` misbehaves only where scoped; `--calls` prints every call on exit."""
    fault = "--fault=access_denied,region=eu-west-1,operation=DescribeConformancePackStatus"
    with simulator_process(fault, "--calls") as served:
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDeniedException"):
            served.client(session, "eu-west-1").describe_conformance_pack_status()
        assert pack_names(served.client(session, "us-east-1"))
        served.stop()

    assert served.process.returncode == 0, served.stderr
    lines = set(served.stdout.splitlines())
    assert f"config DescribeConformancePackStatus eu-west-1 {DEFAULT_ACCOUNT} 1" in lines
    assert any(
        line.startswith(f"config DescribeConformancePackStatus us-east-1 {DEFAULT_ACCOUNT} ")
        for line in lines
    ), lines


def test_cli_refuses_a_bad_fault():
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator", "--fault", "throttle,colour=red"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )

    assert result.returncode == 2
    assert "--fault throttle,colour=red:" in result.stderr
