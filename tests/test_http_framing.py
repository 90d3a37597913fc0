"""exporter/http_framing.py, through the server of exporter/http_server.py: request framing
(RFC 9112 §2.2, §3, §5, §6.3). A request that could be framed two ways is answered with an
error and its connection closed, so bytes after it (a smuggled request) are never served;
valid requests keep their connection alive."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, parse_exposition
from tests.test_http_server import connect, serving

# Follows every row's bytes: answered only when the row's request kept the connection open.
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3}) ", re.MULTILINE)


def request(*fields: bytes, line: bytes = b"GET /a HTTP/1.1", body: bytes = b"") -> bytes:
    """A request to /a with `Host: x` and these field lines, CRLF-terminated."""
    return b"".join(f + b"\r\n" for f in (line, b"Host: x", *fields)) + b"\r\n" + body


def row(case: str, data: bytes, status: int = 400) -> Any:
    """One case: the bytes sent before NEXT and the status of their one answer."""
    return pytest.param(data, status, id=case)


ROWS = [
    # Valid requests: answered, and the connection stays open for NEXT.
    row("keep-alive GET", request(), 200),
    row("Content-Length 0", request(b"Content-Length: 0"), 200),
    row("POST Content-Length 0", request(b"Content-Length: 0", line=b"POST /a HTTP/1.1"), 200),
    row("2.2 one CRLF before the request line", b"\r\n" + request(), 200),
    row("RFC 9110 2.5 HTTP/1.2 read as 1.1", request(line=b"GET /a HTTP/1.2"), 200),
    row("5.5 obs-text and NUL in a value", request(b"X-Binary: \xff\xfe\x00\x01"), 200),
    # §6.3: Content-Length.
    row("6.3 repeated Content-Length", request(b"Content-Length: 0", b"Content-Length: 45")),
    row("6.3 repeated equal Content-Length", request(b"Content-Length: 0", b"Content-Length: 0")),
    row("6.3 Content-Length list", request(b"Content-Length: 0, 45")),
    row("6.3 Content-Length equal list", request(b"Content-Length: 0, 0")),
    row("6.3 Content-Length +0", request(b"Content-Length: +0")),
    row("6.3 Content-Length -1", request(b"Content-Length: -1")),
    row("6.3 Content-Length hex", request(b"Content-Length: 0x0")),
    row("6.3 Content-Length empty", request(b"Content-Length: ")),
    row("6.3 Content-Length 0 0", request(b"Content-Length: 0 0")),
    row("6.3 Content-Length over int64", request(b"Content-Length: 1" + b"0" * 19)),
    row("6.3 Content-Length Unicode digit", request("Content-Length: \u0660".encode("utf-8"))),
    # §6.1/§6.3: Transfer-Encoding.
    row(
        "6.1 chunked (not implemented)",
        request(b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        501,
    ),
    row("6.1 gzip, chunked", request(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"), 501),
    row(
        "6.1 TE with CL",
        request(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    ),
    row(
        "6.1 CL with TE",
        request(b"Transfer-Encoding: chunked", b"Content-Length: 0", body=b"0\r\n\r\n"),
    ),
    row("6.3 chunked not final", request(b"Transfer-Encoding: chunked, gzip")),
    row("6.3 only gzip", request(b"Transfer-Encoding: gzip")),
    row("6.3 identity", request(b"Transfer-Encoding: identity")),
    row("6.3 chunked twice", request(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked")),
    row("6.3 empty TE", request(b"Transfer-Encoding: ")),
    row("6.1 TE in HTTP/1.0", request(b"Transfer-Encoding: chunked", line=b"GET /a HTTP/1.0")),
    # §5: field lines.
    row("5.1 space before colon", request(b"Transfer-Encoding : chunked", body=b"0\r\n\r\n")),
    row("5.1 tab before colon", request(b"Content-Length\t: 0")),
    row("5.2 obs-fold", request(b"X-A: a", b" Transfer-Encoding: chunked")),
    row("5.2 obs-fold with tab", request(b"X-A: a", b"\tb")),
    row("2.2 whitespace before the first field", b"GET /a HTTP/1.1\r\n Host: x\r\n\r\n"),
    row("5 no colon", request(b"X-A b")),
    row("5 empty field name", request(b": b")),
    row("5 field name not a token", request(b"X(A): b")),
    row("3.2 repeated Host", request(b"Host: y")),
    row("2.2 bare LF after a field", b"GET /a HTTP/1.1\r\nHost: x\n\r\n"),
    row("2.2 bare LF ends the header section", b"GET /a HTTP/1.1\r\nHost: x\r\n\n"),
    row("2.2 bare CR in a value", request(b"X-A: a\rTransfer-Encoding: chunked")),
    # §3: the request line.
    row("2.2 bare LF after the request line", b"GET /a HTTP/1.1\nHost: x\r\n\r\n"),
    row("3 two words", b"GET /a\r\nHost: x\r\n\r\n"),
    row("3 four words", request(line=b"GET /a b HTTP/1.1")),
    row("3 two spaces", request(line=b"GET  /a HTTP/1.1")),
    row("3 tabs", request(line=b"GET\t/a\tHTTP/1.1")),
    row("3 trailing space", request(line=b"GET /a HTTP/1.1 ")),
    row("3 leading space", request(line=b" GET /a HTTP/1.1")),
    row("3 version HTTP/1.1x", request(line=b"GET /a HTTP/1.1x")),
    row("3 version HTTP/1.10", request(line=b"GET /a HTTP/1.10")),
    row("3 version HTTP/1", request(line=b"GET /a HTTP/1")),
    row("3 version lower case", request(line=b"GET /a http/1.1")),
    row("3 method not a token", request(line=b"G(T /a HTTP/1.1")),
    row("3 method with NUL", request(line=b"G\x00T /a HTTP/1.1")),
    row("3 target with a control", request(line=b"GET /a\x01b HTTP/1.1")),
    row("3 target with DEL", request(line=b"GET /a\x7f HTTP/1.1")),
    row("3 target with a non-ASCII byte", request(line=b"GET /\xff HTTP/1.1")),
    row("3 target with a vertical tab", request(line=b"GET /a\x0bb HTTP/1.1")),
    # RFC 9110 §15.6.6: a well-formed version of another major is not supported.
    row("HTTP/2.0 on HTTP/1.1", request(line=b"GET /a HTTP/2.0"), 505),
    row("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    row("HTTP/0.9 version", request(line=b"GET /a HTTP/0.9"), 505),
]


def recording(served: list[str]) -> Callable[..., Iterable[bytes]]:
    """An app that remembers the path of every request it was given."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
        return [b"ok\n"]

    return app


