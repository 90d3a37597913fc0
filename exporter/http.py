"""HTTP serving: the WSGI app (status page, metrics, probe, discovery, health, reload, 404)
and its server.

prometheus_client's own `make_wsgi_app` answers every path and knows nothing of the scrape
timeout header, so routing and the per-scrape deadline are done here. Connections (keep-alive,
TLS, slow clients) are handled in `exporter.http_server`.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIServer

from prometheus_client.core import Metric
from prometheus_client.exposition import gzip_accepted

from exporter import http_server, status_page
from exporter.deadline import Deadline
from exporter.exposition import choose_encoder
from exporter.http_server import Timeouts, TLSContext
from exporter.status_page import Snapshot

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# A scrape gets the deadline and the `collect[]` collector names (none: every collector);
# LookupError means an unknown name.
Scrape = Callable[[Deadline, Sequence[str]], list[Metric]]
# A probe gets the query parameters and the scrape deadline; LookupError means a bad target.
Probe = Callable[[dict[str, str], Deadline], list[Metric]]
# Discovery lists one label set per target (its `__param_*` and target labels).
Discover = Callable[[], list[dict[str, str]]]
# A reload of the configuration: whether it succeeded, and the line that says so or why not.
Reload = Callable[[], tuple[bool, str]]

# A client gets this long to send each request's headers (the first also to finish the TLS
# handshake), then this long for each later read or write; slow clients cannot hold threads
# forever. Between requests a kept-alive connection may idle longer than Prometheus' default
# 60 s scrape interval, so each scrape reuses it.
TIMEOUTS = Timeouts(header=10.0, socket=60.0, idle=120.0)
TIMEOUT_HEADER = "HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"
MAX_SCRAPE_TIMEOUT_SECONDS = 600.0
# Reads stop this many times the last answer's building time (encoding, gzip) before the
# budget ends, so the next, as large, answer is built in time even on a busier machine.
ANSWER_RESERVE = 2.0


def scrape_budget(header: str | None, default_seconds: float, offset_seconds: float) -> float:
    """Seconds a scrape may take: Prometheus' timeout header (or the default) minus a margin.

    The margin leaves time to send the answer (the time to build it is reserved by `make_app`
    from what the last one took); when the timeout is smaller than the margin, half the
    timeout is used instead of nothing.
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


