"""HTTP serving: the WSGI app (landing page, metrics, health, 404) and a threaded server.

prometheus_client's own `make_wsgi_app` answers every path and knows nothing of the scrape
timeout header, so routing and the per-scrape deadline are done here.
"""

from __future__ import annotations

import gzip
import html
import logging
import math
import socket
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client.core import Metric
from prometheus_client.exposition import gzip_accepted

from exporter import __version__
from exporter.exposition import choose_encoder

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Scrape = Callable[[float], list[Metric]]
# A probe gets the query parameters and the scrape budget; LookupError means a bad target.
Probe = Callable[[dict[str, str], float], list[Metric]]

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
    """The exporter's WSGI app; `scrape(seconds)` returns the families to expose.

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
        budget = scrape_budget(
            environ.get(TIMEOUT_HEADER), default_timeout_seconds, timeout_offset_seconds
        )
        if path == telemetry_path:
            families = scrape(budget)
        else:
            assert probe is not None
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            if any(len(values) > 1 for values in query.values()):
                return _respond(start_response, method, "400 Bad Request", b"repeated parameter\n")
            try:
                families = probe({name: values[0] for name, values in query.items()}, budget)
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


class _QuietHandler(WSGIRequestHandler):
    """Sends request logs to the debug level instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", extra={"client": self.address_string(), "line": format % args})


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _DualStackServer(_ThreadingServer):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _IPv6Server(_ThreadingServer):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, app: WSGIApp) -> WSGIServer:
    """A threaded server; an empty host listens on every IPv4 and IPv6 address it can."""
    server_class: type[_ThreadingServer] = _ThreadingServer
    if not host:
        if socket.has_dualstack_ipv6():
            server_class, host = _DualStackServer, "::"
        else:
            host = "0.0.0.0"  # noqa: S104 - ":port" means every interface, as in Go exporters
    elif ":" in host:
        server_class = _IPv6Server
    server = server_class((host, port), _QuietHandler)
    server.set_app(app)
    return server
