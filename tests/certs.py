"""A throwaway PKI made with the `openssl` CLI: a CA, server and client certificates, and
bcrypt-hashed basic auth users, for the TLS and authentication tests."""

from __future__ import annotations

import http.client
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from tests.e2e.conftest import binary


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """A CA with a server certificate (localhost, 127.0.0.1) and a client certificate; a
    second CA's client certificate that the first CA does not trust."""

    directory: Path
    ca: Path
    server: Pair
    client: Pair
    stranger: Pair

    def issue_server(self, name: str) -> Pair:
        """Another server certificate from the same CA, e.g. to rotate to."""
        return _issue(self.directory, name, self.directory / "ca", "serverAuth", server=True)


def _openssl(*args: str | Path) -> None:
    subprocess.run([binary("openssl"), *map(str, args)], check=True, capture_output=True)


def _new_ca(directory: Path, name: str) -> Path:
    base = directory / name
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{base}.key", "-out", f"{base}.crt", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return base


def _issue(directory: Path, name: str, ca: Path, usage: str, *, server: bool = False) -> Pair:
    base = directory / name
    extensions = directory / f"{name}.ext"
    lines = ["basicConstraints=CA:FALSE", f"extendedKeyUsage={usage}"]
    if server:
        lines.append("subjectAltName=DNS:localhost,IP:127.0.0.1")
    extensions.write_text("\n".join(lines) + "\n")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{base}.key", "-out", f"{base}.csr", "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{base}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{base}.crt", "-days", "2", "-extfile", extensions,
    )  # fmt: skip
    return Pair(Path(f"{base}.crt"), Path(f"{base}.key"))


def make_pki(directory: Path) -> Pki:
    """Create every file under `directory` (a few hundred milliseconds with EC keys)."""
    ca = _new_ca(directory, "ca")
    stranger_ca = _new_ca(directory, "stranger-ca")
    return Pki(
        directory=directory,
        ca=Path(f"{ca}.crt"),
        server=_issue(directory, "server", ca, "serverAuth", server=True),
        client=_issue(directory, "client", ca, "clientAuth"),
        stranger=_issue(directory, "stranger", stranger_ca, "clientAuth"),
    )


def bcrypt_hash(password: str) -> str:
    """A hash at bcrypt's lowest cost: the tests check behaviour, not brute-force resistance."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def client_context(pki: Pki, client: Pair | None = None) -> ssl.SSLContext:
    """A client trusting the test CA, presenting `client` when given."""
    context = ssl.create_default_context(cafile=pki.ca)
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


def https_get(
    port: int,
    path: str,
    context: ssl.SSLContext,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """GET over TLS with Python's own client; returns status, headers and body."""
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def server_certificate(port: int, pki: Pki) -> bytes:
    """The DER certificate the server presents to a new connection."""
    context = client_context(pki)
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
    try:
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        certificate = connection.sock.getpeercert(binary_form=True)
        assert certificate is not None
        return certificate
    finally:
        connection.close()
