"""The fault matrix: the exporter process against the simulator misbehaving in every way AWS
and the network can.

Each case checks the same four things: `/metrics` still answers 200 in time, the failing
region's `aws_config_exporter_scrape_success` is right (the healthy one's stays 1), the
attempts are counted under the right `outcome`, and the next healthy scrape is complete.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.simulator import ConfigSimulator, Fault, FaultKind, Scenario, SimulatedPack
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, parse_exposition

pytestmark = pytest.mark.integration

HEALTHY, FAULTY = "us-east-1", "eu-west-1"
FAULTY_PACKS = 45  # three pages of 20
NOW = time.time()
OPERATION = "DescribeConformancePackStatus"
# Read timeouts short enough for a trickling answer to time out within a test.
CONFIG = (
    f"regions: [{HEALTHY}, {FAULTY}]\n"
    "total_max_attempts: 3\nread_timeout_seconds: 0.5\nconnect_timeout_seconds: 0.5\n"
    "compliance: {enabled: false}\n"  # faults scoped by region would hit its reads too
    "pipeline: {enabled: false}\n"  # and the pipeline's: the status reads alone are counted
    "min_interval_seconds: 0\n"  # each case's scrapes read AWS again
)
SCRAPE_TIMEOUT = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}
Samples = dict[str, list[tuple[dict[str, str], float]]]


def packs(count: int, reason: str = "") -> list[SimulatedPack]:
    return [
        SimulatedPack(
            f"pack-{index:03d}",
            "CREATE_FAILED" if reason else "CREATE_COMPLETE",
            reason=reason,
            requested_at=NOW - 600,
            completed_at=NOW,
        )
        for index in range(count)
    ]


def scenario() -> Scenario:
    return Scenario({(ACCOUNT, HEALTHY): packs(3), (ACCOUNT, FAULTY): packs(FAULTY_PACKS)})


@pytest.fixture(scope="module")
def simulator() -> Iterator[ConfigSimulator]:
    with ConfigSimulator(scenario()) as sim:
        yield sim


@pytest.fixture(scope="module")
def exporter(
    simulator: ConfigSimulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExporterProcess]:
    """One exporter for the whole matrix: each case compares counters before and after."""
    config = tmp_path_factory.mktemp("faults") / "config.yml"
    config.write_text(CONFIG)
    process = ExporterProcess(
        ["--web.listen-address=127.0.0.1:0", f"--config.file={config}"], aws_env(simulator.url)
    )
    try:
        process.wait_until_listening()
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def healthy_simulator(simulator: ConfigSimulator) -> Iterator[None]:
    """Every case starts and ends without faults and with the original packs."""
    yield
    simulator.clear_faults()
    simulator.latency = 0.0
    simulator.set_packs(ACCOUNT, FAULTY, packs(FAULTY_PACKS))


def success(samples: Samples) -> dict[str, float]:
    return {
        labels["region"]: value for labels, value in samples["aws_config_exporter_scrape_success"]
    }


def outcomes(samples: Samples, region: str, operation: str = OPERATION) -> dict[str, float]:
    return {
        labels["outcome"]: value
        for labels, value in samples.get("aws_config_exporter_api_requests_total", [])
        if labels["region"] == region and labels["operation"] == operation
    }


def counted(before: Samples, after: Samples, region: str = FAULTY) -> dict[str, float]:
    """Attempts counted between two scrapes, by outcome."""
    old, new = outcomes(before, region), outcomes(after, region)
    deltas = {outcome: new[outcome] - old.get(outcome, 0.0) for outcome in new}
    return {outcome: delta for outcome, delta in deltas.items() if delta}


def timed_scrape(process: ExporterProcess) -> tuple[Samples, float]:
    started = time.monotonic()
    status, _, body = process.get("/metrics", SCRAPE_TIMEOUT)
    elapsed = time.monotonic() - started
    assert status == 200, body
    return parse_exposition(body.decode()), elapsed


def assert_complete(samples: Samples) -> None:
    assert success(samples) == {HEALTHY: 1.0, FAULTY: 1.0}
    per_region = {HEALTHY: 0, FAULTY: 0}
    for labels, _ in samples["aws_config_conformance_pack_info"]:
        per_region[labels["region"]] += 1
    assert per_region == {HEALTHY: 3, FAULTY: FAULTY_PACKS}


@dataclass(frozen=True)
class Case:
    """One row: faults on the faulty region, what the scrape then reports, how fast."""

    fault: Fault
    succeeds: bool
    counted: dict[str, float]
    max_seconds: float = 3.0


RETRIED = 8.0  # up to three attempts with botocore's jittered backoff between them
MATRIX = {
    "throttling-burst-retried": Case(
        Fault(kind="throttle", region=FAULTY, count=2),
        True,
        {"ThrottlingException": 2, "success": 3},
        RETRIED,
    ),
    "throttling-persistent": Case(
        Fault(kind="throttle", region=FAULTY), False, {"ThrottlingException": 3}, RETRIED
    ),
    "http-500": Case(
        Fault(kind="internal_error", region=FAULTY), False, {"InternalFailure": 3}, RETRIED
    ),
    "http-500-once-retried": Case(
        Fault(kind="internal_error", region=FAULTY, count=1),
        True,
        {"InternalFailure": 1, "success": 3},
        RETRIED,
    ),
    "http-503": Case(
        Fault(kind="unavailable", region=FAULTY), False, {"ServiceUnavailable": 3}, RETRIED
    ),
    "reset-mid-response": Case(
        Fault(kind="reset", region=FAULTY, partial=True), False, {"connection_error": 3}, RETRIED
    ),
    "reset-before-response": Case(
        Fault(kind="reset", region=FAULTY), False, {"connection_error": 3}, RETRIED
    ),
    "slow-trickle-completes": Case(
        Fault(kind="slow_body", region=FAULTY, seconds=0.02, chunk_size=1024), True, {"success": 3}
    ),
    "trickle-slower-than-read-timeout": Case(
        Fault(kind="slow_body", region=FAULTY, seconds=1.0, chunk_size=64),
        False,
        {"timeout": 3},
        RETRIED,
    ),
    "truncated-body": Case(Fault(kind="truncated", region=FAULTY), False, {"invalid_response": 1}),
    "non-json-body": Case(Fault(kind="garbage", region=FAULTY), False, {"invalid_response": 1}),
    "empty-json-object": Case(
        Fault(kind="empty_object", region=FAULTY), False, {"invalid_response": 1}
    ),
    "expired-token": Case(
        Fault(kind="expired_token", region=FAULTY), False, {"ExpiredTokenException": 1}
    ),
    "unrecognized-client": Case(
        Fault(kind="unrecognized_client", region=FAULTY),
        False,
        {"UnrecognizedClientException": 1},
    ),
    "access-denied-in-one-region": Case(
        Fault(kind="access_denied", region=FAULTY), False, {"AccessDeniedException": 1}
    ),
}


@pytest.mark.parametrize("case", MATRIX.values(), ids=MATRIX.keys())
def test_fault_matrix(exporter: ExporterProcess, simulator: ConfigSimulator, case: Case) -> None:
    before, _ = timed_scrape(exporter)
    simulator.add_fault(case.fault)

    during, elapsed = timed_scrape(exporter)
    simulator.clear_faults()
    after, _ = timed_scrape(exporter)

    assert elapsed < case.max_seconds
    assert success(during) == {HEALTHY: 1.0, FAULTY: float(case.succeeds)}
    assert counted(before, during) == case.counted
    assert counted(before, during, HEALTHY) == {"success": 1}
    failing_packs = {labels["region"] for labels, _ in during["aws_config_conformance_pack_info"]}
    assert failing_packs == ({HEALTHY, FAULTY} if case.succeeds else {HEALTHY})
    assert_complete(after)


def test_a_huge_page_of_long_unicode_reasons(
    exporter: ExporterProcess, simulator: ConfigSimulator
) -> None:
    # 2000 characters outside the BMP: 12 bytes each as JSON escapes, ~480 kB per page.
    reason = ('Stack failed: \U0001f525 "quoted" \\ back\nslash ' * 50)[:2000]
    simulator.set_packs(ACCOUNT, FAULTY, packs(FAULTY_PACKS, reason))
    before, _ = timed_scrape(exporter)

    during, elapsed = timed_scrape(exporter)
    simulator.set_packs(ACCOUNT, FAULTY, packs(FAULTY_PACKS))
    after, _ = timed_scrape(exporter)

    assert elapsed < 3.0
    assert success(during) == {HEALTHY: 1.0, FAULTY: 1.0}
    assert counted(before, during) == {"success": 3}
    reasons = [
        labels["reason"]
        for labels, _ in during["aws_config_conformance_pack_status_reason_info"]
        if labels["region"] == FAULTY
    ]
    assert reasons == [reason] * FAULTY_PACKS
    assert_complete(after)


def test_twenty_concurrent_scrapers(exporter: ExporterProcess, simulator: ConfigSimulator) -> None:
    simulator.latency = 0.1
    simulator.reset_calls()
    results: list[tuple[Samples, float]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def scrape() -> None:
        barrier.wait()
        try:
            results.append(timed_scrape(exporter))
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=scrape) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(results) == 20
    for samples, elapsed in results:
        assert_complete(samples)
        assert elapsed < 5.0
    # Concurrent scrapes join the calls in flight: a few rounds of 3 pages, not 20.
    assert simulator.calls(operation=OPERATION, region=FAULTY) <= 3 * 3


def test_a_scraper_that_disconnects_mid_response(
    exporter: ExporterProcess, simulator: ConfigSimulator
) -> None:
    # ~360 kB of exposition: the server is still sending when the client resets.
    simulator.set_packs(ACCOUNT, FAULTY, packs(FAULTY_PACKS, "\U0001f525" * 2000))
    assert exporter.port is not None
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", exporter.port), timeout=10) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(64).startswith(b"HTTP/1.1 200")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    simulator.set_packs(ACCOUNT, FAULTY, packs(FAULTY_PACKS))

    after, elapsed = timed_scrape(exporter)

    assert elapsed < 3.0
    assert_complete(after)
    assert exporter.process.poll() is None
    assert not any("Traceback" in line for line in exporter.log_lines)


def start_exporter(tmp_path: Path, env: dict[str, str]) -> ExporterProcess:
    config = tmp_path / "config.yml"
    config.write_text(CONFIG)
    process = ExporterProcess(["--web.listen-address=127.0.0.1:0", f"--config.file={config}"], env)
    process.wait_until_listening()
    return process


@pytest.fixture
def own_exporter(tmp_path: Path) -> Iterator[list[ExporterProcess]]:
    """Exporters a case starts for itself (a fresh account id, another endpoint)."""
    started: list[ExporterProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("access_denied", "AccessDenied"),
        ("reset", "connection_error"),
        ("garbage", "invalid_response"),
        ("truncated", "invalid_response"),
    ],
)
def test_sts_failure_when_the_account_id_needs_sts(
    tmp_path: Path, own_exporter, kind: FaultKind, outcome: str
) -> None:
    with ConfigSimulator(Scenario({})) as empty:  # zero packs: no ARN tells the account id
        empty.add_fault(Fault(kind=kind, service="sts"))
        process = start_exporter(tmp_path, aws_env(empty.url))
        own_exporter.append(process)

        during, elapsed = timed_scrape(process)
        empty.clear_faults()
        after, _ = timed_scrape(process)

    assert elapsed < 3.0
    assert {labels["account_id"] for labels, _ in during["aws_config_exporter_scrape_success"]} == {
        ""
    }
    assert success(during) == {HEALTHY: 1.0, FAULTY: 1.0}  # Config answered, only STS failed
    # STS is counted under the account's first region; each region's target asked.
    asked = outcomes(during, HEALTHY, "GetCallerIdentity")
    assert set(asked) == {outcome}
    process.wait_for_log(rf"msg=\"cannot learn the account id\".*error_code={outcome}")
    assert {labels["account_id"] for labels, _ in after["aws_config_exporter_scrape_success"]} == {
        ACCOUNT
    }
    assert outcomes(after, HEALTHY, "GetCallerIdentity") == {**asked, "success": 1}


def test_dns_failure_of_the_endpoint(tmp_path: Path, own_exporter) -> None:
    process = start_exporter(tmp_path, aws_env("https://config.endpoint.invalid"))
    own_exporter.append(process)

    samples, elapsed = timed_scrape(process)

    assert elapsed < 5.0
    assert success(samples) == {HEALTHY: 0.0, FAULTY: 0.0}
    for region in (HEALTHY, FAULTY):
        assert outcomes(samples, region) == {"connection_error": 3}
    process.wait_for_log(r"msg=\"collection failed\".*error_code=connection_error")
