"""End to end: simulator → exporter → real Prometheus with the shipped rules → real
Alertmanager with the shipped routing → a webhook receiver run by the test.

Only the rules' `for:` durations and Alertmanager's grouping waits are shortened, in
temporary copies; expressions, labels, annotations and routes are the shipped ones.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.metrics import (
    COMPLIANCE,
    DELIVERY_STATUS,
    INFO,
    RECORDER_INFO,
    RECORDER_RECORDING,
    RECORDER_STATUS,
    SCORE,
    SCRAPE_SUCCESS,
)
from exporter.simulator import (
    INSUFFICIENT_DATA,
    ComplianceChange,
    ConfigSimulator,
    Delivery,
    RecorderChange,
    Scenario,
    Score,
    SimulatedDeliveryChannel,
    SimulatedPack,
    SimulatedRecorder,
    SimulatedRule,
    pack_ids,
)
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, wait_for
from tests.e2e.conftest import JOB, PrometheusServer, binary
from tests.test_alerts import ALERTMANAGER_CONFIG, RULES_FILE, rewrite_for_durations

pytestmark = pytest.mark.e2e

REASON = 'Stack "awsconfigconforms-pci" failed: S3 bucket access denied\nrolled back'
HEALTHY = ("cis-baseline", "hipaa-security")

# The compliance scenario: every pack is in one (account, region), so a compliance alert that
# wrongly matched a quiet pack would be evaluated, and grouped, together with the true one.
COMPLIANCE_REGION = "eu-west-1"
# Seconds from the simulator's start to the re-evaluation. Prometheus must have scraped the
# packs before it; its first scrape comes 7-9 s after the simulator's start (Prometheus 2.42
# hands a new target to its scrapers some 5 s after it is ready): 20 leaves room to spare.
CHANGE_AFTER = 20.0
BREAKS = "nist-800-53"  # COMPLIANT at 100, then NON_COMPLIANT at 50
BROKEN_RULE = "s3-bucket-public-read-prohibited"
AWAITING = "awaiting-evaluation"  # INSUFFICIENT_DATA only, from the start
LOSES_DATA = "evaluation-lost"  # COMPLIANT at 100, then INSUFFICIENT_DATA with no score
NEVER_COMPLIANT = "legacy-baseline"  # NON_COMPLIANT at 50 from the start
COMPLIANCE_ALERTS = ("ConformancePackNewlyNonCompliant", "ConformancePackComplianceScoreDropped")

# The recorder scenario: regions whose packs keep being recorded, and regions where they stop
# being recorded. The stopping region's recorder stops CHANGE_AFTER seconds in, so Prometheus
# first sees it recording: the alert must follow the change, not the region.
NOT_RECORDING = "AWSConfigRecorderNotRecording"
RECORDING_REGION = "us-east-1"  # a customer managed recorder, recording throughout
STOPPING_REGION = "eu-west-1"  # a customer managed recorder, recording, then stopped
SERVICE_LINKED_REGION = "eu-central-1"  # customer managed stopped, service-linked recording
NO_RECORDER_REGION = "ap-southeast-2"  # packs, and no recorder at all
NO_PACKS_REGION = "us-west-2"  # a stopped recorder, and no pack whose compliance it freezes
RECORDER_REGIONS = (
    RECORDING_REGION,
    STOPPING_REGION,
    SERVICE_LINKED_REGION,
    NO_RECORDER_REGION,
    NO_PACKS_REGION,
)
SERVICE_PRINCIPAL = "config-conforms.amazonaws.com"


class WebhookReceiver:
    """Collects Alertmanager's webhook notifications, by URL path, for tests to await."""

    def __init__(self) -> None:
        self.notifications: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._changed:
                    receiver.notifications.append((self.path, body))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def alerts(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, alert) for every alert delivered so far."""
        with self._changed:
            return [(path, alert) for path, body in self.notifications for alert in body["alerts"]]

    def wait_for_alert(self, name: str, timeout: float = 90) -> tuple[str, dict[str, Any]]:
        def firing() -> list[tuple[str, dict[str, Any]]]:
            return [
                (path, alert)
                for path, alert in self.alerts()
                if alert["labels"]["alertname"] == name and alert["status"] == "firing"
            ]

        with self._changed:
            self._changed.wait_for(firing, timeout)
        found = firing()
        assert found, f"{name} was not delivered within {timeout} s; got {self.alerts()}"
        return found[0]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    webhook = WebhookReceiver()
    yield webhook
    webhook.close()


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    """Packs in two regions, each recorded by a recorder whose deliveries succeed, so the
    pipeline families are served (and linted) and no pipeline alert fires."""
    now = time.time()
    recording = [SimulatedRecorder("default", started_at=now - 86400)]
    channel = [SimulatedDeliveryChannel("default", history=Delivery(attempted_at=now - 600))]
    packs = {
        (ACCOUNT, "us-east-1"): [
            SimulatedPack("pci-dss", "CREATE_FAILED", reason=REASON, requested_at=now - 900),
            *(
                SimulatedPack(name, "CREATE_COMPLETE", requested_at=now - 86400, completed_at=now)
                for name in HEALTHY
            ),
        ],
        (ACCOUNT, "eu-west-1"): [
            SimulatedPack("security-hub", "UPDATE_IN_PROGRESS", requested_at=now - 2 * 3600),
        ],
    }
    scenario = Scenario(
        packs,
        recorders={target: recording for target in packs},
        delivery_channels={target: channel for target in packs},
    )
    with ConfigSimulator(scenario) as sim:
        yield sim


@contextlib.contextmanager
def exporter_process(
    simulator: ConfigSimulator, config_text: str, tmp_path: Path
) -> Iterator[ExporterProcess]:
    """The exporter as a child process reading `simulator`, listening; stopped on exit."""
    config = tmp_path / "exporter.yml"
    config.write_text(config_text)
    process = ExporterProcess(
        ["--web.listen-address=127.0.0.1:0", f"--config.file={config}"], aws_env(simulator.url)
    )
    try:
        process.wait_until_listening()
        yield process
    finally:
        process.stop()


# The name the pack scenario's exporter gives its account (the compliance one gives none).
ACCOUNT_NAME = "production"


@pytest.fixture
def exporter(simulator: ConfigSimulator, tmp_path: Path) -> Iterator[ExporterProcess]:
    config = f"regions: [us-east-1, eu-west-1]\naccounts: [{{name: {ACCOUNT_NAME}}}]\n"
    with exporter_process(simulator, config, tmp_path) as process:
        yield process


def shortened_rules(tmp_path: Path) -> Path:
    text, count = rewrite_for_durations(RULES_FILE.read_text(), "2s")
    assert count > 0
    path = tmp_path / "rules.yml"
    path.write_text(text)
    return path


def alertmanager_config(receiver_url: str) -> dict[str, Any]:
    """The shipped routing, with waits shortened and webhooks pointed at the receiver."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            path = webhook["url"].split("/", 3)[3]
            webhook["url"] = f"{receiver_url}/{path}"
    return config


