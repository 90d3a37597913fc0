"""End to end: the status page as Debian's headless Chromium renders it.

The unit tests read the page with Python's HTML parser; a browser is the reader that matters,
so this proves the rows are where a person looks for them and that a hostile status reason
stays text in a real DOM.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.http import make_app, make_server
from exporter.status_page import Collection, Snapshot, UnsettledPack
from tests.e2e.conftest import binary
from tests.test_status_page import HOSTILE, parse_page

pytestmark = pytest.mark.e2e

SNAPSHOT = Snapshot(
    collections=[
        Collection("status", "111111111111", "eu-west-1", True, 0.42, "", 3.0),
        Collection("compliance", "222222222222", "us-east-1", False, 5.1, "AccessDenied", None),
    ],
    unsettled_packs=[
        UnsettledPack("111111111111", "eu-west-1", "pack-in-progress", "CREATE_IN_PROGRESS", ""),
        UnsettledPack("222222222222", "us-east-1", "pack-failed", "CREATE_FAILED", HOSTILE),
    ],
)


@pytest.fixture
def status_url() -> Iterator[str]:
    """The exporter's app on a loopback port, showing SNAPSHOT at `/`."""
    app = make_app(lambda deadline, collectors: [], status=lambda: SNAPSHOT)
    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium(tmp_path: Path, *arguments: str) -> str:
    """Runs headless Chromium with its own profile and nothing fetched but the page."""
    command = [
        binary("chromium"),
        "--headless",
        "--no-sandbox",  # the tests may run as root, where the sandbox refuses to start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_chromium_renders_the_last_scrape(tmp_path: Path, status_url: str) -> None:
    dom = chromium(tmp_path, "--dump-dom", status_url)

    page = parse_page(dom)
    assert page.tables["collections"] == [
        ["compliance", "222222222222", "us-east-1", "failed", "5.10 s", "AccessDenied",
         "never read"],
        ["status", "111111111111", "eu-west-1", "ok", "0.42 s", "", "3 s"],
    ]  # fmt: skip
    assert page.tables["unsettled-packs"] == [
        ["222222222222", "us-east-1", "pack-failed", "CREATE_FAILED", HOSTILE],
        ["111111111111", "eu-west-1", "pack-in-progress", "CREATE_IN_PROGRESS", ""],
    ]
    assert page.links["Metrics"] == "/metrics"
    assert "script" not in page.tags  # the injected <script> is text in a cell, not an element
