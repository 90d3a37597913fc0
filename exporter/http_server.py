"""Connections: a threaded HTTP/1.1 server with keep-alive, optional TLS and slow-client limits.

Prometheus keeps its connection to a target open between scrapes; answering HTTP/1.1 and
serving request after request on one connection spares it a TCP (and TLS) handshake each
time. wsgiref's server answers one HTTP/1.0 request per connection, so its handler is
extended here; the WSGI app itself is in `exporter.http`. Request heads are read strictly
(`exporter.http_framing`): one that could be framed two ways gets an error answer and a
closed connection.
"""

from __future__ import annotations

import io
import logging
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from socketserver import ThreadingMixIn
from typing import IO, TYPE_CHECKING, Any, cast
from wsgiref.headers import Headers
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from exporter.http_framing import (
    MAX_LINE_BYTES,
    RequestError,
    check_framing,
    read_fields,
    request_line,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

TLSContext = Callable[[], ssl.SSLContext]


@dataclass(frozen=True)
class Timeouts:
    """How long a client may take, in seconds, before its connection is closed."""

    header: float  # to send each request's headers, from their first byte (and the handshake)
    socket: float  # for each later read or write
    idle: float  # between two requests on a kept-alive connection


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


def _keeps_alive(version: str, headers: Message) -> bool:
    """HTTP/1.1 without `Connection: close`, and without a body: the app reads none, and an
    unread body would be taken for the next request. HTTP/1.0 always closes, as it expects."""
    tokens = {
        token.strip().lower()
        for value in headers.get_all("Connection", [])
        for token in str(value).split(",")
    }
    has_body = int(headers.get("Content-Length", "0")) > 0  # checked by check_framing
    return version == "HTTP/1.1" and "close" not in tokens and not has_body


class _ServerHandler(ServerHandler):
    """wsgiref's handler for one request, answering in the request's HTTP version; it closes
    the connection when the answer could not be followed by another."""

    headers: Headers  # set by wsgiref's start_response; typeshed does not declare it

    def __init__(self, request: _RequestHandler) -> None:
        # The socket writer is a binary file in all but typeshed's name for it.
        stdout = cast("IO[bytes]", request.wfile)
        environ = request.get_environ()
        super().__init__(request.rfile, stdout, request.get_stderr(), environ, multithread=False)
        self.request_handler = request
        self.http_version = "1.1" if request.request_version == "HTTP/1.1" else "1.0"
        self.answered = False

    def cleanup_headers(self) -> None:
        """Without a length only the end of the connection ends the body; say so on HTTP/1.1."""
        super().cleanup_headers()
        if "Content-Length" not in self.headers:
            self.request_handler.close_connection = True
        if self.request_handler.close_connection and self.http_version == "1.1":
            self.headers["Connection"] = "close"

    def handle_error(self) -> None:
        """After an app error the connection closes: part of the answer may be sent already."""
        self.request_handler.close_connection = True
        super().handle_error()

    def close(self) -> None:
        """Called once the answer is sent whole; a client that went away skips it."""
        self.answered = True
        super().close()


class _RequestHandler(WSGIRequestHandler):
    """Serves requests on one connection until either side closes it; logs requests at debug
    level and app errors as log lines; gives clients deadlines for their request headers."""

    protocol_version = "HTTP/1.1"
    server: ThreadingServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self._reader = _HeaderDeadline(
            self.connection, time.monotonic() + self.server.timeouts.header
        )
        self._buffered = io.BufferedReader(self._reader)
        self.rfile = self._buffered

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and self._next_request_started():
            self.handle_one_request()

    def _next_request_started(self) -> bool:
        """Waits up to the idle timeout for the next request; its header deadline starts with
        its first byte. False when the client closed the connection or went quiet."""
        self.connection.settimeout(self.server.timeouts.idle)
        try:
            started = bool(self._buffered.peek(1))  # no read at all if it came with the last
        except TimeoutError:
            return False
        self._reader.deadline = time.monotonic() + self.server.timeouts.header
        return started

    def handle_one_request(self) -> None:
        """wsgiref's `handle`, with an answer in the request's version that may keep alive."""
        self.raw_requestline = self.rfile.readline(MAX_LINE_BYTES + 1)
        if self.raw_requestline == b"\r\n":  # one empty line before a request is ignored
            self.raw_requestline = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not self.raw_requestline:  # closed (or a TCP probe) before a request: no answer
            self.close_connection = True
            return
        if len(self.raw_requestline) > MAX_LINE_BYTES:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        app = self.server.get_app()
        assert app is not None, "make_server sets the app"
        handler = _ServerHandler(self)
        handler.run(app)
        if not handler.answered:
            self.close_connection = True

    def parse_request(self) -> bool:
        """http.server's, made strict (see `request_line`, `read_fields`, `check_framing`);
        once the headers are in, only the timeout of each socket operation applies."""
        self.command, self.request_version = "", self.protocol_version  # errors answer in 1.1
        self.requestline = self.raw_requestline.rstrip(b"\r\n").decode("latin-1")
        try:
            self.command, self.path, self.request_version = request_line(self.raw_requestline)
            self.headers = read_fields(self.rfile)
            check_framing(self.request_version, self.headers)
        except RequestError as error:
            self.close_connection = True
            self.send_error(error.status, explain=str(error))
            return False
        finally:
            self._reader.deadline = None
            self.connection.settimeout(self.server.timeouts.socket)
        if self.path.startswith("//"):  # as http.server: `//host` would read as another host
            self.path = "/" + self.path.lstrip("/")
        self.close_connection = not _keeps_alive(self.request_version, self.headers)
        expect = self.headers.get("Expect", "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def get_stderr(self) -> _ErrorLog:
        return _ErrorLog(self.path)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", extra={"client": self.address_string(), "line": format % args})


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per connection; TLS, when on, is negotiated in that thread too.

    The threads are daemons: closing the server waits for no connection, kept alive or not.
    """

    daemon_threads = True
    allow_reuse_address = True
    tls_context: TLSContext | None = None
    timeouts: Timeouts

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake (if TLS) and serve; a slow or failed handshake delays nobody else."""
        request.settimeout(self.timeouts.header)
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


class _DualStackServer(ThreadingServer):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _IPv6Server(ThreadingServer):
    address_family = socket.AF_INET6


def make_server(
    host: str,
    port: int,
    app: WSGIApplication,
    tls_context: TLSContext | None,
    timeouts: Timeouts,
) -> ThreadingServer:
    """A threaded server; an empty host listens on every IPv4 and IPv6 address it can."""
    server_class: type[ThreadingServer] = ThreadingServer
    if not host:
        if socket.has_dualstack_ipv6():
            server_class, host = _DualStackServer, "::"
        else:
            host = "0.0.0.0"  # noqa: S104 - ":port" means every interface, as in Go exporters
    elif ":" in host:
        server_class = _IPv6Server
    server = server_class((host, port), _RequestHandler)
    server.tls_context = tls_context
    server.timeouts = timeouts
    server.set_app(app)
    return server
