"""Shared by the web configuration tests: a throwaway PKI, the password its users have, and
helpers to write web config files and Basic headers."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tests.certs import Pki, make_pki

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="package")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def replace(path: Path, content: str | bytes) -> None:
    """Swap a file's content atomically (a new inode), as rotation tools and kubelet do."""
    staging = path.with_name(path.name + ".new")
    if isinstance(content, str):
        staging.write_text(content)
    else:
        staging.write_bytes(content)
    os.replace(staging, path)


def tls_config(pki: Pki, extra: str = "") -> str:
    return (
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key_file: {pki.server.key}\n"
        + extra
    )


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
