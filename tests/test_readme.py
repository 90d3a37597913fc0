"""README.md: the snippets users copy stay true to the files they stand for."""

from __future__ import annotations

import json
import re
from dataclasses import fields

from exporter.config import AccountConfig, Config
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_policy_in_the_readme_is_the_shipped_policy() -> None:
    block = re.search(r"this policy\..*?```json\n(.*?)```", README, re.S)
    assert block, "the README lost its policy snippet"
    shipped = json.loads((REPO / "deploy" / "iam" / "policy.json").read_text())
    assert json.loads(block.group(1)) == shipped


def test_every_config_key_is_documented() -> None:
    for field in (*fields(Config), *fields(AccountConfig)):
        assert f"| `{field.name}` |" in README, field.name
