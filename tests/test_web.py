"""exporter/web.py: the exporter-toolkit web configuration, basic auth and reloads in-process,
then real TLS clients (Python's ssl and curl) against the exporter process."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import bcrypt
import pytest

from exporter import web
from exporter.config import ConfigError
from exporter.web import BasicAuth, WebConfig, WebConfigFile, parse_web_config
from tests.certs import (
    Pki,
    bcrypt_hash,
    client_context,
    https_get,
    make_pki,
    server_certificate,
)
from tests.conftest import ExporterProcess, parse_exposition
from tests.e2e.conftest import binary

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def replace(path: Path, content: str | bytes) -> None:
    """Swap a file's content atomically (a new inode), as rotation tools and kubelet do."""
    staging = path.with_name(path.name + ".new")
    if isinstance(content, str):
        staging.write_text(content)
    else:
        staging.write_bytes(content)
    os.replace(staging, path)


def tls_config(pki: Pki, extra: str = "") -> str:
    return (
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {pki.server.key}\n"
        + extra
    )


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# ---------------------------------------------------------------------------------------------
# Validation: (config text, line, key, message). `{cert}` and friends are the test PKI's files.

BAD_CONFIGS = [
    (
        "tls_config: {}\n",
        1,
        "tls_config",
        "unknown key (known keys: tls_server_config, http_server_config, basic_auth_users)",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  certfile: x\n",
        4,
        "tls_server_config.certfile",
        "unknown key (known keys: cert_file, key_file, client_auth_type, client_ca_file, "
        "min_version, max_version, prefer_server_cipher_suites)",
    ),
    (
        "rate_limit:\n  interval: 1s\n",
        1,
        "rate_limit",
        "rate limiting is not supported by this exporter",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_allowed_sans: [a]\n",
        4,
        "tls_server_config.client_allowed_sans",
        "not supported by this exporter",
    ),
    (
        "tls_server_config:\n  cert: '-----BEGIN CERTIFICATE-----'\n",
        2,
        "tls_server_config.cert",
        "inline certificates are not supported; use cert_file",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n",
        2,
        "tls_server_config.key_file",
        "TLS needs both cert_file and key_file",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {client_key}\n",
        2,
        "tls_server_config.cert_file",
        "cannot load the certificate and key: KEY_VALUES_MISMATCH",
    ),
    (
        "tls_server_config:\n  cert_file: {key}\n  key_file: {key}\n",
        2,
        "tls_server_config.cert_file",
        "cannot load the certificate and key: not a PEM certificate and an unencrypted key",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {dir}\n",
        3,
        "tls_server_config.key_file",
        "cannot read {dir}: not a regular file",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAnyClientCert\n  client_ca_file: {ca}\n",
        4,
        "tls_server_config.client_auth_type",
        "client certificates are always verified here: use RequireAndVerifyClientCert "
        "or VerifyClientCertIfGiven",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_auth_type: Maybe\n",
        4,
        "tls_server_config.client_auth_type",
        "expected one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_ca_file: {ca}\n",
        4,
        "tls_server_config.client_ca_file",
        "client_ca_file needs a client_auth_type that verifies client certificates",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n",
        4,
        "tls_server_config.client_auth_type",
        "verifying client certificates needs client_ca_file",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {key}\n",
        5,
        "tls_server_config.client_ca_file",
        "cannot load the client CA: NO_CERTIFICATE_OR_CRL_FOUND",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS14\n",
        4,
        "tls_server_config.min_version",
        "expected one of TLS10, TLS11, TLS12, TLS13",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  min_version: TLS13\n  max_version: TLS12\n",
        4,
        "tls_server_config.min_version",
        "min_version is above max_version",
    ),
    (
        "tls_server_config:\n  cert_file: [{cert}]\n  key_file: {key}\n",
        2,
        "tls_server_config.cert_file",
        "expected a string",
    ),
    (
        "basic_auth_users:\n  alice: hunter2-in-clear\n",
        2,
        "basic_auth_users.alice",
        "expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)",
    ),
    (
        "basic_auth_users:\n  'al:ice': {hash}\n",
        2,
        "basic_auth_users.al:ice",
        "a basic auth username cannot contain ':'",
    ),
    (
        "basic_auth_users:\n  alice: {hash}\n  alice: {hash}\n",
        3,
        "basic_auth_users.alice",
        "appears more than once",
    ),
    ("basic_auth_users: [alice]\n", 1, "basic_auth_users", "expected a mapping"),
    ("basic_auth_users:\n  1: {hash}\n", 2, "basic_auth_users", "keys must be strings"),
    (
        "http_server_config:\n  headers:\n    X-Powered-By: me\n",
        3,
        "http_server_config.headers.X-Powered-By",
        "unknown key (known keys: Content-Security-Policy, Strict-Transport-Security, "
        "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection)",
    ),
    (
        "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        3,
        "http_server_config.headers.X-Frame-Options",
        "expected one of deny, sameorigin",
    ),
    (
        'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n',
        3,
        "http_server_config.headers.Content-Security-Policy",
        "control characters are not allowed",
    ),
    (
        "http_server_config:\n  http2: maybe\n",
        2,
        "http_server_config.http2",
        "expected true or false",
    ),
    ("- tls_server_config\n", 1, None, "the top level must be a mapping of keys to values"),
    (
        "tls_server_config: [\n",
        2,
        None,
        "invalid YAML: expected the node content, but found '<stream end>'",
    ),
    ("[" * 600, None, None, "invalid YAML: nested too deeply"),
]


