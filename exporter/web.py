"""`--web.config.file`: TLS, basic auth and response headers in the exporter-toolkit format.

Operators already write this file for node_exporter and every other Go exporter, so the same
file works here: `tls_server_config`, `basic_auth_users` (bcrypt hashes) and
`http_server_config.headers`, validated as strictly as exporter-toolkit (unknown keys are
errors). Like exporter-toolkit, the file and the certificates it names are re-read when they
change, so rotating a certificate needs no restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import ssl
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from exporter.config import ConfigError
from exporter.http import StartResponse, WSGIApp

log = logging.getLogger(__name__)

_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_BCRYPT_HASH = r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# exporter-toolkit's client_auth_type values Python's ssl module can honour. It verifies every
# client certificate it asks for, so the "request or require without verifying" policies
# (RequestClientCert, RequireAnyClientCert), which the toolkit itself calls insecure, are refused.
CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
# The headers exporter-toolkit lets you set, with their allowed values (None: any value).
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Content-Security-Policy": None,
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
}
_TLS_KEYS = (
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
)
# Keys exporter-toolkit knows that this exporter does not implement: an error, never ignored,
# because ignoring e.g. client_allowed_sans would silently let more clients in.
_UNSUPPORTED = {
    "rate_limit": "rate limiting is not supported by this exporter",
    "tls_server_config.cert": "inline certificates are not supported; use cert_file",
    "tls_server_config.key": "inline keys are not supported; use key_file",
    "tls_server_config.client_ca": "inline client CAs are not supported; use client_ca_file",
    "tls_server_config.cipher_suites": "cipher_suites is not supported by this exporter",
    "tls_server_config.curve_preferences": "curve_preferences is not supported by this exporter",
    "tls_server_config.client_allowed_sans": (
        "client_allowed_sans is not supported by this exporter"
    ),
}
_VERIFIED_CACHE_SIZE = 64


@dataclass(frozen=True)
class WebConfig:
    """One loaded web configuration; `ssl_context` is None when TLS is off."""

    ssl_context: ssl.SSLContext | None = None
    # Username → bcrypt hash, both as the bytes a Basic authorization header carries.
    users: Mapping[bytes, bytes] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    # The certificate files read, so a change to any of them triggers a reload.
    files: tuple[str, ...] = ()


class _Invalid(Exception):
    """A problem at a node; becomes a ConfigError with the node's line."""

    def __init__(self, message: str, node: yaml.Node, key: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.key = key


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _mapping(node: yaml.Node, key: str, known: Iterable[str]) -> dict[str, yaml.Node]:
    """A mapping's values by key; unknown, unsupported, duplicate and non-string keys fail."""
    if node.tag == _NULL:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise _Invalid("expected a mapping", node, key or None)
    known = tuple(known)
    values: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
            raise _Invalid("keys must be strings", key_node, key or None)
        name = f"{key}.{key_node.value}" if key else key_node.value
        if name in _UNSUPPORTED:
            raise _Invalid(_UNSUPPORTED[name], key_node, name)
        if known and key_node.value not in known:
            raise _Invalid(f"unknown key (known keys: {', '.join(known)})", key_node, name)
        if key_node.value in values:
            raise _Invalid("appears more than once", key_node, name)
        values[key_node.value] = value_node
    return values


def _string(node: yaml.Node, key: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
        raise _Invalid("expected a string", node, key)
    return str(node.value)


def _boolean(node: yaml.Node, key: str) -> bool:
    value = yaml.SafeLoader.bool_values.get(str(node.value).lower())
    if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL or value is None:
        raise _Invalid("expected true or false", node, key)
    return bool(value)


def _headers(node: yaml.Node) -> tuple[tuple[str, str], ...]:
    headers = []
    for name, value_node in _mapping(node, "http_server_config.headers", HEADERS).items():
        key = f"http_server_config.headers.{name}"
        value = _string(value_node, key)
        allowed = HEADERS[name]
        if allowed is not None and value not in allowed:
            raise _Invalid(f"expected one of {', '.join(allowed)}", value_node, key)
        if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value):
            raise _Invalid("control characters are not allowed in a header", value_node, key)
        if value:  # blank means unset, as in exporter-toolkit
            headers.append((name, value))
    return tuple(headers)


def _users(node: yaml.Node) -> dict[bytes, bytes]:
    users = {}
    for name, hash_node in _mapping(node, "basic_auth_users", ()).items():
        key = f"basic_auth_users.{name}"
        if ":" in name:
            raise _Invalid("a username cannot contain ':' in basic auth", hash_node, key)
        hashed = _string(hash_node, key)
        import re  # noqa: PLC0415 - placeholder removed below

        if not re.fullmatch(_BCRYPT_HASH, hashed):
            raise _Invalid("expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 4-31)", hash_node, key)
        users[name.encode()] = hashed.encode()
    return users
