"""exporter/metrics.py: the metric contract, pinned by a hand-written golden exposition file."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.stub import Stubber
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from exporter import __version__
from exporter.aws import fetch_pack_statuses, pack_states
from exporter.metrics import (
    TargetResult,
    api_requests_family,
    build_info_family,
    pack_families,
)
from tests.conftest import (
    ACCOUNT,
    MODEL_STATES,
    Families,
    exposition,
    pack_status,
    parse_exposition,
)

HERE = Path(__file__).parent
TIMESTAMP_FIELDS = ("LastUpdateRequestedTime", "LastUpdateCompletedTime")
STATE = "aws_config_conformance_pack_state"
SUCCESS = "aws_config_exporter_scrape_success"


def recorded_pages(name: str) -> list[dict[str, Any]]:
    """Wire-format pages as botocore would parse them: epoch numbers become datetimes."""
    pages: list[dict[str, Any]] = json.loads((HERE / "fixtures" / "recorded" / name).read_text())
    for page in pages:
        for detail in page["ConformancePackStatusDetails"]:
            for field in TIMESTAMP_FIELDS:
                if field in detail:
                    detail[field] = datetime.fromtimestamp(detail[field], timezone.utc)
    return pages


@pytest.fixture
def config_client() -> Any:
    session = boto3.Session(
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret", region_name="us-east-1"
    )
    return session.client("config", region_name="us-east-1")


@pytest.fixture
def states(config_client: Any) -> tuple[str, ...]:
    return pack_states(config_client)


def test_golden_exposition_for_recorded_responses(config_client: Any, states) -> None:
    """Any diff here is a change to the metric contract: a bug, or a reviewed decision."""
    pages = recorded_pages("us-east-1.json")
    with Stubber(config_client) as stubber:
        stubber.add_response("describe_conformance_pack_status", pages[0], {"Limit": 20})
        stubber.add_response(
            "describe_conformance_pack_status", pages[1], {"Limit": 20, "NextToken": "page-2"}
        )
        statuses = fetch_pack_statuses(config_client, (), deadline=float("inf"))
        stubber.assert_no_pending_responses()
    results = [
        TargetResult(ACCOUNT, "us-east-1", True, 0.5, statuses),
        TargetResult(ACCOUNT, "eu-west-1", False, 1.25),
    ]
    families = pack_families(results, states, export_status_reason=True)
    families.append(
        api_requests_family(
            [
                (ACCOUNT, "eu-west-1", "DescribeConformancePackStatus", "AccessDeniedException", 1),
                (ACCOUNT, "us-east-1", "DescribeConformancePackStatus", "success", 2),
            ]
        )
    )

    assert exposition(families) == (HERE / "golden" / "recorded.prom").read_text()


def test_states_come_from_the_installed_model(states) -> None:
    assert states == MODEL_STATES
    assert len(states) >= 8


@pytest.mark.parametrize("current", MODEL_STATES)
def test_every_state_is_one_hot(current: str, states) -> None:
    results = [TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack_status("p", current)])]
    samples = parse_exposition(exposition(pack_families(results, states, True)))

    values = {labels["state"]: value for labels, value in samples[STATE]}
    assert values == {state: float(state == current) for state in states}


def test_unknown_state_is_exported_with_one(states) -> None:
    results = [TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack_status("p", "NEW_STATE")])]
    samples = parse_exposition(exposition(pack_families(results, states, True)))

    values = {labels["state"]: value for labels, value in samples[STATE]}
    assert values["NEW_STATE"] == 1.0
    assert sum(values.values()) == 1.0
    assert len(values) == len(states) + 1


def test_optional_fields_missing(states) -> None:
    pack = pack_status("bare", completed=None, pack_type=None, stack=False, reason=None)
    results = [TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack])]
    samples = parse_exposition(exposition(pack_families(results, states, True)))

    assert "aws_config_conformance_pack_last_update_completed_timestamp_seconds" not in samples
    assert "aws_config_conformance_pack_status_reason_info" not in samples
    [(info_labels, _)] = samples["aws_config_conformance_pack_info"]
    assert info_labels["stack_arn"] == ""
    assert info_labels["type"] == ""


def test_timestamps_keep_fractions(states) -> None:
    pack = pack_status("p", requested=1_712_345_678.125, completed=1_712_345_999.875)
    samples = parse_exposition(
        exposition(pack_families([TargetResult(ACCOUNT, "r", True, 0, [pack])], states, True))
    )
    requested = "aws_config_conformance_pack_last_update_requested_timestamp_seconds"
    completed = "aws_config_conformance_pack_last_update_completed_timestamp_seconds"
    assert samples[requested][0][1] == 1_712_345_678.125
    assert samples[completed][0][1] == 1_712_345_999.875


def test_status_reason_switch_removes_the_family(states) -> None:
    pack = pack_status("p", "CREATE_FAILED", reason="boom")
    results = [TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack])]

    with_reason = exposition(pack_families(results, states, True))
    without_reason = exposition(pack_families(results, states, False))

    assert 'reason="boom"' in with_reason
    assert "status_reason_info" not in without_reason


def test_long_unicode_reason_is_verbatim(states) -> None:
    reason = ('Ünïcødé "quoted" \\ back\nslash ' * 60)[:2000]
    pack = pack_status("p", "CREATE_FAILED", reason=reason)
    samples = parse_exposition(
        exposition(pack_families([TargetResult(ACCOUNT, "r", True, 0, [pack])], states, True))
    )
    [(labels, value)] = samples["aws_config_conformance_pack_status_reason_info"]
    assert labels["reason"] == reason
    assert value == 1.0


def test_failed_target_exports_no_pack_series(states) -> None:
    results = [
        TargetResult(ACCOUNT, "eu-west-1", False, 2.0, [pack_status("ignored")]),
        TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack_status("kept")]),
    ]
    samples = parse_exposition(exposition(pack_families(results, states, True)))

    assert {labels["region"] for labels, _ in samples[STATE]} == {"us-east-1"}
    success = {labels["region"]: value for labels, value in samples[SUCCESS]}
    assert success == {"eu-west-1": 0.0, "us-east-1": 1.0}


def test_every_series_carries_account_and_region(states) -> None:
    results = [TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack_status("p", reason="x")])]
    families = pack_families(results, states, True)
    families.append(api_requests_family([(ACCOUNT, "us-east-1", "Op", "success", 1)]))
    for name, series in parse_exposition(exposition(families)).items():
        for labels, _ in series:
            assert labels["account_id"] == ACCOUNT, name
            assert labels["region"] == "us-east-1", name


def test_build_info_names_the_versions() -> None:
    samples = parse_exposition(exposition([build_info_family()]))
    [(labels, value)] = samples["aws_config_exporter_build_info"]
    assert labels == {
        "version": __version__,
        "boto3_version": boto3.__version__,
        "botocore_version": botocore.__version__,
        "python_version": platform.python_version(),
    }
    assert value == 1.0


def test_openmetrics_output_is_well_formed(states) -> None:
    results = [TargetResult(ACCOUNT, "us-east-1", True, 0.1, [pack_status("p")])]
    families = pack_families(results, states, True)
    families.append(api_requests_family([(ACCOUNT, "us-east-1", "Op", "success", 3)]))
    text = generate_openmetrics(Families(families)).decode()

    parsed = {family.name: family for family in parse_openmetrics(text)}
    assert parsed["aws_config_exporter_api_requests"].type == "counter"
    [sample] = parsed["aws_config_exporter_api_requests"].samples
    assert (sample.name, sample.labels["outcome"], sample.value) == (
        "aws_config_exporter_api_requests_total",
        "success",
        3.0,
    )
    assert parsed["aws_config_conformance_pack_info"].type == "gauge"