@pytest.mark.parametrize(
    ("template", "line", "key", "message"),
    BAD_CONFIGS,
    ids=[f"{case[2]}-{index}" for index, case in enumerate(BAD_CONFIGS)],
)
def test_bad_web_configs_name_file_key_and_line(
    pki: Pki, tmp_path: Path, template: str, line: int | None, key: str | None, message: str
) -> None:
    files = {
        "cert": pki.server.cert,
        "key": pki.server.key,
        "client_key": pki.client.key,
        "ca": pki.ca,
        "dir": tmp_path,
        "hash": bcrypt_hash(PASSWORD),
    }
    path = str(tmp_path / "web.yml")

    def fill(text: str) -> str:
        for name, value in files.items():
            text = text.replace(f"{{{name}}}", str(value))
        return text

    with pytest.raises(ConfigError) as caught:
        parse_web_config(fill(template), path)

    assert (caught.value.path, caught.value.line, caught.value.key) == (path, line, key)
    assert caught.value.message == fill(message)


def test_a_password_in_clear_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_web_config("basic_auth_users:\n  alice: hunter2-in-clear\n", "web.yml")
    assert "hunter2" not in str(caught.value)


def test_an_encrypted_key_is_refused_clearly(pki: Pki, tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.key"
    arguments = ["ec", "-in", pki.server.key, "-aes256", "-passout", "pass:x", "-out", encrypted]
    subprocess.run(
        [binary("openssl"), *map(str, arguments)],
        check=True,
        capture_output=True,
    )
    text = f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {encrypted}\n"
    with pytest.raises(ConfigError, match="not a PEM certificate and an unencrypted key"):
        parse_web_config(text, str(tmp_path / "web.yml"))


@pytest.mark.parametrize(
    "text",
    ["", "# nothing\n", "tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n", "{}\n"],
)
def test_empty_sections_mean_plain_http_without_auth(text: str) -> None:
    assert parse_web_config(text, "web.yml") == WebConfig()


def test_tls_defaults_follow_exporter_toolkit(pki: Pki) -> None:
    config = parse_web_config(tls_config(pki), "web.yml")

    context = config.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE
    assert (context.minimum_version, context.maximum_version) == (
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
    )
    assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert config.files == (str(pki.server.cert), str(pki.server.key))


@pytest.mark.parametrize(
    ("auth_type", "mode"),
    [
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
    ],
)
def test_client_certificate_policies(pki: Pki, auth_type: str, mode: ssl.VerifyMode) -> None:
    extra = f"  client_auth_type: {auth_type}\n  client_ca_file: {pki.ca}\n"
    config = parse_web_config(tls_config(pki, extra), "web.yml")
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == mode
    assert str(pki.ca) in config.files


def test_versions_and_cipher_preference_are_applied(pki: Pki) -> None:
    extra = "  min_version: TLS13\n  max_version: TLS13\n  prefer_server_cipher_suites: false\n"
    context = parse_web_config(tls_config(pki, extra), "web.yml").ssl_context
    assert context is not None
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_3
    assert not context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_relative_files_are_found_next_to_the_config(pki: Pki) -> None:
    config_path = pki.directory / "relative.yml"
    text = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
    config = parse_web_config(text, str(config_path))
    assert config.files == (str(pki.server.cert), str(pki.server.key))


def test_users_and_headers(pki: Pki) -> None:
    hashed = bcrypt_hash(PASSWORD)
    text = (
        f"basic_auth_users:\n  alice: {hashed}\n  'bob smith': {hashed.replace('$2b$', '$2y$')}\n"
        "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n"
        "    Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n"
    )
    config = parse_web_config(text, "web.yml")
    assert set(config.users) == {b"alice", b"bob smith"}
    assert config.users[b"alice"] == hashed.encode()
    assert config.headers == (
        ("X-Frame-Options", "deny"),
        ("Strict-Transport-Security", "max-age=31536000"),
    )


# ---------------------------------------------------------------------------------------------
# Basic auth


class BcryptSpy:
    """Counts bcrypt checks and remembers the hashes they used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashes: list[bytes] = []
        real = bcrypt.checkpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            self.hashes.append(hashed)
            return real(password, hashed)

        monkeypatch.setattr(bcrypt, "checkpw", checkpw)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> BcryptSpy:
    return BcryptSpy(monkeypatch)


USERS = {b"alice": bcrypt_hash(PASSWORD).encode()}


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (basic_header("alice", PASSWORD), True),
        (basic_header("alice", PASSWORD).replace("Basic", "basic"), True),
        (basic_header("alice", "wrong"), False),
        (basic_header("alice", ""), False),
        (basic_header("mallory", PASSWORD), False),
        (basic_header("alice", "x" * 100), False),
        (None, False),
        ("", False),
        ("Bearer abc", False),
        ("Basic !!!not-base64!!!", False),
        ("Basic " + base64.b64encode(b"alice").decode(), False),
        ("Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(), False),
    ],
)
def test_basic_auth_decisions(header: str | None, allowed: bool) -> None:
    assert BasicAuth().allows(USERS, header) is allowed


def test_an_unknown_user_costs_a_bcrypt_check_of_the_same_cost(spy: BcryptSpy) -> None:
    users = {b"alice": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5))}

    assert not BasicAuth().allows(users, basic_header("mallory", PASSWORD))

    [decoy] = spy.hashes
    assert decoy != users[b"alice"]
    assert decoy.startswith(b"$2b$05$")


def test_verified_credentials_are_cached_but_failures_are_not(spy: BcryptSpy) -> None:
    auth = BasicAuth()
    right, wrong = basic_header("alice", PASSWORD), basic_header("alice", "wrong")

    assert all(auth.allows(USERS, right) for _ in range(5))
    assert not any(auth.allows(USERS, wrong) for _ in range(3))

    assert len(spy.hashes) == 1 + 3


def test_a_changed_hash_is_checked_again(spy: BcryptSpy) -> None:
    auth = BasicAuth()
    right = basic_header("alice", PASSWORD)
    assert auth.allows(USERS, right)

    new_users = {b"alice": bcrypt_hash("new password").encode()}

    assert not auth.allows(new_users, right)
    assert auth.allows(new_users, basic_header("alice", "new password"))
    assert len(spy.hashes) == 3


def test_the_cache_is_bounded(spy: BcryptSpy) -> None:
    count = web.VERIFIED_CACHE_SIZE + 1
    users = {f"user{i}".encode(): bcrypt_hash(f"pw{i}").encode() for i in range(count)}
    auth = BasicAuth()
    for i in range(count):
        assert auth.allows(users, basic_header(f"user{i}", f"pw{i}"))

    assert auth.allows(users, basic_header(f"user{count - 1}", f"pw{count - 1}"))
    assert len(spy.hashes) == count
    assert auth.allows(users, basic_header("user0", "pw0"))
    assert len(spy.hashes) == count + 1


# ---------------------------------------------------------------------------------------------
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

    monkeypatch.setattr(web, "load_web_config", load)

    configs = {id(source.current()) for _ in range(20)}

    assert len(configs) == 1
    assert loads == []


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
