"""Integration: which series carry `account_id` and `region`, checked on a real scrape.

The exporter process runs every collector (pack status, organization packs, compliance with
resource counts, an aggregator with its sources' status, the Config pipeline: recorders,
delivery channels, rule evaluation) and account discovery, against the simulator's AWS Config and
STS and moto's Organizations, all over HTTP. Dashboards and alerts join on the two labels, so
every series of an AWS read must carry both, filled in; only the exporter's own series that
belong to no target may lack them, and the account names, which belong to an account (in
every region): those carry `account_id` alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics import (
    ACCOUNT_INFO,
    ACCOUNTS,
    BUILD_INFO,
    PIPELINE_HELP,
    RELOAD_HELP,
    SOURCE_HELP,
)
from exporter.simulator import ConfigSimulator
from exporter.simulator.aggregator import SimulatedAggregator, SourceStatus
from exporter.simulator.scenario import generated_scenario
from tests.conftest import ACCOUNT, ExporterProcess, Organization, aws_env, wait_for

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
COLLECTORS = {"status", "organization", "compliance", "aggregator", "pipeline", "discovery"}
# Families that must be served, so that their labels are checked: the pipeline's (every target
# has a recorder, a delivery channel and packs with rules) and the aggregator's sources'.
REQUIRED = {*PIPELINE_HELP, *SOURCE_HELP}
# The series of no (account, region): what the exporter is, how many accounts it reads, and
# prometheus_client's process collector.
TARGETLESS = {BUILD_INFO, ACCOUNTS, *RELOAD_HELP}
# The series of an account, not of one of its regions: its name (both accounts are named, by
# moto's Organizations).
ACCOUNT_LEVEL = {ACCOUNT_INFO}
PROCESS_PREFIX = "process_"


@pytest.fixture
def member(organization: Organization) -> str:
    return organization.create("member")


@pytest.fixture
def simulator(member: str) -> Iterator[ConfigSimulator]:
    # Every (account, region): three packs of three rules, a recorder and a delivery channel.
    scenario = generated_scenario(
        3, REGIONS, (ACCOUNT, member), rules_per_pack=3, organization_packs=2
    )
    failed = SourceStatus(
        "FAILED", error_code="AccessDenied", error_message="not authorized to aggregate"
    )
    scenario.aggregators = {
        (ACCOUNT, "us-east-1"): [
            SimulatedAggregator(
                "org",
                tuple((a, r) for a in (ACCOUNT, member) for r in REGIONS),
                statuses={(member, "eu-west-1"): failed},  # the others SUCCEEDED
            )
        ]
    }
    with ConfigSimulator(scenario) as sim:
        yield sim


def succeeded(text: str) -> set[str]:
    """The collectors that succeeded on every target they read in this scrape."""
    outcomes: dict[str, set[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "aws_config_exporter_scrape_success":
                outcomes.setdefault(sample.labels["collector"], set()).add(sample.value)
    return {collector for collector, values in outcomes.items() if values == {1.0}}


def test_every_series_of_a_read_carries_account_and_region(
    simulator: ConfigSimulator, member: str, moto_url: str, exporter_factory, tmp_path: Path
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{', '.join(REGIONS)}]\n"
        "organization_conformance_packs: true\n"
        "compliance: {noncompliant_resources: true}\n"
        "aggregators: [{name: org, region: us-east-1}]\n"
        "organization_accounts: {role_name: conformance-pack-exporter}\n"
    )
    env = aws_env(simulator.url, AWS_ENDPOINT_URL_ORGANIZATIONS=moto_url)
    process: ExporterProcess = exporter_factory([f"--config.file={config}"], env)

    def complete() -> str | None:
        scraped = process.scrape()
        return scraped if succeeded(scraped) == COLLECTORS else None

    text = wait_for(
        complete,
        60,
        "every collector to succeed",
        interval=0.5,
    )

    families = list(text_string_to_metric_families(text))
    unlabelled = sorted(
        {
            sample.name
            for family in families
            for sample in family.samples
            if not (sample.labels.get("account_id") and sample.labels.get("region"))
            and family.name not in TARGETLESS | ACCOUNT_LEVEL
            and not family.name.startswith(PROCESS_PREFIX)
        }
    )
    assert unlabelled == []
    per_account = [
        sample.labels
        for family in families
        if family.name in ACCOUNT_LEVEL
        for sample in family.samples
    ]
    assert {labels["account_id"] for labels in per_account} == {ACCOUNT, member}
    assert not [labels for labels in per_account if "region" in labels]
    served = {family.name for family in families if family.samples}
    assert served >= REQUIRED, sorted(REQUIRED - served)
    # What the test exempts exists, so the exemption is not hiding a typo.
    assert {family.name for family in families} >= TARGETLESS | ACCOUNT_LEVEL
