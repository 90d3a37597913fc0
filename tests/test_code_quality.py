"""The repository's own checks, so `pytest` alone tells whether a change is ready."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.conftest import REPO

# The `test` extra pins the linters exactly: a new release can't turn CI red by itself.
PINNED = dict(re.findall(r'"(ruff|mypy)==([^"]+)"', (REPO / "pyproject.toml").read_text()))


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_tool_is_the_pinned_version(tool: str) -> None:
    """A local version other than CI's would check other rules than CI does."""
    assert version(tool) == PINNED.get(tool), "reinstall with: pip install -e '.[test]'"


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--check", "--no-cache", "."],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
