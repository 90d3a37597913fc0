"""Pack ids and served rule names, the checks that keep scenario packs valid, and how a pack
looks at a given time."""

from __future__ import annotations

import re
from typing import Any

import pytest

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    ComplianceChange,
    ConfigSimulator,
    Scenario,
    SimulatedPack,
    SimulatedRule,
    Transition,
    pack_ids,
)
from tests.simulator.conftest import NOW, OTHER_ACCOUNT, make_packs


def test_pack_ids_are_reproducible_and_distinct_per_region():
    assert pack_ids(DEFAULT_ACCOUNT, "us-east-1", "p") == pack_ids(
        DEFAULT_ACCOUNT, "us-east-1", "p"
    )
    assert pack_ids(DEFAULT_ACCOUNT, "us-east-1", "p") != pack_ids(
        DEFAULT_ACCOUNT, "eu-west-1", "p"
    )


@pytest.mark.parametrize(
    ("packs", "message"),
    [
        ([SimulatedPack("1-starts-with-digit", "CREATE_COMPLETE", requested_at=NOW)], "match"),
        (make_packs(1) + make_packs(1), "unique"),
    ],
)
def test_invalid_packs_are_refused(packs, message):
    with pytest.raises(ValueError, match=message):
        ConfigSimulator(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): packs}))


def rule_pack(rules: tuple[SimulatedRule, ...], **fields: Any) -> SimulatedPack:
    return SimulatedPack("Rules-Pack", "CREATE_COMPLETE", requested_at=NOW, rules=rules, **fields)


def test_rule_names_leave_room_for_the_pack_id_aws_appends():
    longest = "r" * (128 - len("-conformance-pack-12345678"))
    ids = pack_ids(DEFAULT_ACCOUNT, "us-east-1", "Rules-Pack")

    assert len(ids.rule_name(rule_pack((SimulatedRule(longest),)).rules[0].name)) == 128
    with pytest.raises(ValueError, match="no room"):
        rule_pack((SimulatedRule(longest + "r"),))


def test_served_rule_names_differ_per_pack_and_region():
    names = {
        pack_ids(account, region, pack).rule_name("s3-bucket-versioning-enabled")
        for account in (DEFAULT_ACCOUNT, OTHER_ACCOUNT)
        for region in ("us-east-1", "eu-west-1")
        for pack in ("Pack-A", "Pack-B")
    }

    assert len(names) == 8
    assert all(
        re.fullmatch(r"s3-bucket-versioning-enabled-conformance-pack-[a-z2-7]{8}", n) for n in names
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rules": (SimulatedRule("same"), SimulatedRule("same"))}, "unique"),
        (
            {
                "rules": (SimulatedRule("known"),),
                "compliance_timeline": (ComplianceChange(5, 10.0, (SimulatedRule("stranger"),)),),
            },
            "does not have",
        ),
        ({"score": 140.0}, "between 0 and 100"),
    ],
)
def test_invalid_compliance_is_refused(fields: dict[str, Any], message):
    with pytest.raises(ValueError, match=message):
        SimulatedPack("P", "CREATE_COMPLETE", requested_at=NOW, **fields)


def test_effective_applies_due_compliance_changes_with_their_time():
    drop = ComplianceChange(60, 50.0, (SimulatedRule("b", "NON_COMPLIANT", 9),))
    pack = rule_pack(
        (SimulatedRule("a"), SimulatedRule("b")),
        score=100.0,
        scored_at=NOW - 5,
        compliance_timeline=(drop,),
        timeline=(Transition(30, "UPDATE_IN_PROGRESS"),),
    )

    early = pack.effective(NOW, NOW + 59)
    late = pack.effective(NOW, NOW + 60)

    assert (early.score, early.scored_at, early.rules) == (100.0, NOW - 5, pack.rules)
    assert early.state == "UPDATE_IN_PROGRESS"
    assert (late.score, late.scored_at) == (50.0, NOW + 60)
    assert late.rules == (SimulatedRule("a"), SimulatedRule("b", "NON_COMPLIANT", 9))
    assert late.state == "UPDATE_IN_PROGRESS"
    assert pack.effective(NOW, NOW + 1) is pack
