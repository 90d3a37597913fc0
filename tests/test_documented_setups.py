"""Every documented setup starts: each exporter configuration shown in README.md and docs/*.md,
and every tests/fixtures/config/*.ok.yml, run as the exporter process against the simulator.

A fenced `yaml` block is an exporter configuration when its top level is a mapping with a key
of Config: Prometheus, Alertmanager, Kubernetes and web configurations have none, and an
example with a misspelt key is then started, and fails, rather than being left out. The
simulator's scenario is built from each configuration itself: its role ARNs' accounts, a
profile file mapping each profile to an account of its own, aggregators where they are read,
organization packs in the first account, in every target a pack with a rule, a recording
recorder and a delivering channel (so the pipeline collector has a pipeline to read), and
moto's AWS Organizations for discovery.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import AccountConfig, Config, parse_config
from exporter.simulator import (
    ConfigSimulator,
    MemberPack,
    OrganizationPack,
    Scenario,
    SimulatedAggregator,
    SimulatedPack,
    SimulatedRule,
    healthy_pipeline,
)
from tests.conftest import ACCOUNT, REPO, ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

CONFIG_KEYS = frozenset(field.name for field in fields(Config))
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>\S*)\s*$")
DEFAULT_REGION = "us-east-1"  # aws_env's AWS_REGION, the SDK's region of the started process
NOW = time.time()


@dataclass(frozen=True)
class Setup:
    """A configuration to start: where it is documented, and its text."""

    where: str
    text: str


def yaml_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of each fenced `yaml` block, without the fence's indentation."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start: int | None = None
    indent = ""
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line)
        if fence is None:
            continue
        if start is None and fence["language"] in ("yaml", "yml"):
            start, indent = number, fence["indent"]
        elif start is not None and not fence["language"]:
            body = lines[start : number - 1]
            yield start, "\n".join(text.removeprefix(indent) for text in body) + "\n"
            start = None


def is_exporter_config(text: str) -> bool:
    """Whether a YAML block is an exporter configuration: a mapping with a Config key."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(document, dict) and bool(CONFIG_KEYS & set(document))


def documented_setups() -> list[Setup]:
    """Every exporter configuration in the documentation, then every valid fixture."""
    setups = [
        Setup(f"{path.relative_to(REPO)}:{line}", text)
        for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
        for line, text in yaml_blocks(path)
        if is_exporter_config(text)
    ]
    fixtures = sorted((REPO / "tests" / "fixtures" / "config").glob("*.ok.yml"))
    return setups + [Setup(str(path.relative_to(REPO)), path.read_text()) for path in fixtures]


SETUPS = documented_setups()


def test_the_documentation_has_configuration_examples() -> None:
    """The extraction finds the README's and the configuration guide's examples at least."""
    documented = {setup.where.split(":")[0] for setup in SETUPS}
    assert {"README.md", "docs/configuration.md"} <= documented


