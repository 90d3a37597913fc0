"""exporter/web/config_file.py: the WSGI wrapper and reloads in-process, then real TLS
clients (Python's ssl and curl) against the exporter process."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from exporter.web import WebConfig, WebConfigFile, config_file
from tests.certs import Pki, bcrypt_hash, client_context, https_get, server_certificate
from tests.conftest import ExporterProcess, parse_exposition
from tests.e2e.conftest import binary
from tests.web.conftest import PASSWORD, basic_header, replace, tls_config

# The WSGI wrapper and reloads, in-process


def call(
    app: Any, path: str, method: str = "GET", **headers: str
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    captured: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> None:
        captured["status"], captured["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def inner_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"inner\n"]


@pytest.fixture
def web_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "web.yml"
        replace(path, text)
        return path

    return write


def test_every_path_needs_auth_and_gets_the_headers(web_file) -> None:
    path = web_file(
        f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n"
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    )
    app = WebConfigFile(str(path)).protect(inner_app)

    for route in ("/metrics", "/", "/-/healthy", "/-/ready", "/no-such-page"):
        status, headers, body = call(app, route)
        assert (status, body) == ("401 Unauthorized", b"Unauthorized\n"), route
        assert headers["WWW-Authenticate"] == "Basic"
        assert headers["X-Content-Type-Options"] == "nosniff"

    status, headers, body = call(app, "/-/healthy", AUTHORIZATION=basic_header("alice", PASSWORD))
    assert (status, body) == ("200 OK", b"inner\n")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert call(app, "/metrics", method="HEAD")[::2] == ("401 Unauthorized", b"")


def test_unchanged_files_are_not_read_again(web_file, monkeypatch) -> None:
    path = web_file(f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n")
    source = WebConfigFile(str(path))
    loads: list[str] = []

    def load(file: str) -> WebConfig:
        loads.append(file)
        return WebConfig()

    monkeypatch.setattr(config_file, "load_web_config", load)

    configs = {id(source.current()) for _ in range(20)}
    assert len(configs) == 1
    assert loads == []

    web_file(f"basic_auth_users:\n  bob: {bcrypt_hash(PASSWORD)}\n")
    assert source.current() == WebConfig()
    assert loads == [str(path)]


def test_a_new_password_applies_without_restart(web_file, caplog) -> None:
    path = web_file(f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n")
    app = WebConfigFile(str(path)).protect(inner_app)
    assert call(app, "/", AUTHORIZATION=basic_header("alice", PASSWORD))[0] == "200 OK"

    web_file(f"basic_auth_users:\n  alice: {bcrypt_hash('rotated')}\n")

    with caplog.at_level(logging.INFO, logger="exporter.web"):
        assert call(app, "/", AUTHORIZATION=basic_header("alice", PASSWORD))[0].startswith("401")
    assert call(app, "/", AUTHORIZATION=basic_header("alice", "rotated"))[0] == "200 OK"
    assert [r.getMessage() for r in caplog.records] == ["web configuration reloaded"]


def test_a_rotated_certificate_gives_a_new_context(pki: Pki, tmp_path: Path, web_file) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(pki.server.cert, cert)
    shutil.copy(pki.server.key, key)
    source = WebConfigFile(
        str(web_file(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"))
    )
    before = source.ssl_context()
    assert source.ssl_context() is before

    rotated = pki.issue_server("rotated-in-process")
    replace(key, rotated.key.read_bytes())
    replace(cert, rotated.cert.read_bytes())

    assert source.ssl_context() is not before


def test_a_broken_new_version_keeps_the_previous_and_logs_once(web_file, caplog) -> None:
    path = web_file(f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n")
    source = WebConfigFile(str(path))
    before = source.current()

    web_file("basic_auth_users:\n  alice: not-a-hash\n")
    with caplog.at_level(logging.INFO, logger="exporter.web"):
        assert source.current() is before
        assert source.current() is before
    web_file(f"basic_auth_users:\n  bob: {bcrypt_hash(PASSWORD)}\n")
    after = source.current()

    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == "web configuration not reloaded, keeping the previous one"
    assert f"{path}:2: key 'basic_auth_users.alice'" in failure.__dict__["error"]
    assert set(after.users) == {b"bob"}


def test_tls_cannot_be_switched_off_by_a_reload(pki: Pki, web_file, caplog) -> None:
    source = WebConfigFile(str(web_file(tls_config(pki))))
    web_file(f"basic_auth_users:\n  alice: {bcrypt_hash(PASSWORD)}\n")

    with caplog.at_level(logging.ERROR, logger="exporter.web"):
        assert source.current().ssl_context is not None
    assert "switching TLS on or off needs a restart" in caplog.records[0].__dict__["error"]
    assert source.tls


# ---------------------------------------------------------------------------------------------
# The exporter process with real TLS clients


@pytest.fixture
def tls_exporter(pki: Pki, tmp_path: Path, exporter_factory) -> Callable[[str], ExporterProcess]:
    """The exporter in demo mode behind a web config made of `extra` below the TLS keys."""

    def start(extra: str = "", *args: str) -> ExporterProcess:
        path = tmp_path / "web.yml"
        path.write_text(tls_config(pki, extra))
        process: ExporterProcess = exporter_factory(["--demo", f"--web.config.file={path}", *args])
        process.wait_for_log(r"msg=listening .*tls=True")
        return process

    return start


def curl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """curl printing the status code last; its exit code tells TLS failures apart."""
    return subprocess.run(
        [binary("curl"), "-sS", "--max-time", "10", "-w", "\n%{http_code}", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.integration
def test_tls_only_with_python_and_curl(pki: Pki, tls_exporter) -> None:
    process = tls_exporter()
    assert process.port is not None

    status, _, body = https_get(process.port, "/metrics", client_context(pki))
    by_curl = curl("--cacert", pki.ca, f"https://localhost:{process.port}/-/healthy")
    untrusted = curl(f"https://localhost:{process.port}/-/healthy")

    assert status == 200
    assert "aws_config_exporter_scrape_success" in parse_exposition(body.decode())
    assert (by_curl.returncode, by_curl.stdout) == (0, "Healthy\n\n200")
    assert untrusted.returncode == 60  # the server certificate is not trusted by default
    with pytest.raises(ConnectionError):  # plain HTTP gets no HTTP answer
        process.get("/-/healthy", timeout=5)
    assert https_get(process.port, "/-/ready", client_context(pki))[0] == 200


@pytest.mark.integration
def test_mutual_tls_rejects_clients_without_a_trusted_certificate(pki: Pki, tls_exporter) -> None:
    process = tls_exporter(
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca}\n",
        "--log.level=debug",
    )
    assert process.port is not None
    url = f"https://localhost:{process.port}/metrics"

    for client in (None, pki.stranger):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https_get(process.port, "/metrics", client_context(pki, client))
    without = curl("--cacert", pki.ca, url)
    stranger = curl("--cacert", pki.ca, "--cert", pki.stranger.cert, "--key", pki.stranger.key, url)
    trusted = curl("--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key, url)

    assert without.returncode != 0
    assert stranger.returncode != 0
    assert trusted.returncode == 0
    assert trusted.stdout.endswith("\n200")
    assert https_get(process.port, "/metrics", client_context(pki, pki.client))[0] == 200
    process.wait_for_log(r"msg=\"tls handshake failed\".*PEER_DID_NOT_RETURN_A_CERTIFICATE")


@pytest.mark.integration
def test_basic_auth_over_tls(pki: Pki, tls_exporter) -> None:
    process = tls_exporter(
        f"basic_auth_users:\n  prometheus: {bcrypt_hash(PASSWORD)}\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        "--log.level=debug",
    )
    assert process.port is not None
    url = f"https://localhost:{process.port}/metrics"

    right = curl("--cacert", pki.ca, "-u", f"prometheus:{PASSWORD}", "-D", "-", url)
    wrong = curl("--cacert", pki.ca, "-u", "prometheus:guess", "-D", "-", url)
    unknown = curl("--cacert", pki.ca, "-u", f"root:{PASSWORD}", url)
    missing = curl("--cacert", pki.ca, "-D", "-", f"https://localhost:{process.port}/-/healthy")
    by_python = https_get(
        process.port,
        "/metrics",
        client_context(pki),
        {"Authorization": basic_header("prometheus", PASSWORD)},
    )

    assert right.stdout.endswith("\n200")
    assert "X-Frame-Options: deny" in right.stdout
    assert "aws_config_exporter_scrape_success" in right.stdout
    for refused in (wrong, unknown, missing):
        assert refused.returncode == 0
        assert refused.stdout.endswith("Unauthorized\n\n401")
    assert "WWW-Authenticate: Basic" in wrong.stdout
    assert "X-Frame-Options: deny" in missing.stdout
    assert by_python[0] == 200
    assert PASSWORD not in "\n".join(process.log_lines)


@pytest.mark.integration
def test_certificate_rotation_needs_no_restart(pki: Pki, tmp_path: Path, exporter_factory) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(pki.server.cert, cert)
    shutil.copy(pki.server.key, key)
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    process = exporter_factory(["--demo", f"--web.config.file={path}"])
    assert process.port is not None
    original = server_certificate(process.port, pki)
    rotated = pki.issue_server("rotated")

    replace(cert, b"-----BEGIN CERTIFICATE-----\ntruncated by a slow copy\n")
    during = server_certificate(process.port, pki)
    process.wait_for_log(
        r"level=error .*web configuration not reloaded.*tls_server_config.cert_file"
    )
    replace(key, rotated.key.read_bytes())
    replace(cert, rotated.cert.read_bytes())
    after = server_certificate(process.port, pki)

    assert during == original
    assert after != original
    assert after == ssl.PEM_cert_to_DER_cert(rotated.cert.read_text())
    process.wait_for_log(r"msg=\"web configuration reloaded\"")
    assert process.process.poll() is None


@pytest.mark.integration
@pytest.mark.parametrize("check", [False, True], ids=["start", "config-check"])
def test_a_bad_web_config_exits_2_with_one_line(
    tmp_path: Path, exporter_factory, check: bool
) -> None:
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: a.crt\n  keyfile: a.key\n")
    args = ["--demo", f"--web.config.file={path}", *(["--config.check"] if check else [])]
    process = exporter_factory(args, wait=False)

    assert process.process.wait(10) == 2
    process.wait_for_log("<exited>")
    assert process.log_lines[:-1] == [
        f"conformance-pack-exporter: configuration error: {path}:3: key "
        "'tls_server_config.keyfile': unknown key (known keys: cert_file, key_file, "
        "client_auth_type, client_ca_file, min_version, max_version, prefer_server_cipher_suites)"
    ]
