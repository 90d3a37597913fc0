"""Account names on the exporter process: `aws_config_account_info` from moto's AWS
Organizations (server mode, names given at CreateAccount) and the configuration's `name`,
with AWS Config and STS on the simulator, all over real HTTP; kept across `POST /-/reload`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from exporter.metrics import ACCOUNT_INFO
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import ACCOUNT, ExporterProcess, Organization, aws_env, parse_exposition
from tests.test_discovery_integration import discovery_success, read_targets, role, scrape_until
from tests.test_reload_integration import post

pytestmark = pytest.mark.integration

REGIONS = ("us-east-1", "eu-west-1")
# An account the configuration lists without a name, outside the organisation: no name at all.
OUTSIDER = "555555555555"
# moto names the management account of the organisations it creates.
MANAGEMENT_NAME = "master"


@pytest.fixture
def estate(organization: Organization) -> dict[str, str]:
    """Members named as people name them (spaces included); `audit` is also listed in
    `accounts` under a name of its own."""
    return {name: organization.create(name) for name in ("Team A production", "audit-account")}


@pytest.fixture
def simulator(estate: dict[str, str]) -> Iterator[ConfigSimulator]:
    pack = SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=time.time() - 600)
    accounts = [ACCOUNT, OUTSIDER, *estate.values()]
    scenario = Scenario({(a, region): [pack] for a in accounts for region in REGIONS})
    with ConfigSimulator(scenario) as sim:
        yield sim


def config_text(estate: dict[str, str], min_interval_seconds: int) -> str:
    """One listing at start, the next an hour later: a reload that leaves the listing as it
    is lists no sooner."""
    audit = estate["audit-account"]
    return (
        f"regions: [{', '.join(REGIONS)}]\n"
        "compliance: {enabled: false}\n"
        "pipeline: {enabled: false}\n"
        f"min_interval_seconds: {min_interval_seconds}\n"
        "accounts:\n"
        f"  - {{name: audit, role_arn: '{role(audit, 'own-role')}'}}\n"
        f"  - {{role_arn: '{role(OUTSIDER, 'own-role')}'}}\n"
        "organization_accounts:\n"
        "  role_name: conformance-pack-exporter\n"
        "  refresh_interval_seconds: 3600\n"
    )


def names(samples: dict[str, Any]) -> dict[str, str]:
    """account id → account_name, as served; fails on a duplicate or a value other than 1."""
    served = samples.get(ACCOUNT_INFO, [])
    assert {value for _, value in served} <= {1.0}
    found = {labels["account_id"]: labels["account_name"] for labels, _ in served}
    assert len(found) == len(served), served
    return found


def test_accounts_are_named_from_organizations_and_the_configuration(
    simulator: ConfigSimulator,
    estate: dict[str, str],
    moto_server: ThreadedMotoServer,
    moto_url: str,
    exporter_factory,
    tmp_path: Path,
) -> None:
    team_a, audit = estate["Team A production"], estate["audit-account"]
    path = tmp_path / "config.yml"
    path.write_text(config_text(estate, min_interval_seconds=0))
    env = aws_env(simulator.url, AWS_ENDPOINT_URL_ORGANIZATIONS=moto_url)
    process: ExporterProcess = exporter_factory([f"--config.file={path}"], env)

    every_account = {ACCOUNT, team_a, audit, OUTSIDER}
    first = scrape_until(
        process,
        lambda s: {a for a, _ in read_targets(s)} == every_account and discovery_success(s),
        "every account read after a listing",
    )

    # Discovered accounts by their Organizations name, the configured one by its own name
    # (Organizations calls it audit-account), the configured one without a name and outside
    # the organisation not at all.
    assert names(first) == {
        ACCOUNT: MANAGEMENT_NAME,
        team_a: "Team A production",
        audit: "audit",
    }
    # A probe serves the names of its own account only; /probe keeps the configured names.
    status, _, body = process.get(f"/probe?account={team_a}&region=eu-west-1")
    assert status == 200
    assert names(parse_exposition(body.decode())) == {team_a: "Team A production"}
    assert process.get("/probe?account=Team%20A%20production")[0] == 400
    status, _, body = process.get("/probe?account=audit&region=us-east-1")
    assert status == 200
    assert names(parse_exposition(body.decode())) == {audit: "audit"}

    # A reload replaces discovery with one that lists an hour after the first listing (with
    # Organizations gone, a listing would fail and log it): until then it serves the names it
    # carried on.
    moto_server.stop()
    path.write_text(config_text(estate, min_interval_seconds=1))
    assert post(process, "/-/reload")[0] == 200
    process.wait_for_log(r"configuration reloaded")
    after = parse_exposition(process.scrape())
    assert discovery_success(after) == [1.0]
    assert {a for a, _ in read_targets(after)} == every_account
    assert names(after) == names(first)
    assert not [line for line in process.log_lines if "account discovery failed" in line]
