"""exporter/web/config.py: the exporter-toolkit web configuration read into a WebConfig,
every mistake named by file, key and line."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from exporter.config import ConfigError
from exporter.web import WebConfig, parse_web_config
from tests.certs import Pki, bcrypt_hash
from tests.e2e.conftest import binary
from tests.web.conftest import PASSWORD, tls_config

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
        "expected a string, got list",
    ),
    (
        "tls_server_config:\n  cert_file: ~\n  key_file: {key}\n",
        2,
        "tls_server_config.cert_file",
        "TLS needs both cert_file and key_file",
    ),
    (
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  prefer_server_cipher_suites: 'yes'\n",
        4,
        "tls_server_config.prefer_server_cipher_suites",
        "expected true or false, got str",
    ),
    ("tls_server_config: on\n", 1, "tls_server_config", "expected a mapping, got bool"),
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
    ("basic_auth_users: [alice]\n", 1, "basic_auth_users", "expected a mapping, got list"),
    (
        "basic_auth_users:\n  alice: !!binary JDJi\n",
        2,
        "basic_auth_users.alice",
        "expected a string, got !!binary",
    ),
    ("basic_auth_users:\n  1: {hash}\n", 2, "basic_auth_users", "keys must be strings, got int"),
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
        "expected true or false, got str",
    ),
    (
        "http_server_config:\n  headers:\n    X-Frame-Options: 1\n",
        3,
        "http_server_config.headers.X-Frame-Options",
        "expected a string, got int",
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
