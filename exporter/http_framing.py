"""Reading a request's head strictly (RFC 9112): the request line, the field lines and how
the body's end is found. A request a proxy in front could frame differently is refused, so
no byte after it is ever read as another request (smuggling).
"""

from __future__ import annotations

import io
import re
from email.message import Message
from http import HTTPStatus
from http.client import parse_headers

MAX_LINE_BYTES = 65536  # the request line and each field line, as http.server allows
MAX_FIELDS = 100  # field lines per request, as http.server allows
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(%s) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])\r\n" % _TOKEN)
_FIELD_LINE = re.compile(rb"%s:[^\r\n]*\r\n" % _TOKEN)
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")  # fits any int64 parser behind or in front of us


class RequestError(Exception):
    """A request the server will not read further: answered with `status`, then closed."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def request_line(line: bytes) -> tuple[str, str, str]:
    """`method SP target SP HTTP/d.d CRLF`, exactly (RFC 9112 §3): splitting on other
    whitespace or a bare LF, as http.server does, may read a line as a proxy did not."""
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise RequestError(HTTPStatus.BAD_REQUEST, "Malformed request line")
    method, target, major, minor = match.groups()
    if major != b"1":  # a well-formed version this server does not speak (RFC 9110 §15.6.6)
        raise RequestError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Only HTTP/1.x is served")
    version = "HTTP/1.0" if minor == b"0" else "HTTP/1.1"  # a later 1.x as 1.1 (RFC 9110 §2.5)
    return method.decode(), target.decode(), version


def read_fields(rfile: io.BufferedIOBase) -> Message:
    """The field lines up to the empty line, each `name:value CRLF` (RFC 9112 §5): obs-fold,
    whitespace before the colon, a line without one, a bare CR or LF are all rejected, as each
    is read another way by some parser. A NUL in a value becomes a space (RFC 9110 §5.5)."""
    lines: list[bytes] = []
    while (line := rfile.readline(MAX_LINE_BYTES + 1)) != b"\r\n":
        if len(line) > MAX_LINE_BYTES or len(lines) == MAX_FIELDS:
            raise RequestError(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Header section too large"
            )
        if _FIELD_LINE.fullmatch(line) is None:  # an incomplete header section included
            raise RequestError(HTTPStatus.BAD_REQUEST, "Malformed header field line")
        lines.append(line.replace(b"\0", b" "))
    return parse_headers(io.BytesIO(b"".join(lines) + b"\r\n"))


def check_framing(version: str, fields: Message) -> None:
    """The body's end must be found one way only (RFC 9112 §6.3). The app reads no body, so
    chunked bodies are not implemented (501, RFC 9112 §6.1); any other Transfer-Encoding, or
    one beside Content-Length or in HTTP/1.0, cannot be framed (400). Repeated or listed
    Content-Length values, even equal ones, are refused rather than merged."""
    lengths = fields.get_all("Content-Length", [])
    codings = fields.get_all("Transfer-Encoding", [])
    if len(lengths) > 1 or not all(_CONTENT_LENGTH.fullmatch(v.strip(" \t")) for v in lengths):
        raise RequestError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
    if len(fields.get_all("Host", [])) > 1:  # RFC 9112 §3.2
        raise RequestError(HTTPStatus.BAD_REQUEST, "More than one Host")
    if not codings:
        return
    names = [c.split(";")[0].strip(" \t").lower() for v in codings for c in v.split(",")]
    if lengths or version == "HTTP/1.0" or names[-1] != "chunked" or names.count("chunked") > 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "Invalid Transfer-Encoding")
    raise RequestError(HTTPStatus.NOT_IMPLEMENTED, "Request bodies in transfer codings")
