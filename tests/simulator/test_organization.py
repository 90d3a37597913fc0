"""Organization conformance packs: the model's statuses, the two operations as boto3 sees them,
their paging, filters and errors, and the management account they are reserved for."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    ConfigSimulator,
    MemberPack,
    OrganizationPack,
    Scenario,
)
from tests.simulator.conftest import (
    NOW,
    OTHER_ACCOUNT,
    SECRET_KEY,
    error_code,
    make_client,
)

REGION = "us-east-1"
MODEL = botocore.session.get_session().get_service_model("config")


def member(account: str, status: str = "CREATE_SUCCESSFUL", **fields: Any) -> MemberPack:
    return MemberPack(
        account, "OrgConformsPack-baseline-abcd1234", status, updated_at=NOW - 60, **fields
    )


def organization(*packs: OrganizationPack, region: str = REGION) -> Scenario:
    return Scenario(
        packs={},
        organization_packs={(DEFAULT_ACCOUNT, region): list(packs)},
        access_key_accounts={"AKIDMEMBER": OTHER_ACCOUNT},
    )


def org_pack(name: str, status: str = "CREATE_SUCCESSFUL", **fields: Any) -> OrganizationPack:
    return OrganizationPack(name, status, updated_at=NOW - 3600, **fields)


@pytest.mark.parametrize("status", MODEL.shape_for("OrganizationResourceStatus").metadata["enum"])
def test_every_model_status_is_accepted(status):
    assert org_pack("p", status).status == status
    assert member(DEFAULT_ACCOUNT, status).status == status


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: org_pack("p", "CREATE_COMPLETE"), "not one of"),
        (lambda: org_pack("1-starts-with-digit"), "OrganizationConformancePackName"),
        (lambda: member(DEFAULT_ACCOUNT, "SUCCESS"), "not one of"),
        (lambda: member("12345"), "12-digit"),
        (
            lambda: org_pack("p", members=(member(DEFAULT_ACCOUNT), member(DEFAULT_ACCOUNT))),
            "unique",
        ),
    ],
)
def test_invalid_organization_packs_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_duplicate_organization_pack_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        ConfigSimulator(organization(org_pack("p"), org_pack("p")))


def test_statuses_page_past_one_hundred_and_carry_errors(session, serve):
    failed = org_pack(
        "Failing", "CREATE_FAILED", error_code="OrgPackFailed", error_message="one member failed"
    )
    packs = [org_pack(f"pack-{index:03d}") for index in range(130)]
    simulator = serve(organization(failed, *packs))
    client = make_client(session, simulator)

    pages = list(client.get_paginator("describe_organization_conformance_pack_statuses").paginate())

    statuses = [status for page in pages for status in page["OrganizationConformancePackStatuses"]]
    assert [len(page["OrganizationConformancePackStatuses"]) for page in pages] == [100, 31]
    assert [status["OrganizationConformancePackName"] for status in statuses] == sorted(
        ["Failing", *(pack.name for pack in packs)]
    )
    first = statuses[0]
    assert (first["Status"], first["ErrorCode"], first["ErrorMessage"]) == (
        "CREATE_FAILED",
        "OrgPackFailed",
        "one member failed",
    )
    assert first["LastUpdateTime"].timestamp() == pytest.approx(NOW - 3600, abs=0.001)
    assert "ErrorCode" not in statuses[1]


def test_status_name_filter_and_its_errors(session, serve):
    simulator = serve(organization(org_pack("alpha"), org_pack("bravo"), org_pack("charlie")))
    client = make_client(session, simulator)
    unvalidated = make_client(session, simulator, parameter_validation=False)

    answer = client.describe_organization_conformance_pack_statuses(
        OrganizationConformancePackNames=["charlie", "alpha"], Limit=1
    )
    with pytest.raises(ClientError) as unknown:
        client.describe_organization_conformance_pack_statuses(
            OrganizationConformancePackNames=["alpha", "zulu"]
        )
    with pytest.raises(ClientError) as limit:
        unvalidated.describe_organization_conformance_pack_statuses(Limit=101)

    assert [
        s["OrganizationConformancePackName"] for s in answer["OrganizationConformancePackStatuses"]
    ] == ["alpha"]
    rest = client.describe_organization_conformance_pack_statuses(
        OrganizationConformancePackNames=["charlie", "alpha"], NextToken=answer["NextToken"]
    )
    assert [
        s["OrganizationConformancePackName"] for s in rest["OrganizationConformancePackStatuses"]
    ] == ["charlie"]
    assert error_code(unknown) == "NoSuchOrganizationConformancePackException"
    assert error_code(limit) == "InvalidLimitException"


def test_member_statuses_page_past_one_hundred_in_account_order(session, serve):
    accounts = [f"{100000000000 + index * 7919:012d}" for index in range(150)]
    big = org_pack("big", members=tuple(member(account) for account in reversed(accounts)))
    simulator = serve(organization(big))
    client = make_client(session, simulator)

    pages = list(
        client.get_paginator("get_organization_conformance_pack_detailed_status").paginate(
            OrganizationConformancePackName="big"
        )
    )

    listed = [
        status for page in pages for status in page["OrganizationConformancePackDetailedStatuses"]
    ]
    assert [len(page["OrganizationConformancePackDetailedStatuses"]) for page in pages] == [100, 50]
    assert [status["AccountId"] for status in listed] == sorted(accounts)
    assert {status["ConformancePackName"] for status in listed} == {
        "OrgConformsPack-baseline-abcd1234"
    }


def test_member_filters_and_failure_details(session, serve):
    failing = member(
        OTHER_ACCOUNT,
        "CREATE_FAILED",
        error_code="NoAvailableConfigurationRecorderException",
        error_message="no recorder",
    )
    pack = org_pack(
        "baseline",
        "CREATE_FAILED",
        members=(member(DEFAULT_ACCOUNT), failing, member("333333333333", "UPDATE_IN_PROGRESS")),
    )
    simulator = serve(organization(pack))
    client = make_client(session, simulator)

    def members(**filters: Any) -> Any:
        return client.get_organization_conformance_pack_detailed_status(
            OrganizationConformancePackName="baseline", Filters=filters
        )["OrganizationConformancePackDetailedStatuses"]

    (failed,) = members(Status="CREATE_FAILED")
    assert (failed["AccountId"], failed["ErrorCode"], failed["ErrorMessage"]) == (
        OTHER_ACCOUNT,
        "NoAvailableConfigurationRecorderException",
        "no recorder",
    )
    assert [m["Status"] for m in members(AccountId="333333333333")] == ["UPDATE_IN_PROGRESS"]
    assert members(AccountId=DEFAULT_ACCOUNT, Status="CREATE_FAILED") == []
    assert len(members()) == 3
    assert all("ErrorCode" not in m for m in members(Status="CREATE_SUCCESSFUL"))


def test_member_status_errors(session, serve):
    simulator = serve(organization(org_pack("baseline", members=(member(DEFAULT_ACCOUNT),))))
    client = make_client(session, simulator, parameter_validation=False)
    attempts: list[tuple[dict[str, Any], str]] = [
        (
            {"OrganizationConformancePackName": "other"},
            "NoSuchOrganizationConformancePackException",
        ),
        ({}, "ValidationException"),
        (
            {"OrganizationConformancePackName": "baseline", "Filters": {"AccountId": "12"}},
            "ValidationException",
        ),
        (
            {"OrganizationConformancePackName": "baseline", "Filters": {"Status": "FINE"}},
            "ValidationException",
        ),
        ({"OrganizationConformancePackName": "baseline", "Limit": 101}, "InvalidLimitException"),
    ]

    for kwargs, code in attempts:
        with pytest.raises(ClientError) as excinfo:
            client.get_organization_conformance_pack_detailed_status(**kwargs)
        assert error_code(excinfo) == code, kwargs


def test_only_the_management_account_may_ask(session, serve):
    simulator = serve(organization(org_pack("baseline")))
    member_key = {"aws_access_key_id": "AKIDMEMBER", "aws_secret_access_key": SECRET_KEY}

    elsewhere = make_client(session, simulator, region="ap-south-1")
    empty = elsewhere.describe_organization_conformance_pack_statuses()
    with pytest.raises(ClientError) as denied:
        make_client(
            session, simulator, credentials=member_key
        ).describe_organization_conformance_pack_statuses()

    assert empty["OrganizationConformancePackStatuses"] == []
    assert error_code(denied) == "OrganizationAccessDeniedException"
    with pytest.raises(ClientError) as unknown_here:
        elsewhere.get_organization_conformance_pack_detailed_status(
            OrganizationConformancePackName="baseline"
        )
    assert error_code(unknown_here) == "NoSuchOrganizationConformancePackException"


def test_set_organization_packs_changes_answers_while_serving(session, serve):
    simulator = serve(organization(org_pack("before")))
    client = make_client(session, simulator)

    simulator.set_organization_packs(
        DEFAULT_ACCOUNT, REGION, [org_pack("after", "UPDATE_IN_PROGRESS")]
    )

    (status,) = client.describe_organization_conformance_pack_statuses()[
        "OrganizationConformancePackStatuses"
    ]
    assert (status["OrganizationConformancePackName"], status["Status"]) == (
        "after",
        "UPDATE_IN_PROGRESS",
    )