def test_alerts_reach_the_receiver_with_pack_account_region_and_reason(
    exporter, receiver, prometheus_factory, alertmanager_factory, tmp_path
) -> None:
    alertmanager = alertmanager_factory(alertmanager_config(receiver.url))
    prometheus = prometheus_factory(
        [exporter.url], rule_files=[shortened_rules(tmp_path)], alertmanager_url=alertmanager.url
    )

    failed_path, failed = receiver.wait_for_alert("ConformancePackFailed")
    stuck_path, stuck = receiver.wait_for_alert("ConformancePackStuckInProgress")

    assert failed_path == "/alerts/critical"
    assert failed["labels"]["severity"] == "critical"
    assert {k: failed["labels"][k] for k in ("conformance_pack", "account_id", "region")} == {
        "conformance_pack": "pci-dss",
        "account_id": ACCOUNT,
        "region": "us-east-1",
    }
    assert failed["labels"]["reason"] == REASON
    for text in ("pci-dss", ACCOUNT, "us-east-1"):
        assert text in failed["annotations"]["summary"] + failed["annotations"]["description"]
    assert "S3 bucket access denied" in failed["annotations"]["description"]
    # The account's name, from aws_config_account_info, in the description only.
    assert f"in account {ACCOUNT} ({ACCOUNT_NAME}), region" in failed["annotations"]["description"]
    assert "account_name" not in failed["labels"]
    assert failed["annotations"]["runbook_url"].endswith("#conformancepackfailed")

    assert stuck_path == "/alerts/warning"
    assert (stuck["labels"]["conformance_pack"], stuck["labels"]["region"]) == (
        "security-hub",
        "eu-west-1",
    )
    assert stuck["labels"]["account_id"] == ACCOUNT

    # Healthy packs raise nothing, in Prometheus or at the receiver.
    named = {alert["labels"].get("conformance_pack") for _, alert in receiver.alerts()}
    assert named.isdisjoint(HEALTHY)
    pending_or_firing = {a["labels"].get("conformance_pack") for a in prometheus.alerts()}
    assert pending_or_firing.isdisjoint(HEALTHY)
    # Recorded regions with delivering channels raise no pipeline alert either.
    pipeline = [a for _, a in receiver.alerts() if a["labels"]["alertname"].startswith("AWSConfig")]
    assert pipeline == []


