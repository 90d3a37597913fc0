"""README.md and the docs it points to: what users copy stays true to the files and code."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import fields

from exporter import metrics
from exporter.collectors.remediation import REMEDIATION_HELP
from exporter.config import (
    AccountConfig,
    ComplianceConfig,
    Config,
    OrganizationAccountsConfig,
    PipelineConfig,
)
from tests.conftest import REPO

DOCS = REPO / "docs"
README = (REPO / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
METRICS = (DOCS / "metrics.md").read_text(encoding="utf-8")
SECURITY = (DOCS / "security.md").read_text(encoding="utf-8")
CI_SCRIPT = REPO / ".ci" / "run"

# Every family the exporter can serve, from the contract in exporter/metrics.py.
METRIC_NAMES = sorted(
    {
        *metrics.STATUS_HELP,
        *metrics.ORGANIZATION_HELP,
        *metrics.COMPLIANCE_HELP,
        *metrics.PIPELINE_HELP,
        *metrics.SOURCE_HELP,
        *metrics.SELF_HELP,
        *metrics.RELOAD_HELP,
        *REMEDIATION_HELP,
        f"{metrics.API_REQUESTS}_total",
        metrics.ACCOUNTS,
        metrics.ACCOUNT_INFO,
        metrics.BUILD_INFO,
    }
)


def section(markdown: str, heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def commands(sh_block: str) -> list[str]:
    """The command lines of a shell block, comments and blank lines left out."""
    return [line for line in sh_block.splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_runs_the_demo_then_the_tests() -> None:
    block = re.search(r"```sh\n(.*?)```", section(README, "Quick start"), re.S)
    assert block, "the quick start lost its commands"
    demo, tests = commands(block.group(1))
    assert shlex.split(demo) == [
        *("python3", "-m", "venv", ".venv", "&&", ".", ".venv/bin/activate"),
        *("&&", "pip", "install", ".", "&&", "conformance-pack-exporter", "--demo"),
    ]
    # As root, as CI runs it: no sudo, which a root-only machine (a container) need not have.
    assert shlex.split(tests) == ["bash", ".ci/run"]


def test_ci_runs_exactly_the_test_command_the_readme_gives() -> None:
    [given] = re.findall(r"The test command is `([^`]+)`", README)
    ci_commands = commands(CI_SCRIPT.read_text(encoding="utf-8"))
    assert ci_commands[-1] == given, f".ci/run ends with {ci_commands[-1]!r}, README says {given!r}"


def test_readme_links_every_doc_page() -> None:
    for page in sorted(DOCS.glob("*.md")):
        assert f"](docs/{page.name})" in README, f"README.md does not link docs/{page.name}"


def test_policy_in_the_security_doc_is_the_shipped_policy() -> None:
    block = re.search(r"this policy\..*?```json\n(.*?)```", SECURITY, re.S)
    assert block, "docs/security.md lost its policy snippet"
    shipped = json.loads((REPO / "deploy" / "iam" / "policy.json").read_text(encoding="utf-8"))
    assert json.loads(block.group(1)) == shipped


def test_every_config_key_is_documented() -> None:
    for field in (
        *fields(Config),
        *fields(AccountConfig),
        *fields(ComplianceConfig),
        *fields(PipelineConfig),
        *fields(OrganizationAccountsConfig),
    ):
        assert f"| `{field.name}` |" in CONFIGURATION, f"docs/configuration.md: {field.name}"


def test_every_metric_has_a_row_in_the_metrics_doc() -> None:
    for name in METRIC_NAMES:
        assert f"| `{name}` |" in METRICS, f"docs/metrics.md has no row for {name}"
    documented = set(re.findall(r"^\| `(aws_config_\w+)` \|", METRICS, re.M))
    assert documented == set(METRIC_NAMES), "docs/metrics.md documents a metric that is gone"


def test_readme_overview_names_every_metric() -> None:
    overview = section(README, "Metrics")
    missing = [name for name in METRIC_NAMES if f"`{name}`" not in overview]
    assert not missing, f"the README's metric overview lacks {missing}"
