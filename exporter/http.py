"""HTTP serving: the WSGI app (landing page, metrics, health, 404) and a threaded server.

prometheus_client's own `make_wsgi_app` answers every path and knows nothing of the scrape
timeout header, so routing and the per-scrape deadline are done here.
"""

from __future__ import annotations

import gzip
import html
import io
import logging
import math
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client.core import Metric
from prometheus_client.exposition import gzip_accepted

from exporter import __version__
from exporter.deadline import Deadline
from exporter.exposition import choose_encoder

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Scrape = Callable[[Deadline], list[Metric]]
# A probe gets the query parameters and the scrape deadline; LookupError means a bad target.
Probe = Callable[[dict[str, str], Deadline], list[Metric]]

TLSContext = Callable[[], ssl.SSLContext]

# A client gets this long to send its request headers (and finish the TLS handshake), then
# this long for each later read or write; slow clients cannot hold threads forever.
HEADER_TIMEOUT_SECONDS = 10.0
SOCKET_TIMEOUT_SECONDS = 60.0
TIMEOUT_HEADER = "HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"
MAX_SCRAPE_TIMEOUT_SECONDS = 600.0


def scrape_budget(header: str | None, default_seconds: float, offset_seconds: float) -> float:
    """Seconds a scrape may take: Prometheus' timeout header (or the default) minus a margin.

    The margin leaves time to encode and send the answer; when the timeout is smaller than
    the margin, half the timeout is used instead of nothing.
    """
    timeout = default_seconds
    if header:
        try:
            timeout = float(header)
        except ValueError:
            log.debug("ignoring a malformed scrape timeout header", extra={"value": header[:40]})
    if not math.isfinite(timeout) or timeout <= 0:
        timeout = default_seconds
    timeout = min(timeout, MAX_SCRAPE_TIMEOUT_SECONDS)
    return max(timeout - offset_seconds, timeout / 2)


def _landing_page(telemetry_path: str) -> bytes:
    path = html.escape(telemetry_path)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>AWS Config conformance pack exporter</title></head>
<body>
<h1>AWS Config conformance pack exporter</h1>
<p>Version {html.escape(__version__)}. Exposes the deployment status of AWS Config
conformance packs for Prometheus.</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li>One account: <code>/probe?account=ID&amp;region=REGION</code> (region optional)</li>
<li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li>
</ul>
</body>
</html>
""".encode()


def make_app(
    scrape: Scrape,
    *,
    probe: Probe | None = None,
    telemetry_path: str = "/metrics",
    default_timeout_seconds: float = 10.0,
    timeout_offset_seconds: float = 0.5,
) -> WSGIApp:
    """The exporter's WSGI app; `scrape(deadline)` returns the families to expose.

    `probe` serves `/probe?account=...&region=...` (the multi-target pattern): a LookupError
    from it is the client's mistake and answers 400 before any AWS call.
    """
    landing_page = _landing_page(telemetry_path)
    routes = {telemetry_path, "/", "/-/healthy", "/-/ready"} | ({"/probe"} if probe else set())

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path not in routes:
            return _respond(start_response, method, "404 Not Found", b"Not Found\n")
        if method not in ("GET", "HEAD"):
            headers = [("Allow", "GET, HEAD")]
            return _respond(start_response, method, "405 Method Not Allowed", b"", headers)
        if path == "/":
            return _respond(start_response, method, "200 OK", landing_page, [], "text/html")
        if path == "/-/healthy":
            return _respond(start_response, method, "200 OK", b"Healthy\n")
        if path == "/-/ready":
            return _respond(start_response, method, "200 OK", b"Ready\n")
        deadline = Deadline.after(
            scrape_budget(
                environ.get(TIMEOUT_HEADER), default_timeout_seconds, timeout_offset_seconds
            )
        )
        if path == telemetry_path:
            families = scrape(deadline)
        else:
            assert probe is not None
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if any(len(values) > 1 for values in query.values()):
                return _respond(start_response, method, "400 Bad Request", b"repeated parameter\n")
            try:
                families = probe({name: values[0] for name, values in query.items()}, deadline)
            except LookupError as error:
                message = f"{error.args[0] if error.args else error}\n".encode()
                return _respond(start_response, method, "400 Bad Request", message)
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        body = encoder(families)
        headers = []
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            body = gzip.compress(body, compresslevel=6)
            headers.append(("Content-Encoding", "gzip"))
        return _respond(start_response, method, "200 OK", body, headers, content_type)

    return app


def _respond(
    start_response: StartResponse,
    method: str,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "text/plain; charset=utf-8",
) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])],
    )
    return [] if method == "HEAD" else [body]


def parse_listen_address(address: str) -> tuple[str, int]:
    """Split `host:port`, `:port` or `[v6]:port` the way Go exporters accept them."""
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{address!r} is not host:port, :port or [ipv6]:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{address!r}: IPv6 addresses must be written in brackets")
    return host, int(port_text)


class _HeaderDeadline(io.RawIOBase):
    """A connection's reader that fails once the request headers took too long to arrive.

    A timeout per read alone would let a client sending one byte at a time (slowloris) hold
    a thread forever.
    """

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self._connection = connection
        self._raw = connection.makefile("rb", buffering=0)
        self.deadline: float | None = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the request headers took too long")
            self._connection.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _ErrorLog(io.TextIOBase):
    """wsgiref's error stream: an exception in the app becomes a log line, not stderr text.

    wsgiref prints the traceback here, then flushes while still handling the exception; the
    text is dropped and the exception logged like any other (its traceback at debug only).
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            log.error(
                "request failed",
                extra={"path": self._path, "error": type(error).__name__},
                exc_info=log.isEnabledFor(logging.DEBUG),
            )


