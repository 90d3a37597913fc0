"""`--web.config.file`: TLS, basic auth and response headers in the exporter-toolkit format.

Operators already write this file for node_exporter and the other Go exporters, so the same
file works here: `tls_server_config`, `basic_auth_users` (bcrypt hashes) and
`http_server_config.headers`, validated as strictly as exporter-toolkit does (unknown keys are
errors). As in exporter-toolkit, every path is protected, `/-/healthy` included, and the file
and the certificates it names are re-read when they change, so certificate rotation needs no
restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import ssl
import stat
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from exporter.config import ConfigError, load_yaml, read_config_text
from exporter.http import StartResponse, WSGIApp

log = logging.getLogger(__name__)

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
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
_UNSUPPORTED = {
    "rate_limit": "rate limiting is not supported by this exporter",
    "tls_server_config.cert": "inline certificates are not supported; use cert_file",
    "tls_server_config.key": "inline keys are not supported; use key_file",
    "tls_server_config.client_ca": "inline client CAs are not supported; use client_ca_file",
    "tls_server_config.cipher_suites": "not supported by this exporter",
    "tls_server_config.curve_preferences": "not supported by this exporter",
    "tls_server_config.client_allowed_sans": "not supported by this exporter",
}
VERIFIED_CACHE_SIZE = 64


@dataclass(frozen=True)
class WebConfig:
    """One loaded web configuration; `ssl_context` is None when TLS is off."""

    ssl_context: ssl.SSLContext | None = None
    # Username → bcrypt hash, as the bytes a Basic authorization header carries.
    users: Mapping[bytes, bytes] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    # The certificate files read, so that a change to any of them triggers a reload.
    files: tuple[str, ...] = ()


class _InvalidError(Exception):
    """A problem at a YAML node; becomes a ConfigError with the node's line."""

    def __init__(self, message: str, node: yaml.Node, key: str | None) -> None:
        super().__init__(message)
        self.node = node
        self.key = key


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _mapping(node: yaml.Node, key: str, known: Iterable[str] | None) -> dict[str, yaml.Node]:
    """A mapping's value nodes by key; unknown, duplicate and non-string keys are errors.

    Only nodes are read, never constructed, so no YAML tag can run a constructor.
    """
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return {}
    if not isinstance(node, yaml.MappingNode):
        if not key:
            raise _InvalidError("the top level must be a mapping of keys to values", node, None)
        raise _InvalidError("expected a mapping", node, key)
    names = None if known is None else tuple(known)
    values: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
            raise _InvalidError("keys must be strings", key_node, key or None)
        name = f"{key}.{key_node.value}" if key else str(key_node.value)
        if name in _UNSUPPORTED:
            raise _InvalidError(_UNSUPPORTED[name], key_node, name)
        if names is not None and key_node.value not in names:
            raise _InvalidError(f"unknown key (known keys: {', '.join(names)})", key_node, name)
        if key_node.value in values:
            raise _InvalidError("appears more than once", key_node, name)
        values[str(key_node.value)] = value_node
    return values


def _section(
    sections: Mapping[str, yaml.Node], name: str, known: Iterable[str]
) -> dict[str, yaml.Node]:
    return _mapping(sections[name], name, known) if name in sections else {}