def test_promtool_finds_nothing_to_complain_about_in_real_output(exporter) -> None:
    """The pipeline is read in the background: a scrape serves it once the first read is done."""
    families = (
        INFO,
        "aws_config_conformance_pack_status_reason_info",
        RECORDER_RECORDING,
        RECORDER_STATUS,
        RECORDER_INFO,
        DELIVERY_STATUS,
    )

    def every_family() -> str | None:
        text = exporter.scrape()
        return text if all(f"\n{family}{{" in text for family in families) else None

    text = wait_for(every_family, 30, f"a scrape with {families}")
    result = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


def completed_pack(
    name: str,
    now: float,
    rules: tuple[SimulatedRule, ...],
    score: Score,
    *changes: ComplianceChange,
) -> SimulatedPack:
    """A pack deployed a day ago, with `rules`, `score` and scheduled re-evaluations."""
    return SimulatedPack(
        name,
        "CREATE_COMPLETE",
        requested_at=now - 86400,
        completed_at=now - 86000,
        rules=rules,
        score=score,
        compliance_timeline=changes,
    )


def compliance_packs(now: float) -> list[SimulatedPack]:
    """One pack that breaks CHANGE_AFTER seconds in, and three that must stay quiet."""
    return [
        completed_pack(
            BREAKS,
            now,
            (SimulatedRule("encrypted-volumes"), SimulatedRule(BROKEN_RULE)),
            100.0,
            ComplianceChange(
                CHANGE_AFTER, 50.0, rules=(SimulatedRule(BROKEN_RULE, "NON_COMPLIANT", 3),)
            ),
        ),
        completed_pack(
            AWAITING,
            now,
            (SimulatedRule("guardduty-enabled", INSUFFICIENT_DATA),),
            INSUFFICIENT_DATA,
        ),
        completed_pack(
            LOSES_DATA,
            now,
            (SimulatedRule("rds-storage-encrypted"),),
            100.0,
            ComplianceChange(
                CHANGE_AFTER,
                INSUFFICIENT_DATA,
                rules=(SimulatedRule("rds-storage-encrypted", INSUFFICIENT_DATA),),
            ),
        ),
        completed_pack(
            NEVER_COMPLIANT,
            now,
            (SimulatedRule("root-account-mfa", "NON_COMPLIANT", 1), SimulatedRule("cloudtrail")),
            50.0,
        ),
    ]


