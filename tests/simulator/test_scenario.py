"""Generated scenarios for benchmarks."""

from __future__ import annotations

import time

import pytest

from exporter.simulator import DEFAULT_ACCOUNT, ConfigSimulator, Scenario, generated_scenario
from tests.simulator.conftest import NOW, OTHER_ACCOUNT, make_client


def test_generated_scenario_fills_every_account_and_region():
    scenario = generated_scenario(
        7, ["us-east-1", "eu-west-1"], accounts=(OTHER_ACCOUNT, DEFAULT_ACCOUNT), now=NOW
    )

    assert scenario.default_account == OTHER_ACCOUNT
    assert sorted(scenario.packs) == sorted(
        (account, region)
        for account in (OTHER_ACCOUNT, DEFAULT_ACCOUNT)
        for region in ("us-east-1", "eu-west-1")
    )
    for packs in scenario.packs.values():
        assert len(packs) == 7
        assert all(pack.state.endswith("_COMPLETE") and pack.completed_at for pack in packs)
        assert all(pack.requested_at < NOW for pack in packs)


def test_generated_rules_judge_some_failing_and_score_the_packs(session, serve):
    scenario = generated_scenario(3, ["us-east-1"], now=NOW, rules_per_pack=100)
    simulator = serve(scenario)
    client = make_client(session, simulator)

    pages = client.get_paginator("describe_compliance_by_config_rule").paginate()
    rules = [rule for page in pages for rule in page["ComplianceByConfigRules"]]
    scores = client.list_conformance_pack_compliance_scores()["ConformancePackComplianceScores"]

    assert len(rules) == len({rule["ConfigRuleName"] for rule in rules}) == 300
    compliance = [rule["Compliance"] for rule in rules]
    assert {c["ComplianceType"] for c in compliance} == {
        "COMPLIANT",
        "NON_COMPLIANT",
        "INSUFFICIENT_DATA",
    }
    assert any(c.get("ComplianceContributorCount", {}).get("CapExceeded") for c in compliance)
    assert len(scores) == 3
    assert all(0 < float(score["Score"]) < 100 for score in scores)


def test_a_hundred_targets_of_fifty_packs_of_a_hundred_rules_start_fast():
    regions = [f"region-{index}" for index in range(10)]
    accounts = [f"{index:012d}" for index in range(10)]
    started = time.monotonic()

    scenario = generated_scenario(50, regions, accounts, now=NOW, rules_per_pack=100)
    with ConfigSimulator(scenario):
        elapsed = time.monotonic() - started

    assert sum(len(pack.rules) for packs in scenario.packs.values() for pack in packs) == 500_000
    assert elapsed < 2.0


def test_generated_organization_packs_cover_every_account(session, serve):
    accounts = [f"{index:012d}" for index in range(1, 251)]
    scenario = generated_scenario(1, ["eu-west-1"], accounts, now=NOW, organization_packs=3)
    client = make_client(session, serve(scenario), region="eu-west-1")

    statuses = client.describe_organization_conformance_pack_statuses()[
        "OrganizationConformancePackStatuses"
    ]
    pages = client.get_paginator("get_organization_conformance_pack_detailed_status").paginate(
        OrganizationConformancePackName="generated-org-pack-002"
    )

    assert [status["OrganizationConformancePackName"] for status in statuses] == [
        "generated-org-pack-000",
        "generated-org-pack-001",
        "generated-org-pack-002",
    ]
    members = [
        m["AccountId"]
        for page in pages
        for m in page["OrganizationConformancePackDetailedStatuses"]
    ]
    assert members == accounts


@pytest.mark.parametrize(("packs", "rules", "organization"), [(-1, 0, 0), (1, -1, 0), (1, 0, -1)])
def test_negative_counts_are_refused(packs, rules, organization):
    with pytest.raises(ValueError, match="must not be negative"):
        generated_scenario(
            packs, ["us-east-1"], rules_per_pack=rules, organization_packs=organization
        )


def test_generated_targets_record_and_deliver_while_a_plain_scenario_has_no_pipeline(
    session, serve
):
    scenario = generated_scenario(2, ["us-east-1", "eu-west-1"], now=NOW)
    simulator = serve(scenario)
    plain = serve(Scenario(packs=scenario.packs))

    for region in ("us-east-1", "eu-west-1"):
        client = make_client(session, simulator, region=region)
        (recorder,) = client.describe_configuration_recorder_status()[
            "ConfigurationRecordersStatus"
        ]
        (channel,) = client.describe_delivery_channel_status()["DeliveryChannelsStatus"]
        assert (recorder["recording"], recorder["lastStatus"]) == (True, "Success")
        assert channel["configHistoryDeliveryInfo"]["lastStatus"] == "Success"
        assert channel["configSnapshotDeliveryInfo"]["lastStatus"] == "Success"
        bare = make_client(session, plain, region=region)
        assert bare.list_configuration_recorders()["ConfigurationRecorderSummaries"] == []
        assert bare.describe_delivery_channel_status()["DeliveryChannelsStatus"] == []
