"""The `--web.config.file` in service: reloaded when it or its certificates change, and the
WSGI wrapper that applies it (basic auth on every path, the configured response headers).

As in exporter-toolkit, every path is protected, `/-/healthy` included, and certificate
rotation needs no restart.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any

from exporter.strict_yaml import ConfigError
from exporter.web.basic_auth import BasicAuth
from exporter.web.config import WebConfig, load_web_config

log = logging.getLogger(__name__)

# PEP 3333's shapes, spelled out here rather than imported from the HTTP layer that serves them.
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


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
