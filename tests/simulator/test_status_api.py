"""DescribeConformancePackStatus as boto3 sees it: paging, filters, limits and fields."""

from __future__ import annotations

import json
import math
import re

import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import StructureShape

from exporter.simulator import DEFAULT_ACCOUNT, Scenario, SimulatedPack, Transition, pack_ids
from tests.simulator.conftest import (
    NOW,
    OPERATION,
    OTHER_ACCOUNT,
    SECRET_KEY,
    FakeClock,
    error_code,
    make_client,
    make_packs,
    pack_names,
)


@pytest.mark.parametrize("count", [0, 1, 20, 21, 45])
def test_paginator_reads_every_pack_in_ceil_n_over_20_calls(session, serve, count):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(count)}))

    names = pack_names(make_client(session, simulator))

    assert names == [f"pack-{index:03d}" for index in range(count)]
    assert simulator.calls(operation=OPERATION) == max(1, math.ceil(count / 20))


def test_details_carry_exactly_the_model_fields(session, serve):
    reasoned = SimulatedPack(
        "Failed-Pack", "CREATE_FAILED", reason="boom", type="MANAGED", requested_at=NOW
    )
    bare = SimulatedPack("Bare-Pack", "CREATE_IN_PROGRESS", type=None, requested_at=NOW)
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "eu-west-1"): [reasoned, bare]}))
    client = make_client(session, simulator, region="eu-west-1")
    raw_bodies = []
    client.meta.events.register(
        "after-call", lambda http_response, **_: raw_bodies.append(http_response.content)
    )

    parsed = client.describe_conformance_pack_status()["ConformancePackStatusDetails"]

    shape = (
        botocore.session.get_session()
        .get_service_model("config")
        .shape_for("ConformancePackStatusDetail")
    )
    assert isinstance(shape, StructureShape)
    raw = json.loads(raw_bodies[0])["ConformancePackStatusDetails"]
    assert set(raw[0]) == set(shape.members) - {"ConformancePackStatusReason", "Type"} - {
        "LastUpdateCompletedTime"
    }
    assert set(raw[1]) == set(shape.members) - {"LastUpdateCompletedTime"}
    failed = parsed[1]
    ids = pack_ids(DEFAULT_ACCOUNT, "eu-west-1", "Failed-Pack")
    assert failed["ConformancePackId"] == ids.pack_id
    assert re.fullmatch(r"conformance-pack-[a-z2-7]{8}", ids.pack_id)
    assert failed["ConformancePackArn"] == (
        f"arn:aws:config:eu-west-1:{DEFAULT_ACCOUNT}:conformance-pack/Failed-Pack/{ids.pack_id}"
    )
    assert re.fullmatch(
        rf"arn:aws:cloudformation:eu-west-1:{DEFAULT_ACCOUNT}:stack/awsconfigconforms-Failed-Pack/"
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        failed["StackArn"],
    )
    assert failed["ConformancePackStatusReason"] == "boom"
    assert failed["Type"] == "MANAGED"
    assert failed["LastUpdateRequestedTime"].timestamp() == pytest.approx(NOW, abs=0.001)
    assert isinstance(raw[1]["LastUpdateRequestedTime"], float)


def test_name_filter_omits_unknown_names(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(5)}))
    client = make_client(session, simulator)

    result = client.describe_conformance_pack_status(
        ConformancePackNames=["pack-003", "pack-001", "No-Such-Pack"]
    )

    names = [detail["ConformancePackName"] for detail in result["ConformancePackStatusDetails"]]
    assert names == ["pack-001", "pack-003"]
    assert "NextToken" not in result


def test_type_filter_pages_over_matching_packs_only(session, serve):
    packs = make_packs(30, type="CUSTOM") + make_packs(3, prefix="managed", type="MANAGED")
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): packs}))

    names = pack_names(make_client(session, simulator), Filters={"Types": ["MANAGED"]})

    assert names == ["managed-000", "managed-001", "managed-002"]


