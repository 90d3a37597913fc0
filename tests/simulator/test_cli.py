"""python -m exporter.simulator as a process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import botocore.config
import botocore.exceptions
import botocore.session
import pytest

from exporter.simulator import DEFAULT_ACCOUNT
from tests.simulator.conftest import pack_names

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("arguments", "stop_signal", "region", "expected"),
    [
        (["--packs", "3", "--regions", "us-east-1,eu-west-1"], signal.SIGTERM, "eu-west-1", 3),
        (["--latency", "0.01"], signal.SIGINT, "us-east-1", 7),
    ],
)
def test_cli_prints_its_url_and_stops_on_signal(session, arguments, stop_signal, region, expected):
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
        client = session.client(
            "config",
            region_name=region,
            endpoint_url=match[1],
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )
        assert len(pack_names(client)) == expected
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0
    assert (stdout, stderr) == ("", "")


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
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            "--packs=2",
            "--rules=30",
            "--regions=us-east-1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", process.stdout.readline())
        assert match
        client = session.client(
            "config",
            region_name="us-east-1",
            endpoint_url=match[1],
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )
        pages = client.get_paginator("describe_compliance_by_config_rule").paginate()
        assert sum(len(page["ComplianceByConfigRules"]) for page in pages) == 60
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0


def test_cli_faults_requests_and_prints_the_calls_it_received(session):
    """`--fault` misbehaves only where scoped; `--calls` prints every call on exit."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            "--listen=127.0.0.1:0",
            "--fault=access_denied,region=eu-west-1,operation=DescribeConformancePackStatus",
            "--calls",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", process.stdout.readline())
        assert match

        def client(region: str):
            return session.client(
                "config",
                region_name=region,
                endpoint_url=match[1],
                config=botocore.config.Config(retries={"total_max_attempts": 1}),
            )

        with pytest.raises(botocore.exceptions.ClientError, match="AccessDeniedException"):
            client("eu-west-1").describe_conformance_pack_status()
        assert pack_names(client("us-east-1"))
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    lines = set(stdout.splitlines())
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
