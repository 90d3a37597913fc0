"""The compliance operations as boto3 sees them: verdicts, scores, rule compliance, their
paging, limits and errors, and scores that drop as the simulator's clock moves on."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    INSUFFICIENT_DATA,
    ComplianceChange,
    Fault,
    Scenario,
    SimulatedPack,
    SimulatedRule,
    pack_ids,
)
from exporter.simulator.service_model import max_length
from tests.simulator.conftest import NOW, FakeClock, error_code, make_client

REGION = "us-east-1"


def pack(name: str, rules: tuple[SimulatedRule, ...] = (), **fields: Any) -> SimulatedPack:
    return SimulatedPack(name, "CREATE_COMPLETE", requested_at=NOW - 500, rules=rules, **fields)


def rules(
    count: int, compliance: str = "COMPLIANT", prefix: str = "rule"
) -> tuple[SimulatedRule, ...]:
    failing = 3 if compliance == "NON_COMPLIANT" else 0
    return tuple(
        SimulatedRule(f"{prefix}-{index:04d}", compliance, failing) for index in range(count)
    )


def served(pack_name: str, rule_name: str) -> str:
    return pack_ids(DEFAULT_ACCOUNT, REGION, pack_name).rule_name(rule_name)


def scenario(*packs: SimulatedPack) -> Scenario:
    return Scenario(packs={(DEFAULT_ACCOUNT, REGION): list(packs)})


def all_pages(call: Any, key: str, **kwargs: Any) -> tuple[list[Any], int]:
    """Every item by following NextToken by hand, and the number of calls it took."""
    items, calls, token = [], 0, None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page[key]
        calls += 1
        token = page.get("NextToken")
        if not token:
            return items, calls


def test_summary_verdicts_follow_the_rules(session, serve):
    mixed = (*rules(3), SimulatedRule("failing", "NON_COMPLIANT", 2))
    no_data_yet = rules(2, INSUFFICIENT_DATA)
    partly_evaluated = (*rules(2), SimulatedRule("pending", INSUFFICIENT_DATA))
    simulator = serve(
        scenario(
            pack("Mixed", mixed),
            pack("Pending", no_data_yet),
            pack("Clean", partly_evaluated),
            pack("Empty"),
        )
    )

    summary = make_client(session, simulator).get_conformance_pack_compliance_summary(
        ConformancePackNames=["Pending", "Mixed", "Clean", "Empty"]
    )["ConformancePackComplianceSummaryList"]

    assert {
        item["ConformancePackName"]: item["ConformancePackComplianceStatus"] for item in summary
    } == {
        "Clean": "COMPLIANT",
        "Empty": "INSUFFICIENT_DATA",
        "Mixed": "NON_COMPLIANT",
        "Pending": "INSUFFICIENT_DATA",
    }


def test_summary_pages_by_limit_and_refuses_more_than_five_names(session, serve):
    names = [f"Pack-{index}" for index in range(6)]
    simulator = serve(scenario(*(pack(name) for name in names)))
    client = make_client(session, simulator)
    unvalidated = make_client(session, simulator, parameter_validation=False)

    summaries, calls = all_pages(
        client.get_conformance_pack_compliance_summary,
        "ConformancePackComplianceSummaryList",
        ConformancePackNames=names[:5],
        Limit=2,
    )
    with pytest.raises(ClientError) as too_many:
        unvalidated.get_conformance_pack_compliance_summary(ConformancePackNames=names)
    with pytest.raises(ClientError) as none:
        unvalidated.get_conformance_pack_compliance_summary(ConformancePackNames=[])

    assert [item["ConformancePackName"] for item in summaries] == names[:5]
    assert calls == 3
    assert error_code(too_many) == "ValidationException"
    assert "Member must have length less than or equal to 5" in str(too_many.value)
    assert error_code(none) == "ValidationException"
    assert "greater than or equal to 1" in str(none.value)


def test_unknown_packs_are_no_such_conformance_pack(session, serve):
    simulator = serve(scenario(pack("Known", rules(1))))
    client = make_client(session, simulator)

    with pytest.raises(ClientError) as summary:
        client.get_conformance_pack_compliance_summary(ConformancePackNames=["Known", "Gone"])
    with pytest.raises(ClientError) as rule_list:
        client.describe_conformance_pack_compliance(ConformancePackName="Gone")

    assert error_code(summary) == "NoSuchConformancePackException"
    assert error_code(rule_list) == "NoSuchConformancePackException"


def test_scores_page_past_twenty_and_leave_out_unscored_packs(session, serve):
    scored = [
        pack(f"Scored-{index:02d}", score=50 + index, scored_at=NOW - index) for index in range(45)
    ]
    unscored = [pack(f"Unscored-{index}") for index in range(3)]
    simulator = serve(scenario(*scored, *unscored))
    client = make_client(session, simulator)

    scores, calls = all_pages(
        client.list_conformance_pack_compliance_scores, "ConformancePackComplianceScores"
    )

    assert [score["ConformancePackName"] for score in scores] == [p.name for p in scored]
    assert calls == 3
    assert simulator.calls(operation="ListConformancePackComplianceScores") == 3
    first = scores[0]
    assert first["Score"] == "50.0"
    assert first["LastUpdatedTime"].timestamp() == pytest.approx(NOW, abs=0.001)


def test_scores_sort_by_name_or_score_with_insufficient_data_at_the_end(session, serve):
    simulator = serve(
        scenario(
            pack("Alpha", score=87.5),
            pack("Bravo", score=INSUFFICIENT_DATA),
            pack("Charlie", score=12.25),
            pack("Delta", score=100),
        )
    )
    client = make_client(session, simulator)

    def order(**kwargs: Any) -> list[tuple[str, str]]:
        answer = client.list_conformance_pack_compliance_scores(**kwargs)
        return [
            (s["ConformancePackName"], s["Score"])
            for s in answer["ConformancePackComplianceScores"]
        ]

    assert order() == [
        ("Alpha", "87.5"),
        ("Bravo", "INSUFFICIENT_DATA"),
        ("Charlie", "12.25"),
        ("Delta", "100.0"),
    ]
    assert [name for name, _ in order(SortOrder="DESCENDING")] == [
        "Delta",
        "Charlie",
        "Bravo",
        "Alpha",
    ]
    assert [name for name, _ in order(SortBy="SCORE")] == ["Charlie", "Alpha", "Delta", "Bravo"]
    assert [name for name, _ in order(SortBy="SCORE", SortOrder="DESCENDING")] == [
        "Bravo",
        "Delta",
        "Alpha",
        "Charlie",
    ]
    assert order(Filters={"ConformancePackNames": ["Delta", "Alpha", "Nowhere"]}) == [
        ("Alpha", "87.5"),
        ("Delta", "100.0"),
    ]


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("list_conformance_pack_compliance_scores", {"Limit": 21}),
        ("get_conformance_pack_compliance_summary", {"ConformancePackNames": ["P"], "Limit": 21}),
        ("describe_conformance_pack_compliance", {"ConformancePackName": "P", "Limit": 1001}),
        ("describe_conformance_pack_compliance", {"ConformancePackName": "P", "Limit": -1}),
    ],
)
def test_limits_beyond_the_model_are_invalid_limit(session, serve, call, kwargs):
    simulator = serve(scenario(pack("P", rules(1))))
    client = make_client(session, simulator, parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        getattr(client, call)(**kwargs)

    assert error_code(excinfo) == "InvalidLimitException"


def test_pack_rule_compliance_pages_past_a_thousand_rules(session, serve):
    big = pack("Big", rules(2100, prefix="r"))
    simulator = serve(scenario(big))
    client = make_client(session, simulator)

    pages = list(
        client.get_paginator("describe_conformance_pack_compliance").paginate(
            ConformancePackName="Big"
        )
    )

    listed = [rule for page in pages for rule in page["ConformancePackRuleComplianceList"]]
    assert [len(page["ConformancePackRuleComplianceList"]) for page in pages] == [1000, 1000, 100]
    assert [rule["ConfigRuleName"] for rule in listed] == sorted(
        served("Big", r.name) for r in big.rules
    )
    assert all(rule["ComplianceType"] == "COMPLIANT" and rule["Controls"] == [] for rule in listed)
    assert {page["ConformancePackName"] for page in pages} == {"Big"}


def test_pack_rule_compliance_filters_by_rule_and_compliance(session, serve):
    mixed = (
        rules(4)
        + rules(3, "NON_COMPLIANT", prefix="bad")
        + rules(2, INSUFFICIENT_DATA, prefix="new")
    )
    simulator = serve(scenario(pack("Mixed", mixed)))
    client = make_client(session, simulator)

    def listed(**filters: Any) -> list[tuple[str, str]]:
        answer = client.describe_conformance_pack_compliance(
            ConformancePackName="Mixed", Filters=filters
        )
        return [
            (r["ConfigRuleName"], r["ComplianceType"])
            for r in answer["ConformancePackRuleComplianceList"]
        ]

    assert listed(ComplianceType="NON_COMPLIANT") == [
        (served("Mixed", f"bad-{index:04d}"), "NON_COMPLIANT") for index in range(3)
    ]
    assert listed(ConfigRuleNames=[served("Mixed", "new-0001")]) == [
        (served("Mixed", "new-0001"), INSUFFICIENT_DATA)
    ]
    assert (
        listed(ConfigRuleNames=[served("Mixed", "rule-0000")], ComplianceType="NON_COMPLIANT") == []
    )
    with pytest.raises(ClientError) as excinfo:
        listed(ConfigRuleNames=["not-in-this-pack"])
    assert error_code(excinfo) == "NoSuchConfigRuleInConformancePackException"


def test_rule_compliance_counts_non_compliant_resources_up_to_one_hundred(session, serve):
    judged = (
        SimulatedRule("few", "NON_COMPLIANT", 7),
        SimulatedRule("hundred", "NON_COMPLIANT", 100),
        SimulatedRule("many", "NON_COMPLIANT", 4321),
        SimulatedRule("fine"),
        SimulatedRule("unknown", INSUFFICIENT_DATA),
    )
    simulator = serve(scenario(pack("Judged", judged)))
    client = make_client(session, simulator)

    answer = client.describe_compliance_by_config_rule()["ComplianceByConfigRules"]

    compliance = {item["ConfigRuleName"]: item["Compliance"] for item in answer}
    assert compliance == {
        served("Judged", "few"): {
            "ComplianceType": "NON_COMPLIANT",
            "ComplianceContributorCount": {"CappedCount": 7, "CapExceeded": False},
        },
        served("Judged", "hundred"): {
            "ComplianceType": "NON_COMPLIANT",
            "ComplianceContributorCount": {"CappedCount": 100, "CapExceeded": False},
        },
        served("Judged", "many"): {
            "ComplianceType": "NON_COMPLIANT",
            "ComplianceContributorCount": {"CappedCount": 100, "CapExceeded": True},
        },
        served("Judged", "fine"): {"ComplianceType": "COMPLIANT"},
        served("Judged", "unknown"): {"ComplianceType": "INSUFFICIENT_DATA"},
    }


def test_rule_compliance_pages_over_every_pack_with_unique_rule_names(session, serve):
    shared = rules(30, prefix="shared")
    simulator = serve(
        scenario(
            pack("First", shared), pack("Second", shared), pack("Third", rules(7, "NON_COMPLIANT"))
        )
    )
    client = make_client(session, simulator)

    pages = list(client.get_paginator("describe_compliance_by_config_rule").paginate())
    calls = simulator.calls(operation="DescribeComplianceByConfigRule")
    failing = list(
        client.get_paginator("describe_compliance_by_config_rule").paginate(
            ComplianceTypes=["NON_COMPLIANT"]
        )
    )

    names = [item["ConfigRuleName"] for page in pages for item in page["ComplianceByConfigRules"]]
    assert len(names) == len(set(names)) == 67
    assert names == sorted(names)
    assert {served("First", "shared-0000"), served("Second", "shared-0000")} <= set(names)
    assert len(pages) == 3
    assert calls == 3
    failing_names = [
        item["ConfigRuleName"] for page in failing for item in page["ComplianceByConfigRules"]
    ]
    assert failing_names == sorted(served("Third", f"rule-{index:04d}") for index in range(7))


def test_rule_names_up_to_the_models_limit_are_looked_up_by_name(session, serve):
    longest = max_length("ConfigRuleName")
    at_limit = "x" * (longest - len("-conformance-pack-12345678"))
    simulator = serve(scenario(pack("Long", (SimulatedRule(at_limit, "NON_COMPLIANT", 2),))))
    client = make_client(session, simulator, parameter_validation=False)

    by_name = client.describe_compliance_by_config_rule(ConfigRuleNames=[served("Long", at_limit)])
    with pytest.raises(ClientError) as excinfo:
        client.describe_compliance_by_config_rule(ConfigRuleNames=["y" * (longest + 1)])

    assert len(served("Long", at_limit)) == longest > 64
    assert by_name["ComplianceByConfigRules"] == [
        {
            "ConfigRuleName": served("Long", at_limit),
            "Compliance": {
                "ComplianceType": "NON_COMPLIANT",
                "ComplianceContributorCount": {"CappedCount": 2, "CapExceeded": False},
            },
        }
    ]
    assert error_code(excinfo) == "ValidationException"
    assert f"Member must have length less than or equal to {longest}" in str(excinfo.value)


def test_rule_compliance_refuses_unknown_rules_and_more_than_25_names(session, serve):
    simulator = serve(scenario(pack("P", rules(30))))
    client = make_client(session, simulator, parameter_validation=False)
    names = [served("P", f"rule-{index:04d}") for index in range(26)]

    answer = client.describe_compliance_by_config_rule(ConfigRuleNames=names[:25])
    with pytest.raises(ClientError) as too_many:
        client.describe_compliance_by_config_rule(ConfigRuleNames=names)
    with pytest.raises(ClientError) as unknown:
        client.describe_compliance_by_config_rule(ConfigRuleNames=[names[0], "no-such-rule"])
    with pytest.raises(ClientError) as bad_type:
        client.describe_compliance_by_config_rule(ComplianceTypes=["MOSTLY_FINE"])

    assert len(answer["ComplianceByConfigRules"]) == 25
    assert "NextToken" not in answer
    assert error_code(too_many) == "ValidationException"
    assert error_code(unknown) == "NoSuchConfigRuleException"
    assert "no-such-rule" in str(unknown.value)
    assert error_code(bad_type) == "ValidationException"


def test_scores_and_rules_change_with_the_simulator_clock(session, serve):
    clock = FakeClock(NOW)
    before = (*rules(3), SimulatedRule("watched"))
    regression = ComplianceChange(120, 75.0, (SimulatedRule("watched", "NON_COMPLIANT", 5),))
    recovery = ComplianceChange(300, 100.0, (SimulatedRule("watched"),))
    simulator = serve(
        scenario(
            pack(
                "Drifting",
                before,
                score=100.0,
                scored_at=NOW - 60,
                compliance_timeline=(recovery, regression),
            )
        ),
        clock=clock,
    )
    client = make_client(session, simulator)

    def observe(elapsed: float) -> tuple[str, float, str, str]:
        clock.now = NOW + elapsed
        (score,) = client.list_conformance_pack_compliance_scores()[
            "ConformancePackComplianceScores"
        ]
        (summary,) = client.get_conformance_pack_compliance_summary(
            ConformancePackNames=["Drifting"]
        )["ConformancePackComplianceSummaryList"]
        (rule,) = client.describe_compliance_by_config_rule(
            ConfigRuleNames=[served("Drifting", "watched")]
        )["ComplianceByConfigRules"]
        return (
            score["Score"],
            round(score["LastUpdatedTime"].timestamp(), 3),
            summary["ConformancePackComplianceStatus"],
            rule["Compliance"]["ComplianceType"],
        )

    assert observe(119) == ("100.0", NOW - 60, "COMPLIANT", "COMPLIANT")
    assert observe(120) == ("75.0", NOW + 120, "NON_COMPLIANT", "NON_COMPLIANT")
    assert observe(400) == ("100.0", NOW + 300, "COMPLIANT", "COMPLIANT")


@pytest.mark.parametrize(
    ("operation", "call", "kwargs"),
    [
        (
            "GetConformancePackComplianceSummary",
            "get_conformance_pack_compliance_summary",
            {"ConformancePackNames": ["P"]},
        ),
        ("ListConformancePackComplianceScores", "list_conformance_pack_compliance_scores", {}),
        (
            "DescribeConformancePackCompliance",
            "describe_conformance_pack_compliance",
            {"ConformancePackName": "P"},
        ),
        ("DescribeComplianceByConfigRule", "describe_compliance_by_config_rule", {}),
    ],
)
def test_faults_target_compliance_operations_by_name(session, serve, operation, call, kwargs):
    simulator = serve(scenario(pack("P", rules(2), score=90.0)))
    simulator.add_fault(Fault("throttle", operation=operation, count=1))
    client = make_client(session, simulator)

    client.describe_conformance_pack_status()
    with pytest.raises(ClientError) as excinfo:
        getattr(client, call)(**kwargs)
    getattr(client, call)(**kwargs)

    assert error_code(excinfo) == "ThrottlingException"
    assert simulator.calls(operation=operation) == 2
    assert simulator.calls() == 3
