"""The demo estate has what the README and the dashboards promise, its Config pipeline
included."""

from __future__ import annotations

import re
from typing import Any

import pytest

from exporter.simulator import DEFAULT_ACCOUNT, DEMO_REGIONS, demo_scenario, pack_ids
from exporter.simulator.demo import FAILING_EVALUATION_PACK, RECORDER_STOPS_AFTER
from tests.simulator.conftest import NOW, FakeClock, make_client


def scores(client: Any) -> dict[str, str]:
    answer = client.list_conformance_pack_compliance_scores()
    assert "NextToken" not in answer
    return {
        score["ConformancePackName"]: score["Score"]
        for score in answer["ConformancePackComplianceScores"]
    }


def rule_compliance(client: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator("describe_compliance_by_config_rule").paginate()
    return [rule for page in pages for rule in page["ComplianceByConfigRules"]]


def test_demo_scenario_has_the_described_packs(session, serve):
    scenario = demo_scenario(NOW)
    packs = [pack for region_packs in scenario.packs.values() for pack in region_packs]
    by_name = {pack.name: pack for pack in packs}

    assert len(packs) >= 12
    assert {region for _, region in scenario.packs} == set(DEMO_REGIONS)
    assert len(DEMO_REGIONS) >= 2
    assert all(re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]*", pack.name) for pack in packs)
    assert {pack.type for pack in packs} == {"CUSTOM", "MANAGED"}
    assert sum(pack.state.endswith("_COMPLETE") for pack in packs) > len(packs) / 2
    creating = [
        pack.timeline[-1] for pack in packs if pack.state == "CREATE_IN_PROGRESS" and pack.timeline
    ]
    assert any(t.state == "CREATE_COMPLETE" and 30 <= t.after_seconds <= 90 for t in creating)
    assert any(
        t.state == "CREATE_FAILED" and 30 <= t.after_seconds <= 60 and t.reason for t in creating
    )
    stuck = [pack for pack in packs if pack.state == "UPDATE_IN_PROGRESS" and not pack.timeline]
    assert stuck
    assert stuck[0].requested_at <= NOW - 3600
    assert any(pack.state == "DELETE_FAILED" and pack.reason for pack in packs)

    clock = FakeClock(NOW)
    simulator = serve(scenario, clock=clock)
    clock.now = NOW + 61
    states = {
        (region, detail["ConformancePackName"]): detail["ConformancePackState"]
        for region in DEMO_REGIONS
        for detail in make_client(
            session, simulator, region=region
        ).describe_conformance_pack_status()["ConformancePackStatusDetails"]
    }
    assert len(states) == len(packs)
    assert "CREATE_IN_PROGRESS" not in states.values()
    assert "CREATE_FAILED" in states.values()
    assert by_name["Operational-Best-Practices-for-Amazon-S3"].state == "CREATE_IN_PROGRESS"


def test_demo_compliance_is_varied_and_a_score_drops_while_it_runs(session, serve):
    scenario = demo_scenario(NOW)
    packs = [pack for region_packs in scenario.packs.values() for pack in region_packs]
    clock = FakeClock(NOW)
    simulator = serve(scenario, clock=clock)
    east, west = (make_client(session, simulator, region=region) for region in DEMO_REGIONS)

    east_at_start, west_at_start = scores(east), scores(west)
    rules = rule_compliance(east) + rule_compliance(west)
    verdicts = {
        summary["ConformancePackComplianceStatus"]
        for client, region in ((east, DEMO_REGIONS[0]), (west, DEMO_REGIONS[1]))
        for pack in scenario.packs[(DEFAULT_ACCOUNT, region)]
        for summary in client.get_conformance_pack_compliance_summary(
            ConformancePackNames=[pack.name]
        )["ConformancePackComplianceSummaryList"]
    }
    clock.now = NOW + 200
    later = scores(east)

    assert all(10 <= len(pack.rules) <= 400 for pack in packs)
    assert max(len(pack.rules) for pack in packs) == 400
    assert len(rules) == sum(len(pack.rules) for pack in packs)
    assert verdicts == {"COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA"}
    assert "INSUFFICIENT_DATA" in west_at_start.values()
    assert {rule["Compliance"]["ComplianceType"] for rule in rules} == {
        "COMPLIANT",
        "NON_COMPLIANT",
        "INSUFFICIENT_DATA",
    }
    assert any(
        rule["Compliance"].get("ComplianceContributorCount", {}).get("CapExceeded")
        for rule in rules
    )
    assert any(len(rule["ConfigRuleName"]) > 64 for rule in rules)
    cis = "Operational-Best-Practices-for-CIS-AWS-v14-Level1"
    assert float(later[cis]) < float(east_at_start[cis])
    s3 = "Operational-Best-Practices-for-Amazon-S3"
    assert s3 not in east_at_start
    assert float(later[s3]) > 0


def test_demo_organization_packs_span_four_accounts_with_one_failure(session, serve):
    scenario = demo_scenario(NOW)
    simulator = serve(scenario)
    members = []
    names = set()
    for region in DEMO_REGIONS:
        client = make_client(session, simulator, region=region)
        statuses = client.describe_organization_conformance_pack_statuses()[
            "OrganizationConformancePackStatuses"
        ]
        local_packs = {pack.name for pack in scenario.packs[(DEFAULT_ACCOUNT, region)]}
        for status in statuses:
            names.add(status["OrganizationConformancePackName"])
            details = client.get_organization_conformance_pack_detailed_status(
                OrganizationConformancePackName=status["OrganizationConformancePackName"]
            )["OrganizationConformancePackDetailedStatuses"]
            members += details
            (own,) = [m for m in details if m["AccountId"] == DEFAULT_ACCOUNT]
            assert own["ConformancePackName"] in local_packs

    assert 2 <= len(names) <= 3
    assert len({member["AccountId"] for member in members}) == 4
    (failed,) = [member for member in members if member["Status"] == "CREATE_FAILED"]
    assert failed["ErrorCode"]
    assert failed["ErrorMessage"]


def test_demo_pipeline_is_healthy_but_one_recorder_stops_and_one_rule_fails_to_evaluate(
    session, serve
):
    clock = FakeClock(NOW)
    simulator = serve(demo_scenario(NOW), clock=clock)
    east, west = (make_client(session, simulator, region=region) for region in DEMO_REGIONS)

    def recording(client: Any) -> list[bool]:
        statuses = []
        for summary in client.list_configuration_recorders()["ConfigurationRecorderSummaries"]:
            (status,) = client.describe_configuration_recorder_status(Arn=summary["arn"])[
                "ConfigurationRecordersStatus"
            ]
            statuses.append(status)
        return [status["recording"] for status in statuses]

    clock.now = NOW + RECORDER_STOPS_AFTER - 1
    at_start = recording(east), recording(west)
    clock.now = NOW + RECORDER_STOPS_AFTER + 1
    later = recording(east), recording(west)
    (stopped,) = west.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    linked = [
        summary
        for summary in east.list_configuration_recorders()["ConfigurationRecorderSummaries"]
        if "servicePrincipal" in summary
    ]
    deliveries = [
        channel[kind]["lastStatus"]
        for client in (east, west)
        for channel in client.describe_delivery_channel_status()["DeliveryChannelsStatus"]
        for kind in ("configHistoryDeliveryInfo", "configSnapshotDeliveryInfo")
    ]
    pages = east.get_paginator("describe_config_rule_evaluation_status").paginate()
    failing = [
        status["ConfigRuleName"]
        for page in pages
        for status in page["ConfigRulesEvaluationStatus"]
        if status.get("LastFailedEvaluationTime")
        and status["LastFailedEvaluationTime"] > status["LastSuccessfulEvaluationTime"]
    ]

    assert at_start == ([True, True], [True])
    assert later == ([True, True], [False])
    assert stopped["lastStopTime"].timestamp() == pytest.approx(NOW + RECORDER_STOPS_AFTER)
    assert len(linked) == 1
    assert deliveries == ["Success"] * 4
    pack_id = pack_ids(DEFAULT_ACCOUNT, DEMO_REGIONS[0], FAILING_EVALUATION_PACK).pack_id
    assert len(failing) == 1
    assert failing[0].endswith(pack_id)


def remediation_states(client: Any, rule_names: list[str]) -> dict[str, list[str]]:
    """Each rule with a remediation, and the states of its executions."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(rule_names), 25):
        answer = client.describe_remediation_configurations(
            ConfigRuleNames=rule_names[start : start + 25]
        )
        for configuration in answer["RemediationConfigurations"]:
            name = configuration["ConfigRuleName"]
            pages = client.get_paginator("describe_remediation_execution_status").paginate(
                ConfigRuleName=name
            )
            found[name] = [e["State"] for p in pages for e in p["RemediationExecutionStatuses"]]
    return found


def test_the_demo_serves_remediations_one_pack_s_failing(session, serve) -> None:
    """Remediations in both regions, their executions failing only in the first region's CIS
    Level 1 pack, while the pack's compliance changes over time (its regressing rule)."""
    clock = FakeClock(NOW)
    simulator = serve(demo_scenario(NOW), clock=clock)
    clock.now = NOW + 600  # past every compliance change of the demo
    failing: dict[str, set[str]] = {}
    remediated: set[str] = set()
    for region in DEMO_REGIONS:
        client = make_client(session, simulator, region=region)
        for pack in demo_scenario(NOW).packs[(DEFAULT_ACCOUNT, region)]:
            rules = [
                rule["ConfigRuleName"]
                for page in client.get_paginator("describe_conformance_pack_compliance").paginate(
                    ConformancePackName=pack.name
                )
                for rule in page["ConformancePackRuleComplianceList"]
            ]
            for rule, states in remediation_states(client, rules).items():
                assert states, rule
                remediated.add(region)
                if "FAILED" in states:
                    failing.setdefault(f"{region}/{pack.name}", set()).add(rule)

    assert remediated == set(DEMO_REGIONS)
    assert list(failing) == ["us-east-1/Operational-Best-Practices-for-CIS-AWS-v14-Level1"]
    assert len(next(iter(failing.values()))) == 1
