"""End to end: a real Prometheus scrapes the exporter over mutual TLS with basic auth.

Prometheus is the client that matters: this proves its `tls_config` and `basic_auth` work
against the exporter's `--web.config.file`, and that wrong credentials turn into `up == 0`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.certs import Pki, bcrypt_hash, make_pki
from tests.conftest import ExporterProcess
from tests.e2e.conftest import JOB, PrometheusServer

pytestmark = pytest.mark.e2e

PASSWORD = "scrape-over-tls"


def scrape_config(
    job: str, port: int, pki: Pki, *, password: str = PASSWORD, client_cert: bool = True
) -> dict[str, Any]:
    tls: dict[str, str] = {"ca_file": str(pki.ca)}
    if client_cert:
        tls |= {"cert_file": str(pki.client.cert), "key_file": str(pki.client.key)}
    return {
        "job_name": job,
        "scheme": "https",
        "tls_config": tls,
        "basic_auth": {"username": "prometheus", "password": password},
        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
    }


def test_prometheus_scrapes_over_mutual_tls_with_basic_auth(
    tmp_path: Path,
    exporter_factory: Callable[..., ExporterProcess],
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    pki = make_pki(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {pki.server.key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca}\n"
        f"basic_auth_users:\n  prometheus: {bcrypt_hash(PASSWORD)}\n"
    )
    exporter = exporter_factory(["--demo", f"--web.config.file={web}"])
    assert exporter.port is not None

    server = prometheus_factory(
        [],
        scrape_configs=[
            scrape_config(JOB, exporter.port, pki),
            scrape_config("wrong-password", exporter.port, pki, password="guess"),
            scrape_config("no-client-certificate", exporter.port, pki, client_cert=False),
        ],
    )

    server.wait_until(f'up{{job="{JOB}"}} == 1')
    packs = server.wait_until(f'count(aws_config_conformance_pack_info{{job="{JOB}"}})')
    assert float(packs[0]["value"][1]) >= 12
    success = server.query(f'aws_config_exporter_scrape_success{{job="{JOB}"}}')
    assert {sample["value"][1] for sample in success} == {"1"}
    for job in ("wrong-password", "no-client-certificate"):
        server.wait_until(f'up{{job="{job}"}} == 0')
    assert server.query('aws_config_exporter_build_info{job!="' + JOB + '"}') == []
