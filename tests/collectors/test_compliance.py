"""exporter/collectors/compliance.py with botocore's Stubber (which checks every request and
answer against the model): the fewest calls, pagination, limits, vanished packs, isolation,
and the per-rule series of each `compliance.rule_series` mode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.targets import Target
from exporter.collectors.compliance import (
    ComplianceCollector,
    PackCompliance,
    compliance_samples,
    fetch_compliance,
)
from exporter.config import ComplianceConfig, Config
from exporter.deadline import Deadline
from exporter.metrics import (
    CAP_EXCEEDED,
    COMPLIANCE,
    COMPLIANCE_HELP,
    NONCOMPLIANT_RESOURCES,
    RESOURCE_FAMILIES,
    RULE_COMPLIANCE,
    RULES,
    SCORE,
    SCORE_UPDATED,
    SCRAPE_SUCCESS,
    STATE,
)
from tests.collectors.test_status import stub_pages
from tests.conftest import (
    ACCOUNT,
    make_account,
    make_scraper,
    pack_status,
    scrape_samples,
    wait_for,
)

VALUES = ("COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA")
UPDATED = datetime.fromtimestamp(1_700_000_000, timezone.utc)
SCORES = "list_conformance_pack_compliance_scores"
SUMMARY = "get_conformance_pack_compliance_summary"
RULES_CALL = "describe_conformance_pack_compliance"
COUNTS = "describe_compliance_by_config_rule"


@pytest.fixture
def account() -> Account:
    account = make_account(("us-east-1",))
    account.account_id = ACCOUNT
    return account


@pytest.fixture
def stub(account: Account) -> Iterator[Stubber]:
    with Stubber(account.clients["us-east-1"]) as stubber:
        yield stubber


def score(name: str, value: str = "87.5") -> dict[str, Any]:
    return {"ConformancePackName": name, "Score": value, "LastUpdatedTime": UPDATED}


def rule(name: str, compliance: str = "COMPLIANT") -> dict[str, Any]:
    return {"ConfigRuleName": name, "ComplianceType": compliance, "Controls": []}


def stub_listed(stub: Stubber, names: list[str]) -> None:
    """The status listing a compliance read starts with: the packs it reads."""
    stub_pages(stub, [pack_status(name) for name in names])


def stub_scores(stub: Stubber, names: list[str]) -> None:
    """The score pages AWS sends: 20 a page."""
    pages = [names[i : i + 20] for i in range(0, len(names), 20)] or [[]]
    for index, page in enumerate(pages):
        expected: dict[str, Any] = {"Limit": 20}
        if index:
            expected["NextToken"] = f"scores-{index}"
        response: dict[str, Any] = {"ConformancePackComplianceScores": [score(n) for n in page]}
        if index + 1 < len(pages):
            response["NextToken"] = f"scores-{index + 1}"
        stub.add_response(SCORES, response, expected)


def stub_summary(stub: Stubber, verdicts: dict[str, str]) -> None:
    rows = [
        {"ConformancePackName": n, "ConformancePackComplianceStatus": v}
        for n, v in verdicts.items()
    ]
    stub.add_response(
        SUMMARY,
        {"ConformancePackComplianceSummaryList": rows},
        {"ConformancePackNames": list(verdicts)},
    )


def stub_rules(stub: Stubber, pack: str, rules: list[dict[str, Any]]) -> None:
    pages = [rules[i : i + 1000] for i in range(0, len(rules), 1000)] or [[]]
    for index, page in enumerate(pages):
        expected: dict[str, Any] = {"ConformancePackName": pack, "Limit": 1000}
        if index:
            expected["NextToken"] = f"rules-{index}"
        response: dict[str, Any] = {
            "ConformancePackName": pack,
            "ConformancePackRuleComplianceList": page,
        }
        if index + 1 < len(pages):
            response["NextToken"] = f"rules-{index + 1}"
        stub.add_response(RULES_CALL, response, expected)


def fetch(account: Account, count_resources: bool = False, names: tuple[str, ...] = ()):
    return fetch_compliance(
        account.clients["us-east-1"], names, Deadline.after(10), count_resources
    )


def test_the_fewest_calls_for_45_packs(account, stub) -> None:
    names = [f"pack-{i:02d}" for i in range(45)]
    stub_listed(stub, names)  # 3 calls
    stub_scores(stub, names)  # 3 calls
    for start in range(0, 45, 5):  # 9 calls
        stub_summary(stub, {n: "COMPLIANT" for n in names[start : start + 5]})
    for name in names:  # 45 calls
        stub_rules(stub, name, [rule(f"{name}-rule")])

    found = fetch(account)

    stub.assert_no_pending_responses()
    assert len(found.scores) == 45
    assert len(found.verdicts) == 45
    assert sum(len(rules) for rules in found.rules.values()) == 45


def test_rules_past_1000_take_a_second_page(account, stub) -> None:
    rules = [rule(f"r-{i:04d}", "NON_COMPLIANT" if i % 2 else "COMPLIANT") for i in range(1500)]
    stub_listed(stub, ["big"])
    stub_scores(stub, ["big"])
    stub_summary(stub, {"big": "NON_COMPLIANT"})
    stub_rules(stub, "big", rules)

    found = fetch(account)
    samples = compliance_samples(ACCOUNT, "us-east-1", found, VALUES)

    stub.assert_no_pending_responses()
    counts = {s.labels["compliance"]: s.value for s in samples[RULES]}
    assert counts == {"COMPLIANT": 750, "NON_COMPLIANT": 750, "INSUFFICIENT_DATA": 0}
    assert len(samples[RULE_COMPLIANCE]) == 1500 * len(VALUES)


def test_resource_counts_take_names_as_long_as_the_model_allows(account, stub) -> None:
    longest = (
        account.clients["us-east-1"]
        .meta.service_model.operation_model("DescribeComplianceByConfigRule")
        .input_shape.members["ConfigRuleNames"]
        .member.metadata["max"]
    )
    at_limit, beyond = "r" * longest, "r" * (longest + 1)
    stub_listed(stub, ["pci"])
    stub_scores(stub, ["pci"])
    stub_summary(stub, {"pci": "NON_COMPLIANT"})
    stub_rules(
        stub,
        "pci",
        [
            rule("s3-public", "NON_COMPLIANT"),
            rule(at_limit, "NON_COMPLIANT"),
            rule(beyond, "NON_COMPLIANT"),
            rule("ok"),
        ],
    )
    stub.add_response(
        COUNTS,
        {
            "ComplianceByConfigRules": [
                {
                    "ConfigRuleName": name,
                    "Compliance": {
                        "ComplianceType": "NON_COMPLIANT",
                        "ComplianceContributorCount": {"CappedCount": count, "CapExceeded": capped},
                    },
                }
                for name, count, capped in ((at_limit, 4, False), ("s3-public", 100, True))
            ]
        },
        {"ConfigRuleNames": [at_limit, "s3-public"], "ComplianceTypes": ["NON_COMPLIANT"]},
    )

    samples = compliance_samples(ACCOUNT, "us-east-1", fetch(account, True), VALUES)

    stub.assert_no_pending_responses()
    assert longest > 64  # the limit this exporter once hard-coded
    counted = {s.labels["config_rule"]: s.value for s in samples[NONCOMPLIANT_RESOURCES]}
    assert counted == {"s3-public": 100.0, at_limit: 4.0}
    exceeded = {s.labels["config_rule"]: s.value for s in samples[CAP_EXCEEDED]}
    assert exceeded == {"s3-public": 1.0, at_limit: 0.0}
    long_rule = [s for s in samples[RULE_COMPLIANCE] if s.labels["config_rule"] == beyond]
    assert {s.labels["compliance"] for s in long_rule if s.value} == {"NON_COMPLIANT"}


def test_every_listed_pack_has_a_verdict_and_rules_scored_or_not(account, stub) -> None:
    stub_listed(stub, ["new", "old"])
    stub_scores(stub, ["deleted", "old"])  # "new" has no score yet; "deleted" is gone
    stub_summary(stub, {"new": "INSUFFICIENT_DATA", "old": "COMPLIANT"})
    stub_rules(stub, "new", [rule("a", "INSUFFICIENT_DATA")])
    stub_rules(stub, "old", [rule("b")])

    samples = compliance_samples(ACCOUNT, "us-east-1", fetch(account), VALUES)

    stub.assert_no_pending_responses()
    verdicts = {
        s.labels["conformance_pack"]: s.labels["compliance"] for s in samples[COMPLIANCE] if s.value
    }
    assert verdicts == {"new": "INSUFFICIENT_DATA", "old": "COMPLIANT"}
    assert {s.labels["conformance_pack"] for s in samples[RULES]} == {"new", "old"}
    assert [s.labels["conformance_pack"] for s in samples[SCORE]] == ["old"]
    assert [s.labels["conformance_pack"] for s in samples[SCORE_UPDATED]] == ["old"]


def test_named_packs_are_listed_by_name(account, stub) -> None:
    stub_pages(stub, [pack_status("wanted")], ["wanted", "missing"])
    stub_scores(stub, ["other", "wanted"])
    stub_summary(stub, {"wanted": "COMPLIANT"})
    stub_rules(stub, "wanted", [rule("b")])

    found = fetch(account, names=("wanted", "missing"))

    stub.assert_no_pending_responses()
    assert [score["ConformancePackName"] for score in found.scores] == ["wanted"]
    assert found.verdicts == {"wanted": "COMPLIANT"}


def test_no_listed_pack_takes_no_compliance_call(account, stub) -> None:
    stub_listed(stub, [])

    found = fetch(account, True)

    stub.assert_no_pending_responses()  # and Stubber fails any call it was not given
    assert (found.scores, found.verdicts, found.rules, found.resource_counts) == ([], {}, {}, {})


@pytest.mark.parametrize(
    ("score_text", "ratio"),
    [("87.04", 0.8704), ("62.5", 0.625), ("100", 1.0), ("0.01", 0.0001), ("33.33", 0.3333)],
)
def test_scores_are_the_decimal_divided_exactly(score_text, ratio) -> None:
    found = PackCompliance(scores=[score("p", score_text)])

    [sample] = compliance_samples(ACCOUNT, "us-east-1", found, VALUES)[SCORE]

    assert sample.value == ratio


@pytest.mark.parametrize("score_text", ["INSUFFICIENT_DATA", "NaN", "Infinity", ""])
def test_a_score_that_is_not_a_finite_number_has_no_series(score_text) -> None:
    found = PackCompliance(scores=[score("p", score_text)])

    assert compliance_samples(ACCOUNT, "us-east-1", found, VALUES)[SCORE] == []


def test_insufficient_data_has_no_score_but_a_verdict(account, stub) -> None:
    stub_listed(stub, ["new", "old"])
    stub.add_response(
        SCORES,
        {"ConformancePackComplianceScores": [score("new", "INSUFFICIENT_DATA"), score("old")]},
        {"Limit": 20},
    )
    stub_summary(stub, {"new": "INSUFFICIENT_DATA", "old": "COMPLIANT"})
    stub_rules(stub, "new", [rule("a", "INSUFFICIENT_DATA")])
    stub_rules(stub, "old", [rule("b")])

    samples = compliance_samples(ACCOUNT, "us-east-1", fetch(account), VALUES)

    assert [(s.labels["conformance_pack"], s.value) for s in samples[SCORE]] == [("old", 0.875)]
    assert len(samples[SCORE_UPDATED]) == 2
    verdicts = {
        s.labels["conformance_pack"]: s.labels["compliance"] for s in samples[COMPLIANCE] if s.value
    }
    assert verdicts == {"new": "INSUFFICIENT_DATA", "old": "COMPLIANT"}


def test_a_pack_deleted_between_calls_is_skipped(account, stub) -> None:
    stub_listed(stub, ["gone", "kept"])
    stub_scores(stub, ["gone", "kept"])
    stub.add_client_error(
        SUMMARY,
        "NoSuchConformancePackException",
        expected_params={"ConformancePackNames": ["gone", "kept"]},
    )
    stub.add_client_error(
        SUMMARY,
        "NoSuchConformancePackException",
        expected_params={"ConformancePackNames": ["gone"]},
    )
    stub_summary(stub, {"kept": "COMPLIANT"})
    stub.add_client_error(
        RULES_CALL,
        "NoSuchConformancePackException",
        expected_params={"ConformancePackName": "gone", "Limit": 1000},
    )
    stub_rules(stub, "kept", [rule("b")])

    found = fetch(account)

    stub.assert_no_pending_responses()
    assert found.verdicts == {"kept": "COMPLIANT"}
    assert found.rules["gone"] == []


def test_an_unknown_compliance_value_is_passed_through(account) -> None:
    found = PackCompliance(verdicts={"p": "SOMEDAY"}, rules={"p": [rule("r", "SOMEDAY")]})
    samples = compliance_samples(ACCOUNT, "us-east-1", found, VALUES)

    assert [s.labels["compliance"] for s in samples[COMPLIANCE] if s.value] == ["SOMEDAY"]
    counts = {s.labels["compliance"]: s.value for s in samples[RULES]}
    assert counts == {"COMPLIANT": 0, "NON_COMPLIANT": 0, "INSUFFICIENT_DATA": 0, "SOMEDAY": 1}


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDeniedException", 400), ("ThrottlingException", 400)]
)
def test_a_failing_compliance_read_leaves_pack_status_alone(
    account, stub, caplog, code, status
) -> None:
    stub_pages(stub, [pack_status("healthy")])  # the status collector's read
    stub_listed(stub, ["healthy"])  # the compliance read's listing
    stub.add_client_error(SCORES, code, http_status_code=status)
    scraper = make_scraper(
        [Target(account, "us-east-1")],
        concurrency=1,
        min_interval_seconds=3600,  # one status read, one compliance read: one set of answers
        compliance=ComplianceConfig(interval_seconds=3600),
    )

    with caplog.at_level(logging.WARNING):
        samples = wait_for(
            lambda: (s := scrape_samples(scraper)) and len(s[SCRAPE_SUCCESS]) == 2 and s,
            10,
            "the compliance read",
            interval=0.01,
        )
    scraper.close()

    success = {labels["collector"]: value for labels, value in samples[SCRAPE_SUCCESS]}
    assert success == {"status": 1.0, "compliance": 0.0}
    assert {labels["conformance_pack"] for labels, _ in samples[STATE]} == {"healthy"}
    assert COMPLIANCE not in samples
    assert any(
        getattr(r, "error_code", "") == code and r.collector == "compliance" for r in caplog.records
    )


def test_no_compliance_call_between_refreshes(account, stub) -> None:
    stub_pages(stub, [pack_status("p")])  # the status collector's read
    stub_listed(stub, ["p"])  # the compliance read's listing
    stub_scores(stub, ["p"])
    stub_summary(stub, {"p": "NON_COMPLIANT"})
    stub_rules(stub, "p", [rule("r", "NON_COMPLIANT")])
    scraper = make_scraper(
        [Target(account, "us-east-1")],
        concurrency=1,
        min_interval_seconds=3600,
        compliance=ComplianceConfig(interval_seconds=3600),
    )
    first = wait_for(lambda: (s := scrape_samples(scraper)).get(COMPLIANCE) and s, 10, "compliance")

    second = scrape_samples(scraper)  # Stubber fails any call it was not given
    scraper.close()

    stub.assert_no_pending_responses()
    assert second[COMPLIANCE] == first[COMPLIANCE]
    success = {labels["collector"]: value for labels, value in second[SCRAPE_SUCCESS]}
    assert success == {"status": 1.0, "compliance": 1.0}


# One pack with a rule in each compliance value; the failing one breaks 12 resources.
MIXED_RULES = [rule("fine"), rule("failing", "NON_COMPLIANT"), rule("unknown", "INSUFFICIENT_DATA")]
# (config_rule, compliance, value) of each per-rule compliance series, and the rules with a
# resource count, per mode.
RULE_SERIES = {
    "all": (
        {
            (r["ConfigRuleName"], v, float(v == r["ComplianceType"]))
            for r in MIXED_RULES
            for v in VALUES
        },
        {"failing"},
    ),
    "noncompliant": ({("failing", "NON_COMPLIANT", 1.0)}, {"failing"}),
    "none": (set(), set()),
}


@pytest.mark.parametrize("mode", list(RULE_SERIES))
def test_the_rule_series_modes_keep_the_pack_counts_and_verdict(account, stub, mode) -> None:
    stub_listed(stub, ["pci"])
    stub_scores(stub, ["pci"])
    stub_summary(stub, {"pci": "NON_COMPLIANT"})
    stub_rules(stub, "pci", MIXED_RULES)
    if mode != "none":  # no per-rule series, so no count call: Stubber fails any other call
        counted = {"ComplianceContributorCount": {"CappedCount": 12, "CapExceeded": False}}
        stub.add_response(
            COUNTS,
            {"ComplianceByConfigRules": [{"ConfigRuleName": "failing", "Compliance": counted}]},
            {"ConfigRuleNames": ["failing"], "ComplianceTypes": ["NON_COMPLIANT"]},
        )
    model = account.clients["us-east-1"].meta.service_model
    config = Config(compliance=ComplianceConfig(noncompliant_resources=True, rule_series=mode))
    collector = ComplianceCollector(config, model)

    samples = collector.read(Target(account, "us-east-1"), Deadline.after(10))

    stub.assert_no_pending_responses()
    series, with_counts = RULE_SERIES[mode]
    rule_compliance = {
        (s.labels["config_rule"], s.labels["compliance"], s.value)
        for s in samples.get(RULE_COMPLIANCE, [])
    }
    assert rule_compliance == series
    for family in RESOURCE_FAMILIES:
        assert {s.labels["config_rule"] for s in samples.get(family, [])} == with_counts
    per_rule = {RULE_COMPLIANCE, *RESOURCE_FAMILIES}
    assert set(collector.help_texts) == set(COMPLIANCE_HELP) - (
        per_rule if mode == "none" else set()
    )
    counts = {s.labels["compliance"]: s.value for s in samples[RULES]}
    assert counts == {"COMPLIANT": 1, "NON_COMPLIANT": 1, "INSUFFICIENT_DATA": 1}
    assert [s.labels["compliance"] for s in samples[COMPLIANCE] if s.value] == ["NON_COMPLIANT"]


def test_noncompliant_mode_serves_an_unknown_compliance_value_only_in_the_counts() -> None:
    found = PackCompliance(rules={"p": [rule("r", "SOMEDAY"), rule("f", "NON_COMPLIANT")]})

    samples = compliance_samples(ACCOUNT, "us-east-1", found, VALUES, "noncompliant")

    assert [(s.labels["config_rule"], s.value) for s in samples[RULE_COMPLIANCE]] == [("f", 1.0)]
    assert {s.labels["compliance"]: s.value for s in samples[RULES]}["SOMEDAY"] == 1