def make_app(
    scrape: Scrape,
    *,
    probe: Probe | None = None,
    discover: Discover | None = None,
    status: Callable[[], Snapshot] | None = None,
    ready: Callable[[], bool] = lambda: True,
    reload: Reload | None = None,
    telemetry_path: str = "/metrics",
    default_timeout_seconds: float = 10.0,
    timeout_offset_seconds: float = 0.5,
    timeouts: Callable[[], tuple[float, float]] | None = None,
) -> WSGIApp:
    """The exporter's WSGI app; `scrape(deadline, collectors)` returns the families to expose.

    `collectors` are the telemetry path's `collect[]` parameters (repeatable, as in
    node_exporter): only those collectors are read, so one job can watch, say, account
    discovery without reading every target. An unknown one answers 400.

    `probe` serves `/probe?account=...&region=...` (the multi-target pattern): a LookupError
    from it is the client's mistake and answers 400 before any AWS call. `status()` returns
    what the last scrape saw, for the page at `/`; without it the page has only links.
    `/-/ready` answers 503 while `ready()` is false (credentials still warming up), so no
    scrape is sent to a cold replica; `/-/healthy` is always 200. `discover()` serves `/sd`,
    Prometheus' HTTP service discovery format: every target at the address the client asked
    for (its Host header), so discovery through a Service or load balancer names that address.

    Reads stop before the budget ends by twice the time the last answer of the same kind took
    from the end of its reads to its body (encoding and gzip, which grow with the series
    served), so a large answer still arrives within the scrape timeout.
    """
    links_page = status_page.render_links(telemetry_path)
    page_headers = [
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", status_page.CONTENT_SECURITY_POLICY),
    ]
    routes = {telemetry_path, "/", "/-/healthy", "/-/ready"}
    routes |= ({"/probe"} if probe else set()) | ({"/sd"} if discover else set())
    routes |= {"/-/reload"} if reload else set()
    scrape_timeouts = timeouts or (lambda: (default_timeout_seconds, timeout_offset_seconds))
    # Seconds the last answer of each kind took from the end of its reads to its body.
    answer_seconds: dict[tuple[str, tuple[str, ...]], float] = {}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path not in routes:
            return _respond(start_response, method, "404 Not Found", b"Not Found\n")
        if path == "/-/reload":
            assert reload is not None
            return _reload(start_response, method, reload)
        if method not in ("GET", "HEAD"):
            headers = [("Allow", "GET, HEAD")]
            return _respond(start_response, method, "405 Method Not Allowed", b"", headers)
        if path == "/":
            page = status_page.render(status(), telemetry_path) if status else links_page
            content_type = "text/html; charset=utf-8"
            return _respond(start_response, method, "200 OK", page, page_headers, content_type)
        if path == "/-/healthy":
            return _respond(start_response, method, "200 OK", b"Healthy\n")
        if path == "/-/ready":
            if not ready():
                return _respond(start_response, method, "503 Service Unavailable", b"Warming up\n")
            return _respond(start_response, method, "200 OK", b"Ready\n")
        if path == "/sd":
            assert discover is not None
            body = discovery_document(_host(environ), discover())
            return _respond(start_response, method, "200 OK", body, content_type="application/json")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        # Answers of one kind (the path and its collectors) are about as large each time.
        kind = (path, tuple(query.get("collect[]", [])))
        budget = scrape_budget(environ.get(TIMEOUT_HEADER), *scrape_timeouts())
        reserve = ANSWER_RESERVE * answer_seconds.get(kind, 0.0)
        deadline = Deadline.after(max(0.0, budget - reserve))
        try:
            if path == telemetry_path:
                families = scrape(deadline, query.get("collect[]", []))
            else:
                assert probe is not None
                if any(len(values) > 1 for values in query.values()):
                    return _respond(
                        start_response, method, "400 Bad Request", b"repeated parameter\n"
                    )
                families = probe({name: values[0] for name, values in query.items()}, deadline)
        except LookupError as error:
            message = f"{error.args[0] if error.args else error}\n".encode()
            return _respond(start_response, method, "400 Bad Request", message)
        reads_ended = min(time.monotonic(), deadline.at)
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        body = encoder(families)
        headers = []
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            body = gzip.compress(body, compresslevel=6)
            headers.append(("Content-Encoding", "gzip"))
        answer_seconds[kind] = time.monotonic() - reads_ended
        return _respond(start_response, method, "200 OK", body, headers, content_type)

    return app


def _reload(start_response: StartResponse, method: str, reload: Reload) -> list[bytes]:
    """POST only, as Prometheus' own `/-/reload`: a GET must never change what is served."""
    if method != "POST":
        headers = [("Allow", "POST")]
        return _respond(start_response, method, "405 Method Not Allowed", b"", headers)
    succeeded, line = reload()
    status = "200 OK" if succeeded else "500 Internal Server Error"
    return _respond(start_response, method, status, f"{line}\n".encode())


def discovery_document(address: str, label_sets: Iterable[dict[str, str]]) -> bytes:
    """Prometheus' HTTP SD JSON: one target group per label set, all at `address`."""
    groups = [{"targets": [address], "labels": labels} for labels in label_sets]
    return json.dumps(groups, separators=(",", ":")).encode() + b"\n"


def _host(environ: dict[str, Any]) -> str:
    """host:port as the client addressed this server; the listening address without Host."""
    host = environ.get("HTTP_HOST", "")
    if host:
        return str(host)
    return f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"


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


def make_server(
    host: str,
    port: int,
    app: WSGIApp,
    tls_context: TLSContext | None = None,
    timeouts: Timeouts = TIMEOUTS,
) -> WSGIServer:
    """A threaded HTTP/1.1 server; an empty host listens on every IPv4 and IPv6 address it can.

    `tls_context()` is called for each new connection, so a rotated certificate is used
    without a restart.
    """
    return http_server.make_server(host, port, app, tls_context, timeouts)
