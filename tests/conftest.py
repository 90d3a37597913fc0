"""Shared fixtures: botocore-shaped pack statuses, and the exporter run as a real process."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from exporter.aws.accounts import Account
from exporter.aws.credentials import Sessions
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target
from exporter.collectors import IAM_ACTIONS, build_collectors
from exporter.collectors.status import pack_samples
from exporter.config import AccountConfig, ComplianceConfig, Config, PipelineConfig
from exporter.deadline import Deadline
from exporter.metrics import STATUS_HELP, STATUS_REASON, gauge_families
from exporter.plan import Plan
from exporter.scrape import Scraper

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
# The states the installed botocore model knows: what the exporter must export.
MODEL_STATES: tuple[str, ...] = tuple(
    botocore.session.get_session()
    .get_service_model("config")
    .shape_for("ConformancePackState")
    .enum  # type: ignore[attr-defined]
)


def pack_status(
    name: str,
    state: str = "CREATE_COMPLETE",
    *,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    reason: str | None = None,
    requested: float = 1_700_000_000.25,
    completed: float | None = 1_700_000_100.5,
    pack_type: str | None = "CUSTOM",
    stack: bool = True,
) -> dict[str, Any]:
    """A ConformancePackStatusDetail as botocore returns it (timestamps as aware datetimes)."""
    pack_id = f"conformance-pack-{abs(hash((account, region, name))) % 10**8:08d}"
    status: dict[str, Any] = {
        "ConformancePackName": name,
        "ConformancePackId": pack_id,
        "ConformancePackArn": (
            f"arn:aws:config:{region}:{account}:conformance-pack/{name}/{pack_id}"
        ),
        "ConformancePackState": state,
        "LastUpdateRequestedTime": datetime.fromtimestamp(requested, timezone.utc),
    }
    if stack:
        status["StackArn"] = (
            f"arn:aws:cloudformation:{region}:{account}:stack/awsconfigconforms-{name}/0000"
        )
    if reason is not None:
        status["ConformancePackStatusReason"] = reason
    if completed is not None:
        status["LastUpdateCompletedTime"] = datetime.fromtimestamp(completed, timezone.utc)
    if pack_type is not None:
        status["Type"] = pack_type
    return status


class Families:
    """Lets prometheus_client's encoders write a list of already collected families."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def pack_families(
    targets: Sequence[tuple[str, str, Sequence[Mapping[str, Any]]]],
    export_status_reason: bool = True,
) -> list[Metric]:
    """The pack-status families for (account_id, region, pack statuses) of read targets."""
    samples: dict[str, list[Sample]] = {}
    for account_id, region, statuses in targets:
        target = pack_samples(account_id, region, statuses, MODEL_STATES, export_status_reason)
        for name, series in target.items():
            samples.setdefault(name, []).extend(series)
    help_texts = {
        name: text
        for name, text in STATUS_HELP.items()
        if export_status_reason or name != STATUS_REASON
    }
    return gauge_families(help_texts, samples)


def exposition(families: list[Metric]) -> str:
    """The text exposition format, as `/metrics` serves it by default."""
    return generate_latest(Families(families)).decode()


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; for servers that offer nothing to await."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except (OSError, urllib.error.URLError) as error:
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} ({last_error})")


def fake_credentials_sessions(
    endpoint_url: str | None = None, now: Callable[[], datetime] | None = None
) -> Sessions:
    """Sessions whose default credentials are fixed fake keys (for Stubber or the simulator)."""
    core = botocore.session.get_session()
    core.set_credentials("AKIDTESTTESTTESTTEST", "test-secret-key")
    core.set_config_variable("region", "us-east-1")
    return Sessions(core, endpoint_url=endpoint_url, now=now)


def every_target_read(plan: Plan) -> bool:
    """Scrape `plan` once; whether each (collector, target) now has a good reading (background
    reads included), so every read queued before them in each collector's queue is done."""
    plan.scraper.collect(Deadline.after(30))
    expected = {
        (collector.name, target.account.account_id, target.region)
        for collector in plan.built.collectors
        for target in collector.targets(plan.scraper.targets)
    }
    read = {
        (c.collector, c.account_id, c.region)
        for c in plan.scraper.snapshot().collections
        if c.success and c.age_seconds is not None
    }
    return expected <= read


def make_account(
    regions: tuple[str, ...],
    endpoint_url: str | None = None,
    counter: ApiCallCounter | None = None,
    account: AccountConfig | None = None,
    **config: Any,
) -> Account:
    """An Account as the exporter builds it, on fake default credentials."""
    return Account(
        fake_credentials_sessions(endpoint_url),
        account or AccountConfig(),
        regions,
        Config(**config),
        counter or ApiCallCounter(),
        IAM_ACTIONS,
    )


@pytest.fixture
def moto_server() -> Iterator[ThreadedMotoServer]:
    """moto's server mode on loopback, for what it implements (Organizations), starting empty:
    moto keeps its fakes per process, so a test must not see an earlier one's. A test may stop
    it early (stopping twice is harmless)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    reset = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset):
        pass
    yield server
    server.stop()


@pytest.fixture
def moto_url(moto_server: ThreadedMotoServer) -> str:
    host, port = moto_server.get_host_and_port()
    return f"http://{host}:{port}"


def moto_client(service: Literal["organizations", "config"], url: str) -> Any:
    """A plain boto3 client on moto, for setting up what the exporter then reads."""
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def moto_recording_recorder(url: str, account: str) -> Any:
    """moto's AWS Config with a recorder named `default` of `account`, recording, and its
    delivery channel; the plain boto3 client on it."""
    moto = moto_client("config", url)
    moto.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{account}:role/config",
            "recordingGroup": {"allSupported": True},
        }
    )
    moto.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "bucket"})
    moto.start_configuration_recorder(ConfigurationRecorderName="default")
    return moto


class Organization:
    """moto's organisation, set up and changed as its administrators would; its management
    account is moto's default, ACCOUNT."""

    def __init__(self, url: str) -> None:
        self.client = moto_client("organizations", url)
        self.client.create_organization(FeatureSet="ALL")

    def create(self, name: str) -> str:
        """A new member account's id (moto draws it at random)."""
        status = self.client.create_account(AccountName=name, Email=f"{name}@example.com")
        return str(status["CreateAccountStatus"]["AccountId"])

    def close(self, account_id: str) -> None:
        self.client.close_account(AccountId=account_id)


