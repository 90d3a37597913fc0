"""Integration: the exporter as a process, real boto3 over HTTP, against the simulator.

Nothing is mocked between the exporter and the wire: requests are signed, sent, paginated,
retried and parsed by botocore exactly as against AWS.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import botocore.session
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import (
    ConfigSimulator,
    Fault,
    Scenario,
    SimulatedAggregator,
    SimulatedPack,
)
from tests.conftest import (
    ACCOUNT,
    MODEL_STATES,
    ExporterProcess,
    aws_env,
    parse_exposition,
    wait_for,
)

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
NOW = time.time()
STATES = MODEL_STATES
MODEL = botocore.session.get_session().get_service_model("config")


def healthy_packs(count: int) -> list[SimulatedPack]:
    return [
        SimulatedPack(f"pack-{i:03d}", "CREATE_COMPLETE", requested_at=NOW - 600, completed_at=NOW)
        for i in range(count)
    ]


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    packs = {
        (ACCOUNT, "us-east-1"): [
            SimulatedPack(
                "broken",
                "CREATE_FAILED",
                reason='Stack "x" failed: \\ access denied\nrolled back',
                requested_at=NOW - 3600.5,
                completed_at=NOW - 3000.25,
            ),
            SimulatedPack("creating", "CREATE_IN_PROGRESS", requested_at=NOW - 60, type=None),
            SimulatedPack(
                "managed",
                "UPDATE_COMPLETE",
                type="MANAGED",
                requested_at=NOW - 10,
                completed_at=NOW,
            ),
        ],
        (ACCOUNT, "eu-west-1"): healthy_packs(45),
    }
    with ConfigSimulator(Scenario(packs)) as sim:
        yield sim


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str = "") -> Path:
        path = tmp_path / "config.yml"
        # Compliance and pipeline reads are tested on their own; these tests count status
        # calls, each scrape's own.
        compliance = "" if "compliance:" in text else "compliance: {enabled: false}\n"
        pipeline = "" if "pipeline:" in text else "pipeline: {enabled: false}\n"
        path.write_text(
            f"regions: [{', '.join(REGIONS)}]\nmin_interval_seconds: 0\n"
            f"{compliance}{pipeline}{text}"
        )
        return path

    return write


@pytest.fixture
def exporter(
    simulator: ConfigSimulator, config_file, exporter_factory
) -> Callable[..., ExporterProcess]:
    def start(config: str = "", *args: str) -> ExporterProcess:
        path = config_file(config)
        process: ExporterProcess = exporter_factory(
            [f"--config.file={path}", *args], aws_env(simulator.url)
        )
        return process

    return start


def by_region(samples, name: str, collector: str = "status") -> dict[str, float]:
    return {
        labels["region"]: value
        for labels, value in samples[name]
        if labels.get("collector", collector) == collector
    }


def api_requests(samples, region: str) -> dict[str, float]:
    return {
        labels["outcome"]: value
        for labels, value in samples["aws_config_exporter_api_requests_total"]
        if labels["region"] == region and labels["operation"] == "DescribeConformancePackStatus"
    }


def test_every_row_of_the_metric_contract(exporter, simulator) -> None:
    samples = parse_exposition(exporter().scrape())

    states = {
        (labels["conformance_pack"], labels["state"]): value
        for labels, value in samples["aws_config_conformance_pack_state"]
        if labels["region"] == "us-east-1"
    }
    for pack, current in [("broken", "CREATE_FAILED"), ("creating", "CREATE_IN_PROGRESS")]:
        assert {s: states[(pack, s)] for s in STATES} == {s: float(s == current) for s in STATES}

    info = {
        labels["conformance_pack"]: labels
        for labels, _ in samples["aws_config_conformance_pack_info"]
        if labels["region"] == "us-east-1"
    }
    assert info["managed"]["type"] == "MANAGED"
    assert info["creating"]["type"] == ""
    arn = info["broken"]["conformance_pack_arn"]
    assert arn.startswith(f"arn:aws:config:us-east-1:{ACCOUNT}:conformance-pack/broken/")
    assert arn.endswith("/" + info["broken"]["conformance_pack_id"])
    assert info["broken"]["stack_arn"].startswith("arn:aws:cloudformation:us-east-1:")

    requested = {
        labels["conformance_pack"]: value
        for labels, value in samples[
            "aws_config_conformance_pack_last_update_requested_timestamp_seconds"
        ]
    }
    assert requested["broken"] == pytest.approx(NOW - 3600.5, abs=0.01)
    completed = {
        labels["conformance_pack"]
        for labels, _ in samples[
            "aws_config_conformance_pack_last_update_completed_timestamp_seconds"
        ]
    }
    assert "creating" not in completed
    assert "broken" in completed

    [(reason_labels, one)] = samples["aws_config_conformance_pack_status_reason_info"]
    assert reason_labels["reason"] == 'Stack "x" failed: \\ access denied\nrolled back'
    assert one == 1.0

    assert by_region(samples, "aws_config_exporter_scrape_success") == {
        "us-east-1": 1.0,
        "eu-west-1": 1.0,
    }
    assert all(
        v > 0 for v in by_region(samples, "aws_config_exporter_scrape_duration_seconds").values()
    )
    exporter_wide = {
        "aws_config_exporter_build_info",
        "aws_config_exporter_accounts",
        "aws_config_exporter_config_last_reload_successful",
        "aws_config_exporter_config_last_reload_success_timestamp_seconds",
    }
    for name, series in samples.items():
        if name.startswith("aws_config_") and name not in exporter_wide:
            assert all(labels["account_id"] == ACCOUNT for labels, _ in series), name
    assert len(samples["aws_config_exporter_build_info"]) == 1
    accounts = {
        labels["source"]: value for labels, value in samples["aws_config_exporter_accounts"]
    }
    assert accounts == {"config": 1.0, "organization": 0.0}


def test_api_calls_are_the_minimum_and_counted(exporter, simulator) -> None:
    process = exporter()
    simulator.reset_calls()

    first = parse_exposition(process.scrape())
    second = parse_exposition(process.scrape())

    operation = "DescribeConformancePackStatus"
    assert simulator.calls(operation=operation, region="eu-west-1") == 2 * math.ceil(45 / 20)
    assert simulator.calls(operation=operation, region="us-east-1") == 2
    assert api_requests(second, "eu-west-1")["success"] - api_requests(first, "eu-west-1")[
        "success"
    ] == math.ceil(45 / 20)
    assert len(second["aws_config_conformance_pack_info"]) == 48
    assert simulator.calls(operation="GetCallerIdentity") == 0


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("access_denied", "AccessDeniedException"),
        ("expired_token", "ExpiredTokenException"),
        ("unrecognized_client", "UnrecognizedClientException"),
        ("garbage", "invalid_response"),
        ("empty_object", "invalid_response"),
    ],
)
def test_a_failing_region_does_not_affect_the_other(exporter, simulator, kind, code) -> None:
    process = exporter()
    simulator.add_fault(Fault(kind=kind, region="eu-west-1"))

    samples = parse_exposition(process.scrape())

    assert by_region(samples, "aws_config_exporter_scrape_success") == {
        "us-east-1": 1.0,
        "eu-west-1": 0.0,
    }
    regions = {labels["region"] for labels, _ in samples["aws_config_conformance_pack_state"]}
    assert regions == {"us-east-1"}
    assert api_requests(samples, "eu-west-1")[code] >= 1
    line = process.wait_for_log(r"msg=\"collection failed\".*")
    assert f"region=eu-west-1 error_code={code}" in line.group(0)
    assert not any("Traceback" in log_line for log_line in process.log_lines)


def test_throttling_is_retried_and_counted(exporter, simulator) -> None:
    process = exporter("total_max_attempts: 3\n")
    simulator.add_fault(Fault(kind="throttle", region="eu-west-1", count=1))

    samples = parse_exposition(process.scrape())

    assert by_region(samples, "aws_config_exporter_scrape_success")["eu-west-1"] == 1.0
    outcomes = api_requests(samples, "eu-west-1")
    assert outcomes["ThrottlingException"] == 1
    assert outcomes["success"] == 3


def test_persistent_throttling_fails_after_bounded_attempts(exporter, simulator) -> None:
    process = exporter("total_max_attempts: 2\n")
    simulator.add_fault(Fault(kind="throttle", region="eu-west-1"))

    samples = parse_exposition(process.scrape())

    assert by_region(samples, "aws_config_exporter_scrape_success")["eu-west-1"] == 0.0
    assert api_requests(samples, "eu-west-1") == {"ThrottlingException": 2}


def test_a_hanging_region_fails_within_the_scrape_timeout(exporter, simulator) -> None:
    process = exporter("read_timeout_seconds: 20\n")
    simulator.add_fault(Fault(kind="hang", region="eu-west-1", seconds=15))

    started = time.monotonic()
    samples = parse_exposition(process.scrape(headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"}))
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert by_region(samples, "aws_config_exporter_scrape_success") == {
        "us-east-1": 1.0,
        "eu-west-1": 0.0,
    }


def test_unreachable_endpoint_is_a_connection_error(config_file, exporter_factory) -> None:
    unused = "http://127.0.0.1:9"
    process = exporter_factory([f"--config.file={config_file()}"], aws_env(unused))

    samples = parse_exposition(process.scrape())

    assert set(by_region(samples, "aws_config_exporter_scrape_success").values()) == {0.0}
    assert api_requests(samples, "us-east-1") == {"connection_error": 3}


def test_the_next_scrape_after_a_fault_is_complete(exporter, simulator) -> None:
    process = exporter()
    simulator.add_fault(Fault(kind="internal_error", region="eu-west-1", count=10))
    broken = parse_exposition(process.scrape())
    simulator.clear_faults()

    healed = parse_exposition(process.scrape())

    assert by_region(broken, "aws_config_exporter_scrape_success")["eu-west-1"] == 0.0
    assert by_region(healed, "aws_config_exporter_scrape_success")["eu-west-1"] == 1.0
    assert len(healed["aws_config_conformance_pack_info"]) == 48


def test_name_filter_asks_only_for_the_named_packs(exporter, simulator) -> None:
    names = [f"pack-{i:03d}" for i in range(30)]
    config = "conformance_packs:\n" + "".join(f"  - {name}\n" for name in names)
    process = exporter(config)
    simulator.reset_calls()

    samples = parse_exposition(process.scrape())

    eu_packs = {
        labels["conformance_pack"]
        for labels, _ in samples["aws_config_conformance_pack_info"]
        if labels["region"] == "eu-west-1"
    }
    assert eu_packs == set(names)
    # As many names a call as both a page and the names list hold, in botocore's model.
    request = MODEL.operation_model("DescribeConformancePackStatus").input_shape
    assert request is not None
    per_call = min(
        int(request.members[key].metadata["max"]) for key in ("Limit", "ConformancePackNames")
    )
    calls = simulator.calls(operation="DescribeConformancePackStatus", region="eu-west-1")
    assert calls == math.ceil(len(names) / per_call)


def test_status_reason_switch(exporter) -> None:
    samples = parse_exposition(exporter("export_status_reason: false\n").scrape())
    assert "aws_config_conformance_pack_status_reason_info" not in samples
    assert "aws_config_conformance_pack_state" in samples


def test_zero_packs_learns_the_account_from_sts(simulator, config_file, exporter_factory) -> None:
    simulator.set_packs(ACCOUNT, "us-east-1", [])
    simulator.set_packs(ACCOUNT, "eu-west-1", [])
    process = exporter_factory([f"--config.file={config_file()}"], aws_env(simulator.url))

    process.scrape()
    samples = parse_exposition(process.scrape())

    assert {
        labels["account_id"] for labels, _ in samples["aws_config_exporter_scrape_success"]
    } == {ACCOUNT}
    assert simulator.calls(operation="GetCallerIdentity") == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_exporter_cleanly(exporter, sig) -> None:
    process = exporter()
    process.scrape()

    started = time.monotonic()
    code = process.stop(sig, timeout=5)

    assert code == 0
    assert time.monotonic() - started < 5
    process.wait_for_log(r"msg=\"shutting down\"")


def test_http_routes_of_the_real_server(exporter) -> None:
    process = exporter()
    assert process.get("/")[0] == 200
    assert process.get("/-/healthy")[2] == b"Healthy\n"
    process.wait_for_log(r'msg="warmed up"')
    assert process.get("/-/ready")[0] == 200
    assert process.get("/nope")[0] == 404


def test_custom_telemetry_path(exporter) -> None:
    process = exporter("", "--web.telemetry-path=/conformance")
    assert process.get("/metrics")[0] == 404
    status, _, body = process.get("/conformance")
    assert status == 200
    assert b"aws_config_exporter_scrape_success" in body


def test_json_logs(exporter, simulator) -> None:
    process = exporter("", "--log.format=json")
    simulator.add_fault(Fault(kind="access_denied", region="eu-west-1"))
    process.scrape()
    line = process.wait_for_log(r'"msg": "collection failed"').string
    assert '"region": "eu-west-1"' in line
    assert '"error_code": "AccessDeniedException"' in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("regions: [us-east-1]\nconcurency: 2\n", ":2: key 'concurency': unknown key"),
        ("regions: us-east-1\n", ":1: key 'regions': expected a list of regions"),
        ("regions: [us-east-1\n", "invalid YAML"),
    ],
)
def test_bad_config_exits_2_with_one_clear_line(tmp_path, exporter_factory, text, expected) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    process = exporter_factory([f"--config.file={path}"], wait=False)

    assert process.process.wait(10) == 2
    process.wait_for_log("<exited>")
    output = [line for line in process.log_lines if line != "<exited>"]
    assert len(output) == 1
    assert str(path) in output[0]
    assert expected in output[0]


def test_config_check_flag(tmp_path, exporter_factory) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("regions: [us-east-1]\n")
    process = exporter_factory([f"--config.file={path}", "--config.check"], wait=False)
    assert process.process.wait(10) == 0


def test_no_region_anywhere_exits_2(exporter_factory) -> None:
    env = aws_env()
    del env["AWS_REGION"]
    process = exporter_factory([], env, wait=False)
    assert process.process.wait(10) == 2
    process.wait_for_log("no AWS region")


def test_port_in_use_exits_1_with_the_start_up_error_format(
    exporter, exporter_factory, simulator
) -> None:
    first = exporter()
    second = exporter_factory(
        [f"--web.listen-address=127.0.0.1:{first.port}"], aws_env(simulator.url), wait=False
    )
    assert second.process.wait(10) == 1
    line = second.wait_for_log("cannot listen").string
    assert line == (
        f"conformance-pack-exporter: cannot listen on 127.0.0.1:{first.port}: "
        "Address already in use"
    )


def test_demo_serves_live_data(exporter_factory) -> None:
    process = exporter_factory(["--demo"])
    samples = parse_exposition(process.scrape())

    packs = {
        (labels["region"], labels["conformance_pack"])
        for labels, _ in samples["aws_config_conformance_pack_info"]
    }
    assert len(packs) >= 12
    assert len({region for region, _ in packs}) >= 2
    assert set(by_region(samples, "aws_config_exporter_scrape_success").values()) == {1.0}


def test_probe_endpoint_serves_one_account(exporter, simulator) -> None:
    process = exporter()
    simulator.reset_calls()

    status, _, body = process.get(f"/probe?account={ACCOUNT}&region=us-east-1")
    unknown_status, _, unknown_body = process.get("/probe?account=999999999999")

    assert status == 200
    samples = parse_exposition(body.decode())
    assert by_region(samples, "aws_config_exporter_scrape_success") == {"us-east-1": 1.0}
    assert unknown_status == 400
    assert b"unknown account '999999999999'" in unknown_body
    assert simulator.calls(region="eu-west-1") == 0


class Blackhole:
    """An AWS endpoint that accepts connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.accepted.set()

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_does_not_wait_for_a_blackholed_aws(config_file, exporter_factory, sig) -> None:
    blackhole = Blackhole()
    path = config_file("read_timeout_seconds: 60\ntotal_max_attempts: 10\n")
    process = exporter_factory([f"--config.file={path}"], aws_env(blackhole.url))

    def scrape_cut_by_the_shutdown() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            process.get("/metrics", timeout=60)

    scraper = threading.Thread(target=scrape_cut_by_the_shutdown, daemon=True)
    scraper.start()
    assert blackhole.accepted.wait(10), "the exporter never called the blackholed endpoint"

    started = time.monotonic()
    code = process.stop(sig, timeout=10)
    elapsed = time.monotonic() - started
    blackhole.close()

    assert code == 0
    assert elapsed < 2.0