class Estate:
    """The simulated AWS a configuration reads: an account id for each entry of `accounts`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        profiles = sorted({a.profile for a in config.accounts if a.profile})
        # A profile's own access key, acting in an account of its own.
        self.profiles = {
            name: (f"AKIDPROFILE{index:09d}", f"3{index:011d}")
            for index, name in enumerate(profiles, 1)
        }
        self.entries = config.accounts or (config.base_account or AccountConfig(),)

    def account_id(self, account: AccountConfig) -> str:
        if account.role_arn:
            return account.account_id
        if account.profile:
            return self.profiles[account.profile][1]
        return ACCOUNT  # the default credentials': aws_env's keys, the simulator's default

    def regions(self, account: AccountConfig) -> tuple[str, ...]:
        return account.regions or self.config.regions or (DEFAULT_REGION,)

    def targets(self) -> set[tuple[str, str]]:
        """The (account id, region) pairs the configuration reads from the start."""
        return {
            (self.account_id(account), region)
            for account in self.entries
            for region in self.regions(account)
        }

    def reader(self, account: str) -> AccountConfig:
        """The entry an aggregator is read with: named (by name or id), or the first."""
        named = [a for a in self.entries if account and account in (a.name, a.account_id)]
        return named[0] if named else self.entries[0]

    def scenario(self) -> Scenario:
        names = self.config.conformance_packs or ("baseline",)
        pack = SimulatedPack(
            names[0],
            "CREATE_COMPLETE",
            requested_at=NOW - 600,
            rules=(SimulatedRule("baseline-rule"),),  # a rule whose evaluation is read
        )
        aggregators: dict[tuple[str, str], dict[str, SimulatedAggregator]] = {}
        for aggregator in self.config.aggregators:
            where = (self.account_id(self.reader(aggregator.account)), aggregator.region)
            aggregators.setdefault(where, {})[aggregator.name] = SimulatedAggregator(
                aggregator.name, (where,)
            )
        organization: dict[tuple[str, str], list[OrganizationPack]] = {}
        if self.config.organization_conformance_packs:
            first = self.entries[0]
            management = self.account_id(first)
            member = MemberPack(
                management, "OrgConformsPack-baseline", "CREATE_SUCCESSFUL", updated_at=NOW - 300
            )
            organization[(management, self.regions(first)[0])] = [
                OrganizationPack(
                    "baseline", "CREATE_SUCCESSFUL", updated_at=NOW - 600, members=(member,)
                )
            ]
        recorder, channel = healthy_pipeline(NOW)
        return Scenario(
            {target: [pack] for target in self.targets()},
            access_key_accounts=dict(self.profiles.values()),
            aggregators={where: list(named.values()) for where, named in aggregators.items()},
            organization_packs=organization,
            recorders={target: [recorder] for target in self.targets()},
            delivery_channels={target: [channel] for target in self.targets()},
        )

    def aws_config_file(self, directory: Path) -> str:
        """A shared config file with each profile's keys; /dev/null when there are none."""
        if not self.profiles:
            return "/dev/null"
        path = directory / "aws-config"
        path.write_text(
            "".join(
                f"[profile {name}]\naws_access_key_id = {key}\n"
                "aws_secret_access_key = profile-secret\n"
                for name, (key, _) in self.profiles.items()
            )
        )
        return str(path)

    def collectors(self) -> set[str]:
        """The collectors the configuration turns on, as `scrape_success` labels them."""
        on = {
            "status": True,
            "compliance": self.config.compliance.enabled,
            "organization": self.config.organization_conformance_packs,
            "aggregator": bool(self.config.aggregators),
            "pipeline": self.config.pipeline.enabled,
            "discovery": self.config.organization_accounts is not None,
        }
        return {name for name, enabled in on.items() if enabled}


def successes(samples: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """scrape_success by (collector, account id, region)."""
    return {
        (labels["collector"], labels["account_id"], labels["region"]): value
        for labels, value in samples.get("aws_config_exporter_scrape_success", [])
    }


@pytest.mark.parametrize("setup", SETUPS, ids=lambda setup: setup.where)
def test_every_documented_setup_starts_and_reads(
    setup: Setup, tmp_path: Path, exporter_factory: Any, request: pytest.FixtureRequest
) -> None:
    path = tmp_path / "config.yml"
    path.write_text(setup.text)
    config = parse_config(setup.text, str(path))
    estate = Estate(config)
    extra = {"AWS_CONFIG_FILE": estate.aws_config_file(tmp_path)}
    member = None
    if config.organization_accounts is not None:
        organization = request.getfixturevalue("organization")
        member = organization.create("member")
        extra["AWS_ENDPOINT_URL_ORGANIZATIONS"] = request.getfixturevalue("moto_url")

    with ConfigSimulator(estate.scenario()) as simulator:
        env = aws_env(simulator.url, **extra)
        check = exporter_factory([f"--config.file={path}", "--config.check"], env, wait=False)
        process: ExporterProcess = exporter_factory([f"--config.file={path}"], env)
        assert check.process.wait(30) == 0, check.log_lines
        check.wait_for_log(rf"^{re.escape(str(path))}: OK$")
        wait_for(lambda: process.get("/-/ready")[0] == 200, 30, "readiness", interval=0.1)
        expected = estate.collectors()
        served: dict[tuple[str, str, str], float] = {}

        def all_read() -> bool:
            nonlocal served
            status, _, body = process.get("/metrics")
            assert status == 200, body
            served = successes(parse_exposition(body.decode()))
            status_targets = {(a, r) for c, a, r in served if c == "status"}
            return (
                {collector for collector, _, _ in served} == expected
                and set(served.values()) == {1.0}
                and estate.targets() <= status_targets
                and (member is None or member in {a for a, _ in status_targets})
            )

        with contextlib.suppress(AssertionError):  # the assertions below say what is missing
            wait_for(all_read, 30, "every collector to read every target", interval=0.2)

    assert {collector for collector, _, _ in served} == expected
    assert {key: value for key, value in served.items() if value != 1.0} == {}
    assert estate.targets() <= {(a, r) for c, a, r in served if c == "status"}
    if member is not None:
        assert member in {account for collector, account, _ in served if collector == "status"}
