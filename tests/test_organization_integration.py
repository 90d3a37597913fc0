"""The organization collector as a user runs it: the exporter process, started from a config
file, against the simulator's two organization operations over HTTP, reading in the
background every `organization_interval_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack
from exporter.simulator.organization import MEMBERS, STATUSES, MemberPack, OrganizationPack
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, parse_exposition, wait_for

pytestmark = pytest.mark.integration

NOW = time.time()
REGION = "us-east-1"
MEMBER_STATE = "aws_config_organization_conformance_pack_member_state"
MEMBER_REASON = "aws_config_organization_conformance_pack_member_status_reason_info"
SUCCESS = "aws_config_exporter_scrape_success"
DURATION = "aws_config_exporter_scrape_duration_seconds"
SCRAPE_TIMEOUT = 2.0  # seconds, as Prometheus sends it
SLOW_MEMBER_CALL = 1.5  # seconds per pack: two packs make a read longer than a scrape
PACKS = (
    OrganizationPack(
        "org-baseline",
        "CREATE_SUCCESSFUL",
        updated_at=NOW - 600,
        members=(
            MemberPack(
                ACCOUNT,
                "OrgConformsPack-org-baseline-a1",
                "CREATE_SUCCESSFUL",
                updated_at=NOW - 600,
            ),
        ),
    ),
    OrganizationPack(
        "org-pci",
        "UPDATE_FAILED",
        updated_at=NOW - 300,
        members=(
            MemberPack(
                ACCOUNT, "OrgConformsPack-org-pci-b2", "UPDATE_SUCCESSFUL", updated_at=NOW - 300
            ),
            MemberPack(
                "210987654321",
                "OrgConformsPack-org-pci-b2",
                "UPDATE_FAILED",
                updated_at=NOW - 300,
                error_code="AccessDenied",
                error_message='Missing "AWSServiceRoleForConfigConforms"',
            ),
        ),
    ),
)
# (organization pack, member account) -> the state that is 1, as the packs above have them.
MEMBER_STATES = {
    ("org-baseline", ACCOUNT): "CREATE_SUCCESSFUL",
    ("org-pci", ACCOUNT): "UPDATE_SUCCESSFUL",
    ("org-pci", "210987654321"): "UPDATE_FAILED",
}


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    pack = SimulatedPack("baseline", "CREATE_COMPLETE", requested_at=NOW - 600)
    scenario = Scenario(
        {(ACCOUNT, REGION): [pack]}, organization_packs={(ACCOUNT, REGION): list(PACKS)}
    )
    with ConfigSimulator(scenario) as sim:
        yield sim


def start(
    simulator: ConfigSimulator,
    factory: Callable[..., ExporterProcess],
    tmp_path: Path,
    interval: float,
) -> ExporterProcess:
    """The exporter with the organization collector on, reading every `interval` seconds."""
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{REGION}]\n"
        "min_interval_seconds: 0\n"
        "organization_conformance_packs: true\n"
        f"organization_interval_seconds: {interval}\n"
        "compliance: {enabled: false}\n"
        "pipeline: {enabled: false}\n"
    )
    return factory([f"--config.file={config}"], aws_env(simulator.url))


def scrape(process: ExporterProcess) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One scrape with Prometheus' timeout header, parsed."""
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(SCRAPE_TIMEOUT)}
    return parse_exposition(process.scrape(headers))


def organization(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> list[float]:
    """The values of self-metric `name` for the organization collector."""
    return [
        value for labels, value in samples.get(name, []) if labels["collector"] == "organization"
    ]


def member_states(
    samples: dict[str, list[tuple[dict[str, str], float]]],
) -> dict[tuple[str, str], str]:
    """(organization pack, member account) -> the state served as 1."""
    return {
        (labels["organization_conformance_pack"], labels["member_account_id"]): labels["state"]
        for labels, value in samples.get(MEMBER_STATE, [])
        if value == 1.0
    }


def test_a_read_slower_than_the_scrape_timeout_is_served_by_a_later_scrape(
    simulator: ConfigSimulator, exporter_factory, tmp_path: Path
) -> None:
    simulator.add_fault(Fault("latency", operation=MEMBERS, seconds=SLOW_MEMBER_CALL))
    process = start(simulator, exporter_factory, tmp_path, interval=60)

    started = time.monotonic()
    first = scrape(process)
    answered_after = time.monotonic() - started

    # The first scrape starts the read and answers in time without it: nothing to serve yet.
    assert answered_after < SCRAPE_TIMEOUT
    assert organization(first, SUCCESS) == []
    assert member_states(first) == {}
    served = wait_for(
        lambda: organization(samples := scrape(process), SUCCESS) == [1.0] and samples,
        30,
        "a scrape serving the slow organization read",
    )
    assert member_states(served) == MEMBER_STATES
    [duration] = organization(served, DURATION)
    assert duration > SCRAPE_TIMEOUT  # the read outlived the scrape that started it
    [(reason, _)] = served[MEMBER_REASON]
    assert (reason["member_account_id"], reason["error_code"]) == ("210987654321", "AccessDenied")
    # One read served every scrape: no second read started while the first was running.
    assert simulator.calls(operation=STATUSES) == 1


def test_a_failed_read_keeps_serving_the_last_good_reading(
    simulator: ConfigSimulator, exporter_factory, tmp_path: Path
) -> None:
    process = start(simulator, exporter_factory, tmp_path, interval=0.5)
    good = wait_for(
        lambda: organization(samples := scrape(process), SUCCESS) == [1.0] and samples,
        30,
        "a good organization read",
    )
    simulator.add_fault(Fault("access_denied", operation=STATUSES))

    failed = wait_for(
        lambda: organization(samples := scrape(process), SUCCESS) == [0.0] and samples,
        30,
        "a failed organization read",
    )

    assert member_states(good) == MEMBER_STATES
    assert member_states(failed) == MEMBER_STATES
    assert failed[MEMBER_STATE] == good[MEMBER_STATE]
    assert failed[MEMBER_REASON] == good[MEMBER_REASON]
    process.wait_for_log(r"collection failed.*organization.*AccessDenied")
