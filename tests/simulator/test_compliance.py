"""Rules and scores: what a scenario may hold, and how a pack's verdict and score follow."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from exporter.simulator import INSUFFICIENT_DATA, ComplianceChange, SimulatedRule
from exporter.simulator.compliance import estimated_score, pack_compliance, reevaluated, score_text

MODEL = botocore.session.get_session().get_service_model("config")


@pytest.mark.parametrize(
    "compliance", MODEL.shape_for("ConformancePackComplianceType").metadata["enum"]
)
def test_every_model_compliance_type_is_a_rule_compliance(compliance):
    failing = 1 if compliance == "NON_COMPLIANT" else 0

    assert SimulatedRule("r", compliance, failing).compliance == compliance


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "r", "compliance": "NOT_APPLICABLE"}, "not one of"),
        ({"name": "   "}, "non-blank"),
        ({"name": "r", "compliance": "NON_COMPLIANT"}, "positive exactly when"),
        ({"name": "r", "non_compliant_resources": 3}, "positive exactly when"),
        ({"name": "r", "compliance": "NON_COMPLIANT", "non_compliant_resources": -1}, "positive"),
        ({"name": "r", "evaluation": "broken"}, "evaluation must be one of"),
        ({"name": "r", "evaluation": "not_started"}, "never evaluated has no compliance"),
    ],
)
def test_invalid_rules_are_refused(fields: dict[str, Any], message):
    with pytest.raises(ValueError, match=message):
        SimulatedRule(**fields)


@pytest.mark.parametrize("score", [-0.1, 100.01, "N/A"])
def test_impossible_scores_are_refused(score):
    with pytest.raises(ValueError, match="score"):
        ComplianceChange(10, score)


@pytest.mark.parametrize(
    ("compliances", "verdict"),
    [
        ((), INSUFFICIENT_DATA),
        ((INSUFFICIENT_DATA, INSUFFICIENT_DATA), INSUFFICIENT_DATA),
        (("COMPLIANT", INSUFFICIENT_DATA), "COMPLIANT"),
        (("COMPLIANT", "NON_COMPLIANT", INSUFFICIENT_DATA), "NON_COMPLIANT"),
    ],
)
def test_pack_verdict(compliances, verdict):
    rules = [
        SimulatedRule(f"r{index}", compliance, int(compliance == "NON_COMPLIANT"))
        for index, compliance in enumerate(compliances)
    ]

    assert pack_compliance(rules) == verdict


def test_estimated_score_counts_evaluated_rules_only():
    rules = [
        SimulatedRule("a"),
        SimulatedRule("b"),
        SimulatedRule("c", "NON_COMPLIANT", 2),
        SimulatedRule("d", INSUFFICIENT_DATA),
    ]

    assert estimated_score(rules) == 66.67
    assert estimated_score(rules[3:]) == INSUFFICIENT_DATA
    assert score_text(66.67) == "66.67"
    assert score_text(100) == "100.0"
    assert score_text(INSUFFICIENT_DATA) == "INSUFFICIENT_DATA"


def test_later_changes_win_and_other_rules_keep_their_place():
    rules = (SimulatedRule("a"), SimulatedRule("b"), SimulatedRule("c"))
    first = ComplianceChange(10, 50.0, (SimulatedRule("b", "NON_COMPLIANT", 1),))
    second = ComplianceChange(20, 60.0, (SimulatedRule("b", INSUFFICIENT_DATA),))

    assert reevaluated(rules, [first, second]) == (
        SimulatedRule("a"),
        SimulatedRule("b", INSUFFICIENT_DATA),
        SimulatedRule("c"),
    )
