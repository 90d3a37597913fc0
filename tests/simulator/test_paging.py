"""NextTokens only work for the simulator and the query that issued them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from exporter.simulator import DEFAULT_ACCOUNT, Scenario, SimulatedRule
from tests.simulator.conftest import error_code, make_client, make_packs


def test_next_token_must_come_from_this_simulator_and_query(session, serve):
    scenario = Scenario(
        packs={
            (DEFAULT_ACCOUNT, "us-east-1"): make_packs(25),
            (DEFAULT_ACCOUNT, "eu-west-1"): make_packs(25),
        }
    )
    simulator = serve(scenario)
    east = make_client(session, simulator)
    west = make_client(session, simulator, region="eu-west-1")
    token = east.describe_conformance_pack_status()["NextToken"]
    foreign = serve(scenario)
    foreign_token = make_client(session, foreign).describe_conformance_pack_status()["NextToken"]

    attempts = [
        (east, {"NextToken": "not-a-token"}),
        (east, {"NextToken": token[:-4] + "AAAA"}),
        (east, {"NextToken": foreign_token}),
        (west, {"NextToken": token}),
        (east, {"NextToken": token, "ConformancePackNames": ["pack-021"]}),
    ]
    for client, kwargs in attempts:
        with pytest.raises(ClientError) as excinfo:
            client.describe_conformance_pack_status(**kwargs)
        assert error_code(excinfo) == "InvalidNextTokenException"
    second = east.describe_conformance_pack_status(NextToken=token)
    assert len(second["ConformancePackStatusDetails"]) == 5


def test_tokens_are_bound_to_the_operation_and_its_filters(session, serve):
    rules = tuple(SimulatedRule(f"rule-{index:02d}") for index in range(30))
    packs = make_packs(2, rules=rules, score=80.0)
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): packs}))
    client = make_client(session, simulator)
    token = client.describe_conformance_pack_compliance(ConformancePackName="pack-000", Limit=5)[
        "NextToken"
    ]

    attempts = [
        lambda: client.describe_conformance_pack_compliance(
            ConformancePackName="pack-001", Limit=5, NextToken=token
        ),
        lambda: client.describe_conformance_pack_compliance(
            ConformancePackName="pack-000",
            Filters={"ComplianceType": "COMPLIANT"},
            NextToken=token,
        ),
        lambda: client.describe_compliance_by_config_rule(NextToken=token),
        lambda: client.list_conformance_pack_compliance_scores(NextToken=token),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_code(excinfo) == "InvalidNextTokenException"
    second = client.describe_conformance_pack_compliance(
        ConformancePackName="pack-000", Limit=5, NextToken=token
    )
    assert len(second["ConformancePackRuleComplianceList"]) == 5