def test_not_ready_while_a_role_cannot_be_assumed_yet(tmp_path, exporter_factory) -> None:
    blackhole = Blackhole()
    config = tmp_path / "config.yml"
    config.write_text(
        "regions: [us-east-1]\nread_timeout_seconds: 60\n"
        "accounts:\n  - role_arn: arn:aws:iam::111111111111:role/conformance-pack-exporter\n"
    )
    process = exporter_factory([f"--config.file={config}"], aws_env(blackhole.url))
    assert blackhole.accepted.wait(10), "the warm-up never asked STS"

    ready, healthy = (process.get(path)[0] for path in ("/-/ready", "/-/healthy"))
    process.stop()
    blackhole.close()

    assert (ready, healthy) == (503, 200)


def test_ready_once_warmed_up(exporter) -> None:
    process = exporter()

    wait_for(lambda: process.get("/-/ready")[0] == 200, 10, "readiness", interval=0.05)
    process.wait_for_log(r'msg="warmed up"')


OTHER_ACCOUNT = "210987654321"


def collectors(samples) -> set[str]:
    """The collectors that reported a scrape_success."""
    return {
        labels["collector"] for labels, _ in samples.get("aws_config_exporter_scrape_success", [])
    }


def test_a_config_with_aggregators_starts_and_reads_them(tmp_path, exporter_factory) -> None:
    """The configuration guide's aggregator example, as written, with an aggregator that also
    reports an account the exporter does not read."""
    scenario = Scenario(
        {(ACCOUNT, "us-east-1"): healthy_packs(2), (OTHER_ACCOUNT, "eu-west-1"): healthy_packs(3)},
        aggregators={
            (ACCOUNT, "us-east-1"): [
                SimulatedAggregator(
                    "organisation", ((ACCOUNT, "us-east-1"), (OTHER_ACCOUNT, "eu-west-1"))
                )
            ]
        },
    )
    path = tmp_path / "config.yml"
    path.write_text(
        "regions: [us-east-1]\naccounts:\n  - name: management\n"
        "aggregators:\n  - name: organisation\n    region: us-east-1\n"
    )
    with ConfigSimulator(scenario) as simulator:
        check = exporter_factory([f"--config.file={path}", "--config.check"], wait=False)
        assert check.process.wait(30) == 0
        process = exporter_factory([f"--config.file={path}"], aws_env(simulator.url))

        samples = wait_for(
            lambda: (
                (found := parse_exposition(process.scrape())).get(
                    "aws_config_conformance_pack_compliance"
                )
                and {"aggregator", "pipeline"} <= collectors(found)  # their background reads
                and found
            ),
            30,
            "the aggregator's rows and the pipeline's read",
        )

    success = {
        labels["collector"]: value
        for labels, value in samples["aws_config_exporter_scrape_success"]
    }
    # The example leaves the pipeline collector on, as it is by default.
    assert success == {"status": 1.0, "compliance": 1.0, "aggregator": 1.0, "pipeline": 1.0}
    aggregated = {
        labels["account_id"] for labels, _ in samples["aws_config_conformance_pack_compliance"]
    }
    assert OTHER_ACCOUNT in aggregated