class _QuietHandler(WSGIRequestHandler):
    """Logs requests at debug level and app errors as log lines; gives clients a deadline
    for their request headers."""

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self._reader = _HeaderDeadline(self.connection, time.monotonic() + HEADER_TIMEOUT_SECONDS)
        self.rfile = io.BufferedReader(self._reader)

    def parse_request(self) -> bool:
        """Once the headers are in, only the timeout of each socket operation applies."""
        parsed = super().parse_request()
        self._reader.deadline = None
        self.connection.settimeout(SOCKET_TIMEOUT_SECONDS)
        return parsed

    def get_stderr(self) -> _ErrorLog:
        return _ErrorLog(self.path)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", extra={"client": self.address_string(), "line": format % args})


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per connection; TLS, when on, is negotiated in that thread too."""

    daemon_threads = True
    allow_reuse_address = True
    tls_context: TLSContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake (if TLS) and serve; a slow or failed handshake delays nobody else."""
        request.settimeout(HEADER_TIMEOUT_SECONDS)
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            connection = self.tls_context().wrap_socket(request, server_side=True)
        except OSError as error:  # ssl.SSLError included
            log.debug("tls handshake failed", extra={"client": client_address[0], "error": error})
            return
        with connection:
            super().finish_request(connection, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that stalls or vanishes is no exporter error: a debug line, no traceback."""
        error = sys.exc_info()[1]
        log.debug("connection closed", extra={"client": client_address[0], "error": repr(error)})


class _DualStackServer(_ThreadingServer):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _IPv6Server(_ThreadingServer):
    address_family = socket.AF_INET6


def make_server(
    host: str, port: int, app: WSGIApp, tls_context: TLSContext | None = None
) -> WSGIServer:
    """A threaded server; an empty host listens on every IPv4 and IPv6 address it can.

    `tls_context()` is called for each new connection, so a rotated certificate is used
    without a restart.
    """
    server_class: type[_ThreadingServer] = _ThreadingServer
    if not host:
        if socket.has_dualstack_ipv6():
            server_class, host = _DualStackServer, "::"
        else:
            host = "0.0.0.0"  # noqa: S104 - ":port" means every interface, as in Go exporters
    elif ":" in host:
        server_class = _IPv6Server
    server = server_class((host, port), _QuietHandler)
    server.tls_context = tls_context
    server.set_app(app)
    return server