@pytest.fixture
def compliance_simulator() -> Iterator[ConfigSimulator]:
    """The simulator serving compliance_packs(); their timelines count from its start."""
    scenario = Scenario({(ACCOUNT, COMPLIANCE_REGION): compliance_packs(time.time())})
    with ConfigSimulator(scenario) as sim:
        yield sim


@pytest.fixture
def compliance_exporter(
    compliance_simulator: ConfigSimulator, tmp_path: Path
) -> Iterator[ExporterProcess]:
    """The exporter re-reading compliance on every scrape, so the change shows at once."""
    config = f"regions: [{COMPLIANCE_REGION}]\ncompliance: {{interval_seconds: 0}}\n"
    with exporter_process(compliance_simulator, config, tmp_path) as process:
        yield process


def by_label(prometheus: PrometheusServer, expr: str, label: str) -> dict[str, float]:
    """The instant value of `expr` for each value of `label` it returns (one series each)."""
    found = prometheus.query(expr)
    values = {sample["metric"][label]: float(sample["value"][1]) for sample in found}
    assert len(values) == len(found), expr
    return values


def test_compliance_alerts_fire_when_a_compliant_pack_breaks_and_never_for_missing_data(
    compliance_simulator,
    compliance_exporter,
    receiver,
    prometheus_factory,
    alertmanager_factory,
    tmp_path,
) -> None:
    alertmanager = alertmanager_factory(alertmanager_config(receiver.url))
    prometheus = prometheus_factory(
        [compliance_exporter.url],
        rule_files=[shortened_rules(tmp_path)],
        alertmanager_url=alertmanager.url,
    )

    # The history both alerts compare against: Prometheus saw the pack COMPLIANT at 100%
    # before the re-evaluation. A time-out here means the stack took longer than
    # CHANGE_AFTER seconds to start, so the scenario's first half was never scraped.
    pack = f'conformance_pack="{BREAKS}"'
    prometheus.wait_until(
        f'max_over_time({COMPLIANCE}{{{pack},compliance="COMPLIANT"}}[1h]) == 1',
        timeout=CHANGE_AFTER,
    )
    prometheus.wait_until(f"max_over_time({SCORE}{{{pack}}}[1h]) == 1", timeout=10)

    newly_path, newly = receiver.wait_for_alert("ConformancePackNewlyNonCompliant")
    dropped_path, dropped = receiver.wait_for_alert("ConformancePackComplianceScoreDropped")

    pack_labels = {
        "job": JOB,
        "instance": compliance_exporter.url.removeprefix("http://"),
        "account_id": ACCOUNT,
        "region": COMPLIANCE_REGION,
        "conformance_pack": BREAKS,
    }
    assert newly_path == "/alerts/warning"
    assert newly["labels"] == {
        **pack_labels,
        "alertname": "ConformancePackNewlyNonCompliant",
        "severity": "warning",
        "compliance": "NON_COMPLIANT",
    }
    served_rule = pack_ids(ACCOUNT, COMPLIANCE_REGION, BREAKS).rule_name(BROKEN_RULE)
    assert f"Non-compliant rules: {served_rule}." in newly["annotations"]["description"]
    assert newly["annotations"]["runbook_url"].endswith("#conformancepacknewlynoncompliant")

    assert dropped_path == "/alerts/warning"
    assert dropped["labels"] == {
        **pack_labels,
        "alertname": "ConformancePackComplianceScoreDropped",
        "severity": "warning",
    }
    assert "is 50%, down from 100% at its highest" in dropped["annotations"]["description"]
    # An account without a name: the descriptions show its id alone.
    assert f"in account {ACCOUNT}, region" in dropped["annotations"]["description"]

    # The quiet packs are not quiet for want of data: Prometheus holds what would trip a
    # careless rule (a COMPLIANT past and a high score before INSUFFICIENT_DATA; a
    # NON_COMPLIANT verdict and a low score without a COMPLIANT past), read in the same
    # compliance reads as the pack that fired.
    assert by_label(
        prometheus, f'{COMPLIANCE}{{compliance="INSUFFICIENT_DATA"}} == 1', "conformance_pack"
    ) == {
        AWAITING: 1,
        LOSES_DATA: 1,
    }
    assert by_label(
        prometheus, f'{COMPLIANCE}{{compliance="NON_COMPLIANT"}} == 1', "conformance_pack"
    ) == {
        BREAKS: 1,
        NEVER_COMPLIANT: 1,
    }
    compliant_before = f'max_over_time({COMPLIANCE}{{compliance="COMPLIANT"}}[1h]) == 1'
    assert by_label(prometheus, compliant_before, "conformance_pack") == {
        BREAKS: 1,
        LOSES_DATA: 1,
    }
    assert by_label(prometheus, f"max_over_time({SCORE}[1h])", "conformance_pack") == {
        BREAKS: 1,
        LOSES_DATA: 1,
        NEVER_COMPLIANT: 0.5,
    }
    assert by_label(prometheus, SCORE, "conformance_pack") == {BREAKS: 0.5, NEVER_COMPLIANT: 0.5}

    # Only the pack that broke raises a compliance alert, pending or firing in Prometheus or
    # delivered by Alertmanager.
    expected = {(name, BREAKS) for name in COMPLIANCE_ALERTS}
    delivered = {
        (alert["labels"]["alertname"], alert["labels"]["conformance_pack"])
        for _, alert in receiver.alerts()
        if alert["labels"]["alertname"] in COMPLIANCE_ALERTS
    }
    assert delivered == expected
    active = {
        (alert["labels"]["alertname"], alert["labels"]["conformance_pack"])
        for alert in prometheus.alerts()
        if alert["labels"]["alertname"] in COMPLIANCE_ALERTS
    }
    assert active == expected