def test_two_profiles_of_one_account_are_read_once(tmp_path, exporter_factory) -> None:
    """Two profiles whose keys act in one account, and the default credentials in another:
    their ids only STS knows; the account is read and served once, and the log says why."""
    keys = {"audit": "AKIDAUDITAUDITAUDIT1", "audit-copy": "AKIDAUDITAUDITAUDIT2"}
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(
        "".join(
            f"[profile {name}]\naws_access_key_id = {key}\naws_secret_access_key = s3cr3t\n"
            for name, key in keys.items()
        )
    )
    path = tmp_path / "config.yml"
    path.write_text(
        f"regions: [{', '.join(REGIONS)}]\ncompliance: {{enabled: false}}\naccounts:\n"
        "  - {name: audit, profile: audit}\n"
        "  - {name: audit-again, profile: audit-copy}\n"
        "  - {name: home}\n"
    )
    scenario = Scenario(
        {
            (account, region): healthy_packs(2)
            for account in (ACCOUNT, OTHER_ACCOUNT)
            for region in REGIONS
        },
        access_key_accounts=dict.fromkeys(keys.values(), OTHER_ACCOUNT),
    )
    with ConfigSimulator(scenario) as simulator:
        process = exporter_factory(
            [f"--config.file={path}"], aws_env(simulator.url, AWS_CONFIG_FILE=str(aws_config))
        )
        text = process.scrape()
        identities = simulator.calls(operation="GetCallerIdentity")

    warning = process.wait_for_log(r"two accounts entries are one account").string
    assert f"account_id={OTHER_ACCOUNT}" in warning
    assert "accounts[2] (audit-again)" in warning
    assert "accounts[1] (audit)" in warning
    assert identities == 3, "one GetCallerIdentity per entry whose id only STS knows"
    series = [
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
    assert len(series) == len(set(series)), "every series once"
    read = {
        (labels["account_id"], labels["region"])
        for labels, _ in parse_exposition(text)["aws_config_exporter_scrape_success"]
    }
    assert read == {(account, region) for account in (ACCOUNT, OTHER_ACCOUNT) for region in REGIONS}


def test_a_flood_of_requests_reads_each_target_once(tmp_path, exporter_factory, simulator) -> None:
    """/metrics and /probe are unauthenticated by default: a tight loop of both, with the
    default min_interval_seconds, makes one read per target."""
    path = tmp_path / "config.yml"
    path.write_text(
        f"regions: [{', '.join(REGIONS)}]\n"
        "compliance: {enabled: false}\npipeline: {enabled: false}\n"  # status calls alone
    )
    process = exporter_factory([f"--config.file={path}"], aws_env(simulator.url))
    simulator.reset_calls()
    paths: dict[str, list[int]] = {"/metrics": [], f"/probe?account={ACCOUNT}&region=eu-west-1": []}

    def flood(path: str) -> None:
        paths[path] += [process.get(path)[0] for _ in range(40)]

    started = time.monotonic()
    floods = [threading.Thread(target=flood, args=(path,)) for path in paths]
    for thread in floods:
        thread.start()
    for thread in floods:
        thread.join()
    elapsed = time.monotonic() - started
    samples = parse_exposition(process.scrape())

    assert elapsed < 5, "the flood must fit in the default min_interval_seconds"
    assert all(statuses == [200] * 40 for statuses in paths.values())
    pages = {"us-east-1": 1, "eu-west-1": math.ceil(45 / 20)}  # one read of each target
    operation = "DescribeConformancePackStatus"
    assert {region: simulator.calls(operation=operation, region=region) for region in REGIONS} == (
        pages
    )
    assert {region: api_requests(samples, region) for region in REGIONS} == {
        region: {"success": float(calls)} for region, calls in pages.items()
    }
