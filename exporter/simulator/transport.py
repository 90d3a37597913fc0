"""The HTTP side of the simulator: moves bytes and misbehaves on the wire (delays, trickled
bodies, TCP resets) as an `Outcome` says, leaving what to answer to the caller's `respond`."""

from __future__ import annotations

import math
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, NamedTuple


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as bytes, before any wire fault shapes its delivery."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class Trickle(NamedTuple):
    """Send the body in `chunk_size` pieces with `pause` seconds between them."""

    pause: float
    chunk_size: int


@dataclass(frozen=True)
class Outcome:
    """What the handler does: wait `delay`, then send `reply`, whole or as `reset`/`trickle` say.

    ``reset="at_once"`` aborts before any byte is sent; ``"mid_body"`` sends the headers and half
    the body first.
    """

    reply: Reply
    delay: float = 0.0
    reset: Literal["at_once", "mid_body"] | None = None
    trickle: Trickle | None = None


Respond = Callable[[Message, bytes], Outcome]


class HttpServer(ThreadingHTTPServer):
    """A threading server that answers through `respond` and can drop keep-alive connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], respond: Respond, stopping: threading.Event
    ) -> None:
        self.respond = respond
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def wait(self, seconds: float) -> bool:
        """Sleep unless stopping; False means the server is shutting down."""
        return seconds <= 0 or not self.stopping.wait(seconds)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection, so stopping can shut it."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection the handler has finished with."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection, so clients blocked on keep-alive see the stop."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes only: `respond` decides the reply, the handler applies wire faults."""

    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "ConfigSimulator"

    def _owner(self) -> HttpServer:
        assert isinstance(self.server, HttpServer)
        return self.server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._owner().track(self.connection)

    def finish(self) -> None:
        self._owner().untrack(self.connection)
        super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: tests and benchmarks read stderr."""

    def do_POST(self) -> None:
        server = self._owner()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        outcome = server.respond(self.headers, body)
        if not server.wait(outcome.delay):
            self.close_connection = True
            return
        reply = outcome.reply
        if outcome.reset == "at_once":
            self._reset()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if outcome.reset == "mid_body":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self._reset()
        elif outcome.trickle is not None:
            self._trickle(reply.body, outcome.trickle)
        else:
            self.wfile.write(reply.body)

    def _trickle(self, body: bytes, trickle: Trickle) -> None:
        chunks = math.ceil(len(body) / trickle.chunk_size)
        for index in range(chunks):
            if index and not self._owner().wait(trickle.pause):
                self.close_connection = True
                return
            start = index * trickle.chunk_size
            self.wfile.write(body[start : start + trickle.chunk_size])

    def _reset(self) -> None:
        """Abort with a TCP RST rather than a polite FIN, like a dropped middlebox."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True
