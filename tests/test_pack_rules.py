"""exporter/pack_rules.py: the rule names compliance records and the pipeline reads."""

from __future__ import annotations

import gc

from exporter.aws.accounts import Account
from exporter.aws.targets import Target
from exporter.pack_rules import PackRules


def test_a_target_keeps_its_last_rules(account: Account) -> None:
    pack_rules = PackRules()
    target = Target(account, "us-east-1")

    pack_rules.record(target, {"a": ["a-1"], "b": ["b-1"]})
    pack_rules.record(target, {"a": ["a-1", "a-2"]})

    assert pack_rules.of(Target(account, "us-east-1")) == {"a": ("a-1", "a-2")}
    assert pack_rules.of(Target(account, "eu-west-1")) is None


def test_a_target_no_one_holds_any_more_is_forgotten(account: Account) -> None:
    pack_rules = PackRules()
    kept, dropped = Target(account, "us-east-1"), Target(account, "eu-west-1")
    pack_rules.record(kept, {"a": ["a-1"]})
    pack_rules.record(dropped, {"b": ["b-1"]})

    del dropped
    gc.collect()

    assert len(pack_rules) == 1
    assert pack_rules.of(kept) == {"a": ("a-1",)}
