"""Account discovery as an organisation runs it: the exporter process lists the accounts from
moto's AWS Organizations (server mode, a fake nobody here wrote) and reads each through the
simulator's STS and AWS Config, all over real HTTP. Accounts are created, closed and excluded
in moto while the exporter serves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from exporter.metrics import ACCOUNTS, SCRAPE_SUCCESS, STATE
from exporter.metrics import API_REQUESTS as API_REQUESTS_FAMILY
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests.conftest import (
    ACCOUNT,
    ExporterProcess,
    Organization,
    aws_env,
    parse_exposition,
    wait_for,
)

pytestmark = pytest.mark.integration

ROLE = "conformance-pack-exporter"
EXTERNAL_ID = "org-wide-external-id"
REGIONS = ("us-east-1", "eu-west-1")
API_REQUESTS = f"{API_REQUESTS_FAMILY}_total"


def role(account_id: str, name: str = ROLE) -> str:
    return f"arn:aws:iam::{account_id}:role/{name}"


def serve(
    simulator: ConfigSimulator, moto_url: str, exporter_factory, tmp_path: Path, config: str
) -> ExporterProcess:
    """The exporter with Config and STS on the simulator and Organizations on moto."""
    path = tmp_path / "config.yml"
    path.write_text(f"compliance: {{enabled: false}}\n{config}")
    env = aws_env(simulator.url, AWS_ENDPOINT_URL_ORGANIZATIONS=moto_url)
    process: ExporterProcess = exporter_factory([f"--config.file={path}", "--log.level=debug"], env)
    return process


def read_targets(samples: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(account id, region) → scrape_success of the status collector."""
    return {
        (labels["account_id"], labels["region"]): value
        for labels, value in samples.get(SCRAPE_SUCCESS, [])
        if labels["collector"] == "status"
    }


def discovery_success(samples: dict[str, Any]) -> list[float]:
    """The listing's scrape_success, as served (none before the first listing ends)."""
    return [
        v for labels, v in samples.get(SCRAPE_SUCCESS, []) if labels["collector"] == "discovery"
    ]


def scrape_until(process: ExporterProcess, check: Any, what: str) -> dict[str, Any]:
    result: dict[str, Any] = wait_for(
        lambda: check(samples := parse_exposition(process.scrape())) and samples,
        30,
        what,
        interval=0.1,
    )
    return result


@pytest.fixture
def estate(organization: Organization) -> dict[str, str]:
    """Members: `member` is read, `excluded` is excluded, `locked` has no role to assume yet,
    `audit` is listed in `accounts` with its own role and region."""
    return {name: organization.create(name) for name in ("member", "excluded", "locked", "audit")}


@pytest.fixture
def simulator(estate: dict[str, str]) -> Iterator[ConfigSimulator]:
    pack = SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=time.time() - 600)
    accounts = [ACCOUNT, *estate.values()]
    scenario = Scenario(
        {(account, region): [pack] for account in accounts for region in REGIONS},
        denied_roles=frozenset({role(estate["locked"])}),
        role_external_ids={role(estate["member"]): EXTERNAL_ID},
    )
    with ConfigSimulator(scenario) as sim:
        yield sim