@pytest.mark.parametrize("limit", [21, -1])
def test_out_of_range_limit_is_rejected_by_the_server(session, serve, limit):
    simulator = serve()
    client = make_client(session, simulator, parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        client.describe_conformance_pack_status(Limit=limit)

    assert error_code(excinfo) == "InvalidLimitException"


def test_limit_zero_means_twenty(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(25)}))
    client = make_client(session, simulator)

    small = client.describe_conformance_pack_status(Limit=3)
    default = client.describe_conformance_pack_status(Limit=0)

    assert len(small["ConformancePackStatusDetails"]) == 3
    assert len(default["ConformancePackStatusDetails"]) == 20
    assert "NextToken" in default


def test_more_than_25_names_is_a_validation_error(session, serve):
    simulator = serve()
    client = make_client(session, simulator, parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        client.describe_conformance_pack_status(
            ConformancePackNames=[f"pack-{index}" for index in range(26)]
        )

    assert error_code(excinfo) == "ValidationException"
    assert "Member must have length less than or equal to 25" in str(excinfo.value)


def test_regions_and_accounts_see_only_their_own_packs(session, serve):
    scenario = Scenario(
        packs={
            (DEFAULT_ACCOUNT, "us-east-1"): make_packs(2, prefix="east"),
            (DEFAULT_ACCOUNT, "eu-west-1"): make_packs(3, prefix="west"),
            (OTHER_ACCOUNT, "us-east-1"): make_packs(1, prefix="other"),
        },
        access_key_accounts={"AKIDOTHER": OTHER_ACCOUNT},
    )
    simulator = serve(scenario)
    other = {"aws_access_key_id": "AKIDOTHER", "aws_secret_access_key": SECRET_KEY}

    assert pack_names(make_client(session, simulator)) == ["east-000", "east-001"]
    assert pack_names(make_client(session, simulator, region="eu-west-1")) == [
        "west-000",
        "west-001",
        "west-002",
    ]
    assert pack_names(make_client(session, simulator, region="ap-south-1")) == []
    assert pack_names(make_client(session, simulator, credentials=other)) == ["other-000"]
    assert simulator.calls(region="eu-west-1") == 1
    assert simulator.calls(account=OTHER_ACCOUNT) == 1


def test_set_packs_changes_answers_while_serving(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(2)}))
    client = make_client(session, simulator)

    simulator.set_packs(DEFAULT_ACCOUNT, "us-east-1", make_packs(1, prefix="replaced"))

    assert pack_names(client) == ["replaced-000"]


def test_timeline_moves_packs_with_the_injected_clock(session, serve):
    clock = FakeClock(NOW)
    moving = SimulatedPack(
        "Moving-Pack",
        "CREATE_IN_PROGRESS",
        requested_at=NOW - 10,
        timeline=(
            Transition(180, "UPDATE_FAILED", "boom"),
            Transition(60, "CREATE_COMPLETE"),
            Transition(120, "UPDATE_IN_PROGRESS"),
        ),
    )
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): [moving]}), clock=clock)
    client = make_client(session, simulator)

    def observe(elapsed: float) -> tuple[str, str | None, float | None, float]:
        clock.now = NOW + elapsed
        (detail,) = client.describe_conformance_pack_status()["ConformancePackStatusDetails"]
        completed = detail.get("LastUpdateCompletedTime")
        return (
            detail["ConformancePackState"],
            detail.get("ConformancePackStatusReason"),
            completed.timestamp() if completed else None,
            detail["LastUpdateRequestedTime"].timestamp(),
        )

    assert simulator.started_at == NOW
    assert observe(59.9) == ("CREATE_IN_PROGRESS", None, None, NOW - 10)
    assert observe(60) == ("CREATE_COMPLETE", None, NOW + 60, NOW - 10)
    assert observe(130) == ("UPDATE_IN_PROGRESS", None, NOW + 60, NOW - 10)
    assert observe(500) == ("UPDATE_FAILED", "boom", NOW + 180, NOW - 10)
