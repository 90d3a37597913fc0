"""End to end: simulator → exporter → real Prometheus with the shipped rules → real
Alertmanager with the shipped routing → a webhook receiver run by the test.

Only the rules' `for:` durations and Alertmanager's grouping waits are shortened, in
temporary copies; expressions, labels, annotations and routes are the shipped ones.
"""

from __future__ import annotations

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

from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import ACCOUNT, ExporterProcess, aws_env
from tests.e2e.conftest import binary
from tests.test_alerts import ALERTMANAGER_CONFIG, RULES_FILE, rewrite_for_durations

pytestmark = pytest.mark.e2e

REASON = 'Stack "awsconfigconforms-pci" failed: S3 bucket access denied\nrolled back'
HEALTHY = ("cis-baseline", "hipaa-security")


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
    now = time.time()
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
    with ConfigSimulator(Scenario(packs)) as sim:
        yield sim


@pytest.fixture
def exporter(simulator: ConfigSimulator, tmp_path: Path) -> Iterator[ExporterProcess]:
    config = tmp_path / "exporter.yml"
    config.write_text("regions: [us-east-1, eu-west-1]\n")
    process = ExporterProcess(
        ["--web.listen-address=127.0.0.1:0", f"--config.file={config}"], aws_env(simulator.url)
    )
    process.wait_until_listening()
    yield process
    process.stop()


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


def test_promtool_finds_nothing_to_complain_about_in_real_output(exporter) -> None:
    text = exporter.scrape()
    result = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""
    assert "aws_config_conformance_pack_status_reason_info" in text
