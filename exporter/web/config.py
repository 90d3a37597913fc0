"""The web configuration file's format: exporter-toolkit's keys read into a WebConfig.

Operators already write this file for node_exporter and the other Go exporters, so the same
file works here: `tls_server_config`, `basic_auth_users` (bcrypt hashes) and
`http_server_config.headers`, validated as strictly as exporter-toolkit does (unknown keys are
errors), with the certificates it names loaded into the SSLContext the server will use.
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exporter.strict_yaml import ConfigNode, parse_yaml, read_config_text

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# The client_auth_type values Python's ssl module can honour: it verifies every client
# certificate it asks for, so the toolkit's "ask but don't verify" policies (RequestClientCert,
# RequireAnyClientCert), which the toolkit's own docs call insecure, are refused.
CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = frozenset(
    {"RequestClientCert", "RequireAnyClientCert", "RequireClientCert"}
)
# The headers exporter-toolkit lets you set, with their allowed values (None: any value).
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Content-Security-Policy": None,
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
}
_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
_TLS_KEYS = (
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
)
_HTTP_KEYS = ("headers", "http2")
# Keys exporter-toolkit knows that this exporter does not implement: errors, never ignored,
# because ignoring e.g. client_allowed_sans would silently let more clients in.
_UNSUPPORTED_TOP = {"rate_limit": "rate limiting is not supported by this exporter"}
_UNSUPPORTED_TLS = {
    "cert": "inline certificates are not supported; use cert_file",
    "key": "inline keys are not supported; use key_file",
    "client_ca": "inline client CAs are not supported; use client_ca_file",
    "cipher_suites": "not supported by this exporter",
    "curve_preferences": "not supported by this exporter",
    "client_allowed_sans": "not supported by this exporter",
}


@dataclass(frozen=True)
class WebConfig:
    """One loaded web configuration; `ssl_context` is None when TLS is off."""

    ssl_context: ssl.SSLContext | None = None
    # Username → bcrypt hash, as the bytes a Basic authorization header carries.
    users: Mapping[bytes, bytes] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    # The certificate files read, so that a change to any of them triggers a reload.
    files: tuple[str, ...] = ()


def _headers(node: ConfigNode) -> tuple[tuple[str, str], ...]:
    headers = []
    for name, value_node in node.mapping(tuple(HEADERS), null_is_empty=True).items():
        value = value_node.string()
        allowed = HEADERS[name]
        if allowed is not None and value:
            value_node.one_of(allowed)
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            raise value_node.error("control characters are not allowed")
        if value:  # blank means unset, as in exporter-toolkit
            headers.append((name, value))
    return tuple(headers)


def _users(node: ConfigNode) -> dict[bytes, bytes]:
    users = {}
    for name, hash_node in node.mapping(None, null_is_empty=True).items():
        if ":" in name:
            raise hash_node.error("a basic auth username cannot contain ':'")
        # Read without a pattern, so that a plain password pasted by mistake is never quoted.
        hashed = hash_node.string()
        if not _BCRYPT_HASH.fullmatch(hashed):
            raise hash_node.error("expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)")
        users[name.encode()] = hashed.encode()
    return users


def _unset_or_string(node: ConfigNode | None) -> str:
    """A string where blank or null means unset, as in exporter-toolkit; '' when unset."""
    return "" if node is None or node.is_null else node.string()


def _verify_mode(values: Mapping[str, ConfigNode], has_client_ca: bool) -> ssl.VerifyMode:
    """How client certificates are checked; only policies that verify them are accepted."""
    auth_node = values.get("client_auth_type")
    auth_type = _unset_or_string(auth_node) or "NoClientCert"
    if auth_node is None or auth_type == "NoClientCert":
        if has_client_ca:
            message = "client_ca_file needs a client_auth_type that verifies client certificates"
            raise values["client_ca_file"].error(message)
        return ssl.CERT_NONE
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        raise auth_node.error(
            "client certificates are always verified here: use RequireAndVerifyClientCert "
            "or VerifyClientCertIfGiven"
        )
    auth_node.one_of(tuple(CLIENT_AUTH_TYPES))
    if not has_client_ca:
        raise auth_node.error("verifying client certificates needs client_ca_file")
    return CLIENT_AUTH_TYPES[auth_type]


def _version(values: Mapping[str, ConfigNode], name: str, default: str) -> ssl.TLSVersion:
    return TLS_VERSIONS[values[name].one_of(tuple(TLS_VERSIONS)) if name in values else default]


def _check_readable(node: ConfigNode, file: str) -> None:
    """Only regular files that can be opened: a FIFO or a device would block or never end."""
    try:
        regular = stat.S_ISREG(os.stat(file).st_mode)
        if regular:
            Path(file).open("rb").close()
    except OSError as error:
        raise node.error(f"cannot read {file}: {error.strerror or error}") from None
    if not regular:
        raise node.error(f"cannot read {file}: not a regular file")


def _refuse_encrypted_key() -> bytes:
    """The key password callback: encrypted keys fail instead of prompting on a terminal."""
    return b""


def _ssl_context(
    section: ConfigNode, directory: Path
) -> tuple[ssl.SSLContext | None, tuple[str, ...]]:
    """The server's SSLContext from `tls_server_config`, and the files it was loaded from."""
    values = section.mapping(_TLS_KEYS, _UNSUPPORTED_TLS, null_is_empty=True)
    if not values:
        return None, ()
    paths = {
        name: str(directory / text)
        for name in ("cert_file", "key_file", "client_ca_file")
        if (text := _unset_or_string(values.get(name)))
    }
    for name in ("cert_file", "key_file"):
        if name not in paths:
            message = "TLS needs both cert_file and key_file"
            raise values[name].error(message) if name in values else section.missing(name, message)
    verify_mode = _verify_mode(values, "client_ca_file" in paths)
    minimum = _version(values, "min_version", "TLS12")
    maximum = _version(values, "max_version", "TLS13")
    if minimum > maximum:
        raise values["min_version"].error("min_version is above max_version")
    prefer = values.get("prefer_server_cipher_suites")
    prefer_server_ciphers = prefer is None or prefer.boolean()
    for name, file in paths.items():
        _check_readable(values[name], file)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum
    context.maximum_version = maximum
    if not prefer_server_ciphers:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(paths["cert_file"], paths["key_file"], _refuse_encrypted_key)
    except OSError as error:  # an ssl.SSLError, unless a file changed since it was read
        reason = getattr(error, "reason", None) or "not a PEM certificate and an unencrypted key"
        raise values["cert_file"].error(f"cannot load the certificate and key: {reason}") from None
    if "client_ca_file" in paths:
        try:
            context.load_verify_locations(cafile=paths["client_ca_file"])
        except OSError as error:
            reason = getattr(error, "reason", None) or "no PEM certificate"
            message = f"cannot load the client CA: {reason}"
            raise values["client_ca_file"].error(message) from None
    context.verify_mode = verify_mode
    return context, tuple(paths.values())


def parse_web_config(text: str, path: str) -> WebConfig:
    """Validate web config text and load the files it names, relative to `path`'s directory.

    Every problem is a ConfigError naming `path`, the key and the line.
    """
    sections = parse_yaml(text, path).mapping(_TOP_KEYS, _UNSUPPORTED_TOP, null_is_empty=True)
    context, files = (
        _ssl_context(sections["tls_server_config"], Path(path).parent)
        if "tls_server_config" in sections
        else (None, ())
    )
    http = (
        sections["http_server_config"].mapping(_HTTP_KEYS, null_is_empty=True)
        if "http_server_config" in sections
        else {}
    )
    if "http2" in http:  # accepted for compatibility; this server speaks HTTP/1.1
        http["http2"].boolean()
    headers = _headers(http["headers"]) if "headers" in http else ()
    users = _users(sections["basic_auth_users"]) if "basic_auth_users" in sections else {}
    return WebConfig(ssl_context=context, users=users, headers=headers, files=files)


def load_web_config(path: str) -> WebConfig:
    """Read and validate the web config file at `path`."""
    return parse_web_config(read_config_text(path), path)
