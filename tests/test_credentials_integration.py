"""Assumed roles as the exporter process lives with them, against the simulator's STS over
HTTP: a blackholed STS bounded by the configured timeouts and the scrape deadline, one
AssumeRole per session, and one quiet log line per account whose role can't be assumed.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporter.metrics import API_REQUESTS, SCRAPE_SUCCESS
from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack
from tests.conftest import ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::{}:role/conformance-pack-exporter"
HEALTHY, BLACKHOLED = "111111111111", "222222222222"
DENIED = ("333333333333", "444444444444", "555555555555")
# Each role account reads one region of its own, and assumes its role through STS there:
# a fault scoped to a region hits one account's AssumeRole and nobody else's.
REGION = {HEALTHY: "us-east-1", BLACKHOLED: "eu-west-1"}
# Bounded attempts, each bounded in time: an AssumeRole gives up within seconds.
TIMEOUTS = "read_timeout_seconds: 1\nconnect_timeout_seconds: 1\ntotal_max_attempts: 2\n"
SCRAPE_TIMEOUT = 2.0  # the header Prometheus sends; the exporter answers 0.5 s before it
MARGIN = 0.5
Samples = dict[str, list[tuple[dict[str, str], float]]]


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    pack = [SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=time.time() - 600)]
    packs = {(account, region): pack for account, region in REGION.items()}
    packs |= {(account, "us-east-1"): pack for account in DENIED}
    scenario = Scenario(packs, denied_roles=frozenset(ROLE.format(a) for a in DENIED))
    with ConfigSimulator(scenario) as sim:
        yield sim


@pytest.fixture
def serve(
    simulator: ConfigSimulator, tmp_path: Path, exporter_factory
) -> Callable[..., ExporterProcess]:
    """The exporter on a config file reading `accounts` (id → region), each with the
    settings `each` adds; every scrape reads AWS."""

    def start(accounts: dict[str, str], settings: str = "", each: str = "") -> ExporterProcess:
        listed = "".join(
            f"  - {{role_arn: '{ROLE.format(account)}', regions: [{region}]{each}}}\n"
            for account, region in accounts.items()
        )
        path = tmp_path / "config.yml"
        path.write_text(
            "compliance: {enabled: false}\nmin_interval_seconds: 0\n"
            f"{settings}accounts:\n{listed}"
        )
        process: ExporterProcess = exporter_factory(
            [f"--config.file={path}"], aws_env(simulator.url)
        )
        return process

    return start


def success(samples: Samples) -> dict[str, float]:
    """account id → scrape_success of the status collector."""
    return {
        labels["account_id"]: value
        for labels, value in samples[SCRAPE_SUCCESS]
        if labels["collector"] == "status"
    }


def assume_role_outcomes(samples: Samples, account: str) -> dict[str, float]:
    return {
        labels["outcome"]: value
        for labels, value in samples.get(f"{API_REQUESTS}_total", [])
        if labels["account_id"] == account and labels["operation"] == "AssumeRole"
    }


def threads(process: ExporterProcess) -> int:
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    match = re.search(r"^Threads:\s+(\d+)$", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def timed_scrape(process: ExporterProcess) -> tuple[Samples, float]:
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(SCRAPE_TIMEOUT)}
    started = time.monotonic()
    status, _, body = process.get("/metrics", headers)
    elapsed = time.monotonic() - started
    assert status == 200, body
    return parse_exposition(body.decode()), elapsed


def test_a_blackholed_sts_fails_its_account_alone_within_the_deadline(
    simulator: ConfigSimulator, serve
) -> None:
    simulator.add_fault(
        Fault(kind="hang", service="sts", operation="AssumeRole", region="eu-west-1", seconds=120)
    )
    process = serve(REGION, TIMEOUTS)

    scrapes, thread_counts = [], []
    for _ in range(20):
        scrapes.append(timed_scrape(process))
        thread_counts.append(threads(process))

    assert max(elapsed for _, elapsed in scrapes) < SCRAPE_TIMEOUT + MARGIN
    assert [success(samples) for samples, _ in scrapes] == [{HEALTHY: 1.0, BLACKHOLED: 0.0}] * 20
    # A read of the blackholed account is in flight at most once per target, whatever the
    # number of scrapes: after the first few, no thread is added (give or take the HTTP
    # connection thread of the scrape before, which may still be closing).
    assert max(thread_counts[5:]) <= max(thread_counts[:5]) + 1
    # The AssumeRole gave up after the configured read timeout (botocore's own is 60 s),
    # and was counted under the account it was for.
    last = scrapes[-1][0]
    assert assume_role_outcomes(last, BLACKHOLED).get("timeout", 0) >= 1
    assert assume_role_outcomes(last, HEALTHY) == {"success": 1.0}

    # No refresh lock is held beyond those bounds: once STS answers, the account recovers
    # within a few attempts' time, not after a 60 s read timeout.
    simulator.clear_faults()
    recovered = wait_for(
        lambda: success(timed_scrape(process)[0]) == {HEALTHY: 1.0, BLACKHOLED: 1.0},
        8,
        "the blackholed account's recovery",
        interval=0.1,
    )
    assert recovered


def test_a_900_second_session_is_assumed_once_per_account(
    simulator: ConfigSimulator, serve
) -> None:
    process = serve(REGION, each=", duration_seconds: 900")
    for _ in range(15):
        samples, _ = timed_scrape(process)
        assert success(samples) == {HEALTHY: 1.0, BLACKHOLED: 1.0}

    assumed = Counter(call.role_arn for call in simulator.assume_role_calls)
    assert {call.duration_seconds for call in simulator.assume_role_calls} == {900}
    assert assumed == {ROLE.format(HEALTHY): 1, ROLE.format(BLACKHOLED): 1}
    assert simulator.calls(service="config") >= 15 * 2, "every scrape read AWS"


def test_an_unassumable_role_logs_one_line_a_minute_without_a_traceback(
    simulator: ConfigSimulator, serve
) -> None:
    process = serve(dict.fromkeys(DENIED, "us-east-1"), TIMEOUTS)
    process.wait_for_log(r'msg="warmed up" accounts=3 failed=3')
    for _ in range(10):
        samples, _ = timed_scrape(process)
        assert success(samples) == dict.fromkeys(DENIED, 0.0)

    assert len(simulator.assume_role_calls) >= 3 * 10, "every scrape tried again"
    refused = [line for line in process.log_lines if 'msg="assuming the role failed"' in line]
    per_account = Counter(re.search(r"account_id=(\d+)", line).group(1) for line in refused)  # type: ignore[union-attr]
    assert per_account == dict.fromkeys(DENIED, 1)
    assert all("error_code=AccessDenied" in line for line in refused)
    assert not [line for line in process.log_lines if "Traceback" in line]
    assert not [line for line in process.log_lines if "Refreshing temporary" in line]
    assert sum(len(line) for line in process.log_lines) < 20_000, "not 96 KB a second"