def _string(node: yaml.Node, key: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
        raise _InvalidError("expected a string", node, key)
    return str(node.value)


def _boolean(node: yaml.Node, key: str) -> bool:
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
        value = yaml.SafeLoader.bool_values.get(str(node.value).lower())
        if value is not None:
            return bool(value)
    raise _InvalidError("expected true or false", node, key)


def _choice(values: Mapping[str, yaml.Node], name: str, choices: Mapping[str, Any]) -> str | None:
    if name not in values:
        return None
    key = f"tls_server_config.{name}"
    text = _string(values[name], key)
    if text not in choices:
        raise _InvalidError(f"expected one of {', '.join(choices)}", values[name], key)
    return text


def _headers(node: yaml.Node) -> tuple[tuple[str, str], ...]:
    headers = []
    for name, value_node in _mapping(node, "http_server_config.headers", HEADERS).items():
        key = f"http_server_config.headers.{name}"
        value = _string(value_node, key)
        allowed = HEADERS[name]
        if allowed is not None and value and value not in allowed:
            raise _InvalidError(f"expected one of {', '.join(allowed)}", value_node, key)
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            raise _InvalidError("control characters are not allowed", value_node, key)
        if value:  # blank means unset, as in exporter-toolkit
            headers.append((name, value))
    return tuple(headers)


def _users(node: yaml.Node) -> dict[bytes, bytes]:
    users = {}
    for name, hash_node in _mapping(node, "basic_auth_users", None).items():
        key = f"basic_auth_users.{name}"
        if ":" in name:
            raise _InvalidError("a basic auth username cannot contain ':'", hash_node, key)
        # The message never quotes the value: a plain password pasted by mistake stays secret.
        if not _BCRYPT_HASH.fullmatch(_string(hash_node, key)):
            message = "expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)"
            raise _InvalidError(message, hash_node, key)
        users[name.encode()] = str(hash_node.value).encode()
    return users


def _refuse_encrypted_key() -> bytes:
    """The key password callback: encrypted keys fail instead of prompting on a terminal."""
    return b""


def _ssl_context(
    node: yaml.Node | None, directory: Path
) -> tuple[ssl.SSLContext | None, tuple[str, ...]]:
    """The server's SSLContext, with its certificate and CA files read, and those files."""
    values = {} if node is None else _mapping(node, "tls_server_config", _TLS_KEYS)
    if node is None or not values:
        return None, ()
    paths = {
        name: str(directory / _string(values[name], f"tls_server_config.{name}"))
        for name in ("cert_file", "key_file", "client_ca_file")
        if name in values and values[name].value
    }
    for name in ("cert_file", "key_file"):
        if name not in paths:
            message = "TLS needs both cert_file and key_file"
            raise _InvalidError(message, values.get(name, node), f"tls_server_config.{name}")
    auth_node = values.get("client_auth_type")
    auth_key = "tls_server_config.client_auth_type"
    auth_type = (_string(auth_node, auth_key) if auth_node else "") or "NoClientCert"
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        message = (
            "client certificates are always verified here: use RequireAndVerifyClientCert "
            "or VerifyClientCertIfGiven"
        )
        raise _InvalidError(message, values["client_auth_type"], auth_key)
    if auth_type not in CLIENT_AUTH_TYPES:
        message = f"expected one of {', '.join(CLIENT_AUTH_TYPES)}"
        raise _InvalidError(message, values["client_auth_type"], auth_key)
    verify_mode = CLIENT_AUTH_TYPES[auth_type]
    if verify_mode == ssl.CERT_NONE and "client_ca_file" in paths:
        message = "client_ca_file needs a client_auth_type that verifies client certificates"
        raise _InvalidError(message, values["client_ca_file"], "tls_server_config.client_ca_file")
    if verify_mode != ssl.CERT_NONE and "client_ca_file" not in paths:
        message = "verifying client certificates needs client_ca_file"
        raise _InvalidError(message, values.get("client_auth_type", node), auth_key)
    minimum = TLS_VERSIONS[_choice(values, "min_version", TLS_VERSIONS) or "TLS12"]
    maximum = TLS_VERSIONS[_choice(values, "max_version", TLS_VERSIONS) or "TLS13"]
    if minimum > maximum:
        message = "min_version is above max_version"
        raise _InvalidError(message, values["min_version"], "tls_server_config.min_version")

    for name, file in paths.items():
        # Only regular files: a FIFO or a device would block or never end.
        try:
            regular = stat.S_ISREG(os.stat(file).st_mode)
            if regular:
                Path(file).open("rb").close()
        except OSError as error:
            message = f"cannot read {file}: {error.strerror or error}"
            raise _InvalidError(message, values[name], f"tls_server_config.{name}") from None
        if not regular:
            message = f"cannot read {file}: not a regular file"
            raise _InvalidError(message, values[name], f"tls_server_config.{name}")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum
    context.maximum_version = maximum
    prefer_node = values.get("prefer_server_cipher_suites")
    if prefer_node and not _boolean(prefer_node, "tls_server_config.prefer_server_cipher_suites"):
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(paths["cert_file"], paths["key_file"], _refuse_encrypted_key)
    except OSError as error:  # an ssl.SSLError, unless a file changed since it was read
        reason = getattr(error, "reason", None) or "not a PEM certificate and an unencrypted key"
        message = f"cannot load the certificate and key: {reason}"
        raise _InvalidError(message, values["cert_file"], "tls_server_config.cert_file") from None
    if "client_ca_file" in paths:
        try:
            context.load_verify_locations(cafile=paths["client_ca_file"])
        except OSError as error:
            reason = getattr(error, "reason", None) or "no PEM certificate"
            message = f"cannot load the client CA: {reason}"
            ca_node = values["client_ca_file"]
            raise _InvalidError(message, ca_node, "tls_server_config.client_ca_file") from None
    context.verify_mode = verify_mode
    return context, tuple(paths.values())


def parse_web_config(text: str, path: str) -> WebConfig:
    """Validate web config text and load the files it names, relative to `path`'s directory.

    Every problem is a ConfigError naming `path`, the key and the line.
    """
    root, _ = load_yaml(text, path, construct=False)
    if root is None:
        return WebConfig()
    try:
        sections = _mapping(root, "", _TOP_KEYS)
        context, files = _ssl_context(sections.get("tls_server_config"), Path(path).parent)
        http = _section(sections, "http_server_config", _HTTP_KEYS)
        if "http2" in http:  # accepted for compatibility; this server speaks HTTP/1.1
            _boolean(http["http2"], "http_server_config.http2")
        headers = _headers(http["headers"]) if "headers" in http else ()
        users = _users(sections["basic_auth_users"]) if "basic_auth_users" in sections else {}
    except _InvalidError as invalid:
        raise ConfigError(path, str(invalid), invalid.key, _line(invalid.node)) from None
    return WebConfig(ssl_context=context, users=users, headers=headers, files=files)


def load_web_config(path: str) -> WebConfig:
    """Read and validate the web config file at `path`."""
    return parse_web_config(read_config_text(path), path)


def _basic_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """(username, password) from an `Authorization: Basic ...` header, None if there is none."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("latin-1"), validate=True)
    except ValueError:
        return None
    username, colon, password = decoded.partition(b":")
    return (username, password) if colon else None


class BasicAuth:
    """Checks Basic credentials against bcrypt hashes without leaking which usernames exist.

    An unknown username is checked against a decoy hash of the same cost, so it takes as long
    as a wrong password. Verified credentials are remembered (as keyed digests, never in
    clear) so bcrypt, slow on purpose, does not run on every scrape.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        # One bcrypt at a time, as in exporter-toolkit: a flood of wrong passwords then costs
        # one core, and cached credentials skip the queue.
        self._bcrypt_lock = threading.Lock()
        self._decoys: dict[int, bytes] = {}

    def allows(self, users: Mapping[bytes, bytes], authorization: str | None) -> bool:
        """Whether the header carries a configured username with its password."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        username, password = credentials
        hashed = users.get(username)
        known = hashed is not None
        if hashed is None:
            hashed = self._decoy(users)
        digest = hmac.new(self._key, username, hashlib.sha256)
        for part in (hashed, password):
            digest.update(len(part).to_bytes(8, "big") + part)
        cache_key = digest.digest()
        with self._lock:
            if cache_key in self._verified:
                self._verified.move_to_end(cache_key)
                return True
        with self._bcrypt_lock:
            try:
                matches = bcrypt.checkpw(password, hashed)
            except ValueError:  # longer than bcrypt's 72 bytes
                matches = False
        if not (known and matches):
            return False
        with self._lock:
            self._verified[cache_key] = None
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return True

    def _decoy(self, users: Mapping[bytes, bytes]) -> bytes:
        """A hash of a random password at the cost most configured users have."""
        cost = Counter(int(hashed[4:6]) for hashed in users.values()).most_common(1)[0][0]
        with self._lock:
            decoy = self._decoys.get(cost)
        if decoy is None:
            decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))
            with self._lock:
                self._decoys[cost] = decoy
        return decoy


def _stamp(paths: Iterable[str]) -> tuple[tuple[int, int, int, int] | None, ...]:
    """What identifies each file's version without reading it."""
    stamps: list[tuple[int, int, int, int] | None] = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            stamps.append(None)
            continue
        stamps.append((stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino))
    return tuple(stamps)


class WebConfigFile:
    """The `--web.config.file`, loaded at start and reloaded when it or its files change.

    The files are only stat-ed on each new connection and re-read when that changed. A new
    version that is invalid is logged and the previous one kept, so a half-finished
    certificate rotation never takes the exporter down. TLS cannot be switched on or off
    without a restart: the server must know whether to expect a handshake.
    """

    def __init__(self, path: str) -> None:
        """Load `path`; a ConfigError is the operator's to fix before start."""
        self.path = path
        self._lock = threading.Lock()
        self._config = load_web_config(path)
        self._stamp = _stamp((path, *self._config.files))
        self._auth = BasicAuth()
        self.tls = self._config.ssl_context is not None

    def current(self) -> WebConfig:
        """The configuration in effect, reloaded first if a file changed since last time."""
        with self._lock:
            stamp = _stamp((self.path, *self._config.files))
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload()
            return self._config

    def _reload(self) -> None:
        try:
            config = load_web_config(self.path)
            if (config.ssl_context is not None) != self.tls:
                raise ConfigError(self.path, "switching TLS on or off needs a restart")
        except ConfigError as error:
            log.error(
                "web configuration not reloaded, keeping the previous one",
                extra={"error": str(error)},
            )
            return
        if config.files != self._config.files:
            self._stamp = _stamp((self.path, *config.files))
        self._config = config
        log.info("web configuration reloaded", extra={"file": self.path, "tls": self.tls})

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for a new connection; only called when `tls` is true."""
        context = self.current().ssl_context
        assert context is not None, "TLS is off"
        return context

    def protect(self, app: WSGIApp) -> WSGIApp:
        """`app` behind basic auth (on every path) and with the configured response headers."""

        def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            config = self.current()
            extra = list(config.headers)
            if config.users and not self._auth.allows(
                config.users, environ.get("HTTP_AUTHORIZATION")
            ):
                body = b"Unauthorized\n"
                headers = [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", "Basic"),
                    *extra,
                ]
                start_response("401 Unauthorized", headers)
                return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

            def start_with_headers(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Any:
                return start_response(status, [*headers, *extra], exc_info)

            return app(environ, start_with_headers)

        return guarded