def test_an_organisation_is_read_without_a_line_per_account(
    simulator,
    estate,
    organization,
    moto_server: ThreadedMotoServer,
    moto_url,
    exporter_factory,
    tmp_path,
) -> None:
    member, excluded, locked, audit = (estate[k] for k in ("member", "excluded", "locked", "audit"))
    process = serve(
        simulator,
        moto_url,
        exporter_factory,
        tmp_path,
        f"regions: [{', '.join(REGIONS)}]\n"
        "accounts:\n"
        f"  - {{name: audit, role_arn: '{role(audit, 'own-role')}', regions: [eu-west-1]}}\n"
        "organization_accounts:\n"
        f"  role_name: {ROLE}\n"
        f"  external_id: {EXTERNAL_ID}\n"
        f"  exclude: ['{excluded}']\n"
        "  refresh_interval_seconds: 1\n",
    )

    # Every active account but the excluded one; the listed one as configured; the base
    # account with its own credentials; the locked one fails alone.
    first = scrape_until(process, lambda s: len(read_targets(s)) == 7, "the organisation read")
    assert read_targets(first) == {
        (ACCOUNT, "us-east-1"): 1.0,
        (ACCOUNT, "eu-west-1"): 1.0,
        (member, "us-east-1"): 1.0,
        (member, "eu-west-1"): 1.0,
        (locked, "us-east-1"): 0.0,
        (locked, "eu-west-1"): 0.0,
        (audit, "eu-west-1"): 1.0,
    }
    assert {labels["source"]: value for labels, value in first[ACCOUNTS]} == {
        "config": 1.0,
        "organization": 3.0,
    }
    discovery = [
        (labels, v) for labels, v in first[SCRAPE_SUCCESS] if "discovery" in labels.values()
    ]
    assert discovery == [
        ({"account_id": ACCOUNT, "region": "us-east-1", "collector": "discovery"}, 1.0)
    ]
    assumed = {(call.role_arn, call.external_id) for call in simulator.assume_role_calls}
    assert assumed == {
        (role(member), EXTERNAL_ID),
        (role(locked), EXTERNAL_ID),
        (role(audit, "own-role"), None),
    }, "the base account is read without a role, the excluded one not at all"
    assert not [line for line in process.log_lines if EXTERNAL_ID in line], "even at debug level"

    # /sd and /probe know the discovered accounts.
    status, _, body = process.get("/sd")
    assert status == 200
    listed = {(t["labels"]["__param_account"], t["labels"]["region"]) for t in json.loads(body)}
    assert listed == set(read_targets(first))
    listing = [labels for labels, _ in first[API_REQUESTS] if labels["operation"] == "ListAccounts"]
    assert {(labels["account_id"], labels["region"]) for labels in listing} == {
        (ACCOUNT, "us-east-1")
    }
    status, _, body = process.get(f"/probe?account={ACCOUNT}&region=us-east-1")
    assert status == 200
    operations = {
        labels["operation"] for labels, _ in parse_exposition(body.decode())[API_REQUESTS]
    }
    assert "ListAccounts" not in operations, "the listing's calls are /metrics', not a probe's"
    status, _, body = process.get(f"/probe?account={member}&region=eu-west-1")
    assert status == 200
    probed = parse_exposition(body.decode())
    assert {labels["account_id"] for labels, _ in probed[STATE]} == {member}

    # A new account is read from the next listing on; a closed one stops, series and all.
    joined = organization.create("joined")
    organization.close(member)
    later = scrape_until(
        process,
        lambda s: (
            (joined, "us-east-1") in read_targets(s)
            and (member, "us-east-1") not in read_targets(s)
        ),
        "the new list",
    )
    assert {account for account, _ in read_targets(later)} == {ACCOUNT, joined, locked, audit}
    assert member not in {labels["account_id"] for labels, _ in later[STATE]}
    assert {labels["source"]: value for labels, value in later[ACCOUNTS]}["organization"] == 3.0

    # Organizations unreachable: the last good list stays, and the listing reports failing.
    moto_server.stop()
    failing = scrape_until(
        process,
        lambda s: discovery_success(s) == [0.0],
        "a failed listing",
    )
    assert read_targets(failing) == read_targets(later)
    process.wait_for_log(r"account discovery failed.*error_code\W+connection_error")


def test_without_organizations_the_base_account_is_still_read(
    simulator, organization, moto_server: ThreadedMotoServer, moto_url, exporter_factory, tmp_path
) -> None:
    moto_server.stop()
    process = serve(
        simulator,
        moto_url,
        exporter_factory,
        tmp_path,
        f"regions: [us-east-1]\norganization_accounts: {{role_name: {ROLE}}}\n",
    )

    samples = scrape_until(
        process,
        discovery_success,
        "the first listing",
    )
    ready = wait_for(lambda: process.get("/-/ready")[0] == 200, 30, "readiness")

    assert read_targets(samples) == {(ACCOUNT, "us-east-1"): 1.0}
    assert discovery_success(samples) == [0.0]
    assert {labels["source"]: value for labels, value in samples[ACCOUNTS]} == {
        "config": 0.0,
        "organization": 1.0,
    }
    assert ready


def test_the_listing_s_own_sts_call_is_served_when_accounts_are_listed_too(
    simulator, estate, moto_url, exporter_factory, tmp_path
) -> None:
    """With `accounts` set, the base credentials' account is no target of its own (here it is
    excluded, so never): the GetCallerIdentity that tells the listing its id is the
    listing's call, served in /metrics under the discovery's account, and by no probe."""
    audit = estate["audit"]
    process = serve(
        simulator,
        moto_url,
        exporter_factory,
        tmp_path,
        "regions: [us-east-1]\nmin_interval_seconds: 0\n"
        f"accounts:\n  - {{name: audit, role_arn: '{role(audit, 'own-role')}'}}\n"
        "organization_accounts:\n"
        f"  role_name: {ROLE}\n  external_id: {EXTERNAL_ID}\n  exclude: ['{ACCOUNT}']\n",
    )

    samples = scrape_until(process, lambda s: discovery_success(s) == [1.0], "the first listing")

    identity = [
        (labels["account_id"], labels["region"], labels["outcome"], value)
        for labels, value in samples[API_REQUESTS]
        if labels["operation"] == "GetCallerIdentity"
    ]
    assert identity == [(ACCOUNT, "us-east-1", "success", 1.0)]
    assert simulator.calls(operation="GetCallerIdentity", account=ACCOUNT) == 1
    assert ACCOUNT not in {account for account, _ in read_targets(samples)}
    status, _, body = process.get(f"/probe?account={audit}")
    assert status == 200
    probed = parse_exposition(body.decode())[API_REQUESTS]
    assert "GetCallerIdentity" not in {labels["operation"] for labels, _ in probed}