def recorder_packs(now: float) -> dict[tuple[str, str], list[SimulatedPack]]:
    """Two healthy packs in every region of RECORDER_REGIONS but NO_PACKS_REGION."""
    return {
        (ACCOUNT, region): [
            SimulatedPack(name, "CREATE_COMPLETE", requested_at=now - 86400, completed_at=now)
            for name in HEALTHY
        ]
        for region in RECORDER_REGIONS
        if region != NO_PACKS_REGION
    }


def recorders(now: float) -> dict[tuple[str, str], list[SimulatedRecorder]]:
    """The recorders of each region of RECORDER_REGIONS (none in NO_RECORDER_REGION)."""
    started = now - 86400
    stopped = SimulatedRecorder("default", recording=False, started_at=started, stopped_at=now)
    service_linked = SimulatedRecorder(
        "AWSConfigurationRecorderForConfigConforms",
        service_principal=SERVICE_PRINCIPAL,
        started_at=started,
    )
    return {
        (ACCOUNT, RECORDING_REGION): [SimulatedRecorder("default", started_at=started)],
        (ACCOUNT, STOPPING_REGION): [
            SimulatedRecorder(
                "default",
                started_at=started,
                timeline=(RecorderChange(CHANGE_AFTER, recording=False),),
            )
        ],
        (ACCOUNT, SERVICE_LINKED_REGION): [stopped, service_linked],
        (ACCOUNT, NO_PACKS_REGION): [stopped],
    }


@pytest.fixture
def recorder_simulator() -> Iterator[ConfigSimulator]:
    """The simulator serving the recorder scenario; the stop counts from its start."""
    now = time.time()
    scenario = Scenario(recorder_packs(now), recorders=recorders(now))
    with ConfigSimulator(scenario) as sim:
        yield sim


@pytest.fixture
def recorder_exporter(
    recorder_simulator: ConfigSimulator, tmp_path: Path
) -> Iterator[ExporterProcess]:
    """The exporter reading every region's pipeline on every scrape, so the stop shows at once."""
    config = f"regions: [{', '.join(RECORDER_REGIONS)}]\npipeline: {{interval_seconds: 0}}\n"
    with exporter_process(recorder_simulator, config, tmp_path) as process:
        yield process


