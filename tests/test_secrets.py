"""No secret ever shows: not in the logs at debug level, not on any page.

The exporter runs with planted, unique credentials (access key, secret key, session token,
external ids, a basic auth password), every page is requested, authentication fails in
every way, AWS fails in every way, and then every log line, header and body is searched for
the planted values.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exporter.simulator import FAULT_KINDS, ConfigSimulator, Fault, Scenario, SimulatedPack
from tests.certs import bcrypt_hash
from tests.conftest import ACCOUNT, ExporterProcess, aws_env

pytestmark = pytest.mark.integration

ROLE_ACCOUNT, DENIED_ACCOUNT = "210987654321", "345678901234"
ROLE = f"arn:aws:iam::{ROLE_ACCOUNT}:role/conformance-reader"
DENIED_ROLE = f"arn:aws:iam::{DENIED_ACCOUNT}:role/conformance-reader"
REGIONS = ("us-east-1", "eu-west-1")
SLOW = {"latency", "hang", "slow_body"}
RETRIED = SLOW | {"throttle", "internal_error", "unavailable"}
# Credentials the simulator issues through AssumeRole look like these.
ISSUED = re.compile(r"ASIA[A-Z2-7]{16}|[A-Za-z0-9+/]{100,}={0,2}")


def planted() -> dict[str, str]:
    """Fresh values nothing else could contain by chance."""
    upper = string.ascii_uppercase + string.digits
    return {
        "access key": "AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
        "secret key": secrets.token_urlsafe(30),
        "session token": "IQoJb3JpZ2luX2Vj" + secrets.token_urlsafe(90),
        "external id": "ext-" + secrets.token_hex(12),
        "denied external id": "ext-" + secrets.token_hex(12),
        "basic auth password": secrets.token_urlsafe(18),
    }


def credentials_env(endpoint: str, secret: dict[str, str]) -> dict[str, str]:
    return aws_env(
        endpoint,
        AWS_ACCESS_KEY_ID=secret["access key"],
        AWS_SECRET_ACCESS_KEY=secret["secret key"],
        AWS_SESSION_TOKEN=secret["session token"],
    )


def basic(username: str, password: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    }


def leaks(secret: dict[str, str], texts: list[str]) -> list[str]:
    """Which planted values, or their encodings, occur in `texts`."""
    everything = "\n".join(texts)
    found = [name for name, value in secret.items() if value in everything]
    password = secret["basic auth password"]
    if base64.b64encode(f"prometheus:{password}".encode()).decode() in everything:
        found.append("authorization header")
    found += [f"issued credential {match[:8]}..." for match in ISSUED.findall(everything)]
    return found


@pytest.fixture
def secret() -> dict[str, str]:
    return planted()


@pytest.fixture
def simulator(secret: dict[str, str]) -> Iterator[ConfigSimulator]:
    packs = [SimulatedPack(f"pack-{i}", "CREATE_COMPLETE", requested_at=1.0) for i in range(3)]
    scenario = Scenario(
        {(account, region): packs for account in (ACCOUNT, ROLE_ACCOUNT) for region in REGIONS},
        denied_roles=frozenset({DENIED_ROLE}),
        role_external_ids={ROLE: secret["external id"]},
    )
    with ConfigSimulator(scenario) as sim:
        yield sim


@pytest.fixture
def configs(tmp_path: Path, secret: dict[str, str]) -> tuple[Path, Path]:
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{', '.join(REGIONS)}]\n"
        "total_max_attempts: 1\nread_timeout_seconds: 1\n"
        "accounts:\n"
        "  - name: home\n"
        f"  - name: audited\n    role_arn: {ROLE}\n    external_id: {secret['external id']}\n"
        f"  - name: refused\n    role_arn: {DENIED_ROLE}\n"
        f"    external_id: {secret['denied external id']}\n"
    )
    web = tmp_path / "web.yml"
    web.write_text(
        f"basic_auth_users:\n  prometheus: {bcrypt_hash(secret['basic auth password'])}\n"
    )
    return config, web


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_no_secret_in_logs_or_pages(
    simulator: ConfigSimulator,
    configs: tuple[Path, Path],
    secret: dict[str, str],
    exporter_factory: Callable[..., ExporterProcess],
    log_format: str,
) -> None:
    config, web = configs
    process = exporter_factory(
        [
            f"--config.file={config}",
            f"--web.config.file={web}",
            "--log.level=debug",
            f"--log.format={log_format}",
        ],
        credentials_env(simulator.url, secret),
    )
    password = secret["basic auth password"]
    right = basic("prometheus", password)
    texts: list[str] = []

    def get(path: str, headers: dict[str, str]) -> int:
        status, response_headers, body = process.get(path, headers)
        texts.append(body.decode("utf-8", "replace"))
        texts.extend(f"{name}: {value}" for name, value in response_headers.items())
        return status

    pages = ["/", "/metrics", "/-/healthy", "/-/ready", "/nope", "/probe?account=audited"]
    pages += [f"/probe?account={ACCOUNT}&region=eu-west-1", "/probe?account=nobody"]
    statuses = {page: get(page, right) for page in pages}
    refused = [
        get("/metrics", headers)
        for headers in (
            {},
            basic("prometheus", password + "x"),
            basic(password, password),  # the password typed as the username
            basic("root", password),
            {"Authorization": f"Basic {password}"},
            {"Authorization": f"Bearer {password}"},
        )
    ]
    # Every failure of Config; STS's that are not retried for seconds by botocore's
    # AssumeRole client.
    faults = [Fault(kind=kind, service="config") for kind in FAULT_KINDS if kind not in SLOW]
    faults += [Fault(kind=kind, service="sts") for kind in FAULT_KINDS if kind not in RETRIED]
    for fault in faults:
        simulator.add_fault(fault)
        assert get("/metrics", right) == 200
        simulator.clear_faults()
    process.stop()
    process.wait_for_log("<exited>")

    assert statuses == {
        page: 400 if page.endswith("nobody") else 404 if page == "/nope" else 200 for page in pages
    }
    assert set(refused) == {401}
    assert simulator.assume_role_calls, "the role accounts were never assumed"
    assert any(call.external_id == secret["external id"] for call in simulator.assume_role_calls)
    logs = process.log_lines
    assert any("collection failed" in line for line in logs)
    assert any("level=debug" in line or '"level": "debug"' in line for line in logs)
    assert leaks(secret, texts + logs) == []


class _EchoingAws(BaseHTTPRequestHandler):
    """A hostile endpoint whose errors quote the request's signed headers back, the way
    AWS's SignatureDoesNotMatch messages quote the canonical request."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        canonical = "\n".join(f"{name.lower()}:{value}" for name, value in self.headers.items())
        message = (
            "The request signature we calculated does not match the signature you provided."
            f"\n\nThe Canonical String for this request should have been\n'POST\n/\n\n{canonical}'"
        )
        body = json.dumps({"__type": "InvalidSignatureException", "message": message}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def echoing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingAws)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_credentials_quoted_back_by_aws_are_not_logged(
    echoing_endpoint: str,
    tmp_path: Path,
    secret: dict[str, str],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    config = tmp_path / "config.yml"
    config.write_text("regions: [us-east-1]\ntotal_max_attempts: 1\n")
    process = exporter_factory(
        [f"--config.file={config}", "--log.level=debug"],
        credentials_env(echoing_endpoint, secret),
    )

    body = process.scrape()
    process.stop()
    process.wait_for_log("<exited>")

    assert "aws_config_exporter_scrape_success" in body
    assert any("error_code=InvalidSignatureException" in line for line in process.log_lines)
    assert leaks(secret, [body, *process.log_lines]) == []
