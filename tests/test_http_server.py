"""exporter/http_server.py: keep-alive over HTTP/1.1 and TLS, when connections close, and the
slow-client limits on every request of a connection."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from exporter.http import TIMEOUTS, make_server
from exporter.http_server import Timeouts
from tests.certs import Pki, client_context, make_pki

Environ = dict[str, Any]


def echo_path(environ: Environ, start_response: Any) -> list[bytes]:
    """Answers with the request's path, so answers can be told apart."""
    body = environ["PATH_INFO"].encode() + b"\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def serving(
    app: Any = echo_path, tls_context: Any = None, timeouts: Timeouts = TIMEOUTS
) -> Iterator[int]:
    """A server on a loopback port; yields the port."""
    server = make_server("127.0.0.1", 0, app, tls_context, timeouts)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_until_closed(client: socket.socket) -> bytes:
    """Everything the server sends until it closes; times out (failing) if it never does."""
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_one_answer(client: socket.socket) -> bytes:
    """One answer with a Content-Length, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += client.recv(65536) or pytest.fail(f"closed before the headers: {data!r}")
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.startswith(b"Content-Length:"))[15:]
    )
    while len(body) < length:
        body += client.recv(65536) or pytest.fail("closed before the end of the body")
    assert len(body) == length, "more than one answer"
    return head + b"\r\n\r\n" + body


def test_requests_share_one_connection() -> None:
    with serving() as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        sockets = []
        for path in ("/a", "/b", "/c"):
            connection.request("GET", path)
            response = connection.getresponse()
            assert (response.version, response.status, response.read()) == (
                11,
                200,
                f"{path}\n".encode(),
            )
            assert not response.will_close
            sockets.append(connection.sock)
        connection.close()

    assert sockets[0] is not None
    assert sockets == [sockets[0]] * 3  # http.client opens a new socket after a close


def test_pipelined_requests_are_answered_in_order() -> None:
    with serving() as port, connect(port) as client:
        client.sendall(
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = read_until_closed(client)

    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert answer.index(b"/first\n") < answer.index(b"/second\n")


@pytest.mark.parametrize("value", ["close", "Close", "TE, close"])
def test_connection_close_is_honoured(value: str) -> None:
    with serving() as port, connect(port) as client:
        client.sendall(f"GET /a HTTP/1.1\r\nHost: x\r\nConnection: {value}\r\n\r\n".encode())
        answer = read_until_closed(client)

    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b"\r\n\r\n/a\n")


@pytest.mark.parametrize("headers", ["", "Connection: keep-alive\r\n"])
def test_http_1_0_clients_get_a_closed_connection(headers: str) -> None:
    with serving() as port, connect(port) as client:
        client.sendall(f"GET /a HTTP/1.0\r\n{headers}\r\n".encode())
        answer = read_until_closed(client)

    assert answer.startswith(b"HTTP/1.0 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n/a\n")


def test_a_request_body_closes_the_connection() -> None:
    """The app reads no body; on a kept-alive connection it would be taken for a request."""
    with serving() as port, connect(port) as client:
        client.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /")
        answer = read_until_closed(client)

    assert answer.count(b"HTTP/1.1") == 1
    assert b"\r\nConnection: close\r\n" in answer


def test_an_app_error_closes_the_connection() -> None:
    def failing(environ: Environ, start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    with serving(failing) as port, connect(port) as client:
        client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(client)

    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"\r\nConnection: close\r\n" in answer


def test_an_answer_without_a_length_ends_with_the_connection() -> None:
    def streaming(environ: Environ, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield from (b"one\n", b"two\n")

    with serving(streaming) as port, connect(port) as client:
        client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(client)

    assert b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b"\r\n\r\none\ntwo\n")


def test_a_slow_later_request_is_cut_at_the_header_deadline() -> None:
    """The deadline holds for each request of a connection, from its first byte: a connection
    idle between requests for longer than the deadline is not cut."""
    with serving(timeouts=replace(TIMEOUTS, header=0.5)) as port, connect(port) as client:
        client.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_one_answer(client).endswith(b"/first\n")
        client.settimeout(0.8)
        with pytest.raises(TimeoutError):  # idle longer than the header deadline: still open
            client.recv(1)

        client.settimeout(0.05)
        started = time.monotonic()
        closed = False
        for byte in b"GET /second HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 1000:
            try:
                client.send(bytes([byte]))
                closed = client.recv(1) == b""  # waits 0.05 s for the server to hang up
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
        elapsed = time.monotonic() - started

    assert closed
    assert 0.4 < elapsed < 3.0


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    with serving(timeouts=replace(TIMEOUTS, idle=0.3)) as port, connect(port) as client:
        client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        read_one_answer(client)
        started = time.monotonic()
        assert client.recv(1) == b""
        elapsed = time.monotonic() - started

    assert 0.25 < elapsed < 3.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class CountingTLS:
    """A server's TLS context factory that counts the connections it was asked for."""

    def __init__(self, pki: Pki) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.server.cert, pki.server.key)
        self.connections = 0

    def __call__(self) -> ssl.SSLContext:
        self.connections += 1
        return self.context


def test_tls_scrapes_share_one_handshake(pki: Pki) -> None:
    tls = CountingTLS(pki)
    with serving(tls_context=tls) as port:
        connection = http.client.HTTPSConnection(
            "localhost", port, timeout=5, context=client_context(pki)
        )
        sockets = []
        for _ in range(3):
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            assert (response.version, response.status, response.read()) == (11, 200, b"/metrics\n")
            sockets.append(connection.sock)
        connection.close()

    assert isinstance(sockets[0], ssl.SSLSocket)
    assert sockets == [sockets[0]] * 3
    assert tls.connections == 1


def test_closing_the_server_does_not_wait_for_a_kept_alive_connection() -> None:
    """Prometheus keeps its connection open: a stop must not wait for its idle timeout."""
    server = make_server("127.0.0.1", 0, echo_path)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    with connect(server.server_port) as client:
        client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        read_one_answer(client)
        started = time.monotonic()

        server.shutdown()
        server.server_close()

    assert time.monotonic() - started < 3.0