def test_recorder_alert_fires_where_packs_are_no_longer_recorded_and_only_there(
    recorder_simulator,
    recorder_exporter,
    receiver,
    prometheus_factory,
    alertmanager_factory,
    tmp_path,
) -> None:
    alertmanager = alertmanager_factory(alertmanager_config(receiver.url))
    prometheus = prometheus_factory(
        [recorder_exporter.url],
        rule_files=[shortened_rules(tmp_path)],
        alertmanager_url=alertmanager.url,
    )

    # Prometheus saw the stopping region recording before it stopped. A time-out here means
    # the stack took longer than CHANGE_AFTER seconds to start.
    prometheus.wait_until(
        f'max_over_time({RECORDER_RECORDING}{{region="{STOPPING_REGION}"}}[1h]) == 1',
        timeout=CHANGE_AFTER,
    )
    expected = {STOPPING_REGION, NO_RECORDER_REGION}

    def delivered() -> dict[str, tuple[str, dict[str, Any]]]:
        return {
            alert["labels"]["region"]: (path, alert)
            for path, alert in receiver.alerts()
            if alert["labels"]["alertname"] == NOT_RECORDING and alert["status"] == "firing"
        }

    wait_for(lambda: set(delivered()) >= expected, 90, f"{NOT_RECORDING} for {expected}")
    alerts = delivered()

    instance = recorder_exporter.url.removeprefix("http://")
    for region in expected:
        path, alert = alerts[region]
        assert path == "/alerts/critical"
        assert alert["labels"] == {
            "alertname": NOT_RECORDING,
            "severity": "critical",
            "job": JOB,
            "instance": instance,
            "account_id": ACCOUNT,
            "region": region,
        }
        description = alert["annotations"]["description"]
        assert f"deployed there ({len(HEALTHY)})" in description
        assert alert["annotations"]["runbook_url"].endswith("#awsconfigrecordernotrecording")
    assert "Stopped recorders: default." in alerts[STOPPING_REGION][1]["annotations"]["description"]
    assert (
        "There is no configuration recorder in that region."
        in (alerts[NO_RECORDER_REGION][1]["annotations"]["description"])
    )

    # The quiet regions are not quiet for want of data: Prometheus holds their packs, their
    # recorders (a stopped one in each region but the first) and successful pipeline reads.
    packs = f"count by (region) ({INFO})"
    assert by_label(prometheus, packs, "region") == {
        region: len(HEALTHY) for region in RECORDER_REGIONS if region != NO_PACKS_REGION
    }
    assert by_label(prometheus, f"min by (region) ({RECORDER_RECORDING})", "region") == {
        RECORDING_REGION: 1,
        STOPPING_REGION: 0,
        SERVICE_LINKED_REGION: 0,
        NO_PACKS_REGION: 0,
    }
    assert by_label(prometheus, f"max by (region) ({RECORDER_RECORDING})", "region") == {
        RECORDING_REGION: 1,
        STOPPING_REGION: 0,
        SERVICE_LINKED_REGION: 1,
        NO_PACKS_REGION: 0,
    }
    pipeline_reads = f'min by (region) ({SCRAPE_SUCCESS}{{collector="pipeline"}})'
    assert by_label(prometheus, pipeline_reads, "region") == dict.fromkeys(RECORDER_REGIONS, 1)

    # Only the regions whose packs are no longer recorded raise it, delivered by Alertmanager
    # or pending or firing in Prometheus; the first region never did.
    assert set(delivered()) == expected
    everywhere = {
        alert["labels"]["region"]
        for _, alert in receiver.alerts()
        if alert["labels"]["alertname"] == NOT_RECORDING
    }
    assert RECORDING_REGION not in everywhere
    active = {
        alert["labels"]["region"]
        for alert in prometheus.alerts()
        if alert["labels"]["alertname"] == NOT_RECORDING
    }
    assert active == expected