def read_until_closed(client: socket.socket) -> bytes:
    """All the server sends until it closes, reset or not (it may reset a connection it
    closes with bytes unread); times out, failing the test, if it keeps the connection."""
    chunks = []
    try:
        while chunk := client.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def send_with_next(port: int, data: bytes) -> bytes:
    with connect(port) as client:
        client.sendall(data + NEXT)
        return read_until_closed(client)


@pytest.mark.parametrize(("data", "status"), ROWS)
def test_request_framing(data: bytes, status: int) -> None:
    served: list[str] = []
    with serving(recording(served)) as port:
        answer = send_with_next(port, data)

    statuses = [int(code) for code in STATUS_LINE.findall(answer)]
    if status == 200:
        assert (statuses, served) == ([200, 200], ["/a", "/next"]), answer[:300]
    else:
        assert (statuses, served) == ([status], []), answer[:300]
        assert b"\r\nConnection: close\r\n" in answer


def test_a_header_section_cut_short_is_not_served() -> None:
    """http.server served what came before the end of the stream as a whole request."""
    served: list[str] = []
    with serving(recording(served)) as port, connect(port) as client:
        client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Le")
        client.shutdown(socket.SHUT_WR)
        answer = read_until_closed(client)

    assert ([int(code) for code in STATUS_LINE.findall(answer)], served) == ([400], [])


@pytest.mark.integration
def test_the_exporter_refuses_a_smuggled_request(
    tmp_path: Path, exporter_factory: Callable[..., ExporterProcess]
) -> None:
    """The exporter process from a config file: a request that hides another behind two
    Content-Length values is refused whole and the connection closed; scrapes go on."""
    config = tmp_path / "config.yml"
    config.write_text("regions: [us-east-1]\ncompliance: {enabled: false}\n")
    packs = [SimulatedPack("pack-1", "CREATE_COMPLETE", requested_at=1.0)]
    smuggled = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
    first = request(
        b"Content-Length: 0", b"Content-Length: %d" % len(smuggled), line=b"GET /metrics HTTP/1.1"
    )
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): packs})) as simulator:
        process = exporter_factory([f"--config.file={config}"], aws_env(simulator.url))
        assert process.port is not None
        answer = send_with_next(process.port, first + smuggled)
        samples = parse_exposition(process.scrape())

    assert [int(code) for code in STATUS_LINE.findall(answer)] == [400]
    assert b"\r\nConnection: close\r\n" in answer
    assert len(samples["aws_config_conformance_pack_info"]) == 1