@pytest.fixture
def organization(moto_url: str) -> Organization:
    return Organization(moto_url)


STUBBED_REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def account() -> Account:
    """An account on fake credentials in two regions, for tests with botocore's Stubber."""
    return make_account(STUBBED_REGIONS)


@pytest.fixture
def stubbers(account: Account) -> Iterator[dict[str, Stubber]]:
    """An active Stubber per region of `account`, and one for its STS client."""
    stubs = {region: Stubber(account.clients[region]) for region in account.clients}
    stubs["sts"] = Stubber(account.sts_client)
    for stub in stubs.values():
        stub.activate()
    yield stubs
    for stub in stubs.values():
        stub.deactivate()


def make_scraper(
    targets: Sequence[Target], counter: ApiCallCounter | None = None, **config: Any
) -> Scraper:
    """A Scraper with the collectors `config` switches on, as the CLI builds it; compliance
    and the pipeline only when asked for, so each test sees the calls of the collector it
    tests."""
    settings = Config(
        **{
            "compliance": ComplianceConfig(enabled=False),
            "pipeline": PipelineConfig(enabled=False),
            **config,
        }
    )
    collectors = build_collectors(settings, targets[0].client.meta.service_model)
    return Scraper(
        collectors, targets, counter or ApiCallCounter(), concurrency=settings.concurrency
    )


def scrape_samples(
    scraper: Scraper, timeout: float = 10.0, targets: Sequence[Target] | None = None
) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One in-process scrape, parsed."""
    return parse_exposition(exposition(scraper.collect(Deadline.after(timeout), targets)))


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name, parsed with prometheus_client's own parser."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


class ExporterProcess:
    """`python -m exporter` (or another `program`) as a child process, with its log lines
    collected for assertions."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        cwd: Path = REPO,
        program: Sequence[str] = (sys.executable, "-m", "exporter"),
    ):
        self.log_lines: list[str] = []
        self._log_changed = threading.Condition()
        self.process = subprocess.Popen(
            [*program, *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        threading.Thread(target=self._read_logs, daemon=True).start()
        self.port: int | None = None

    def _read_logs(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._log_changed:
                self.log_lines.append(line.rstrip("\n"))
                self._log_changed.notify_all()
        with self._log_changed:
            self.log_lines.append("<exited>")
            self._log_changed.notify_all()

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first log line matching `pattern`, waiting for it to be written."""
        regex = re.compile(pattern)
        seen = 0

        def find() -> re.Match[str] | None:
            nonlocal seen
            for line in self.log_lines[seen:]:
                seen += 1
                if match := regex.search(line):
                    return match
            return None

        with self._log_changed:
            match = None

            def ready() -> bool:
                nonlocal match
                match = find()
                return match is not None or "<exited>" in self.log_lines

            self._log_changed.wait_for(ready, timeout)
        if match is None:
            logs = "\n".join(self.log_lines)
            raise AssertionError(f"no log line matches {pattern!r}; logs:\n{logs}")
        return match

    def wait_until_listening(self) -> None:
        self.port = int(
            self.wait_for_log(r'"?msg"?[=:] ?"?listening\b.*\bport"?[=:] ?(\d+)').group(1)
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(
        self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> tuple[int, Mapping[str, str], bytes]:
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def scrape(self, headers: Mapping[str, str] | None = None) -> str:
        status, _, body = self.get("/metrics", headers)
        assert status == 200, body
        return body.decode()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def run_tool(
    *args: str | Path,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> str:
    """Run a tool and return its output; fail the test with that output if it fails."""
    command = [str(arg) for arg in args]
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"{' '.join(command)} could not run: {error}")
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited with {result.returncode}:\n{output}")
    return output


def aws_env(endpoint_url: str | None = None, **extra: str) -> dict[str, str]:
    """An environment with fake credentials and no way to reach real AWS or instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKIDTESTTESTTESTTEST",
        AWS_SECRET_ACCESS_KEY="test-secret-key",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        PYTHONUNBUFFERED="1",
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """In-process `cli.run` points the root logger at a stream pytest closes afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def exporter_factory() -> Iterator[Callable[..., ExporterProcess]]:
    """Starts exporter processes listening on free loopback ports; stops them afterwards."""
    started: list[ExporterProcess] = []

    def start(
        args: Sequence[str] = (), env: Mapping[str, str] | None = None, wait: bool = True
    ) -> ExporterProcess:
        exporter = ExporterProcess(
            ["--web.listen-address=127.0.0.1:0", *args], env if env is not None else aws_env()
        )
        started.append(exporter)
        if wait:
            exporter.wait_until_listening()
        return exporter

    yield start
    for exporter in started:
        if exporter.process.poll() is None:
            exporter.process.kill()
            exporter.process.wait()
