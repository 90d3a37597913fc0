"""exporter/collectors/aggregator.py: rows to samples with botocore's Stubber (pagination, the
rule-count arithmetic, rows the direct reads own), then the exporter against the simulator over
HTTP: organisation-wide series beside direct ones, never twice, and a missing aggregator.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.errors import UnknownAccountIdError
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target, build_targets
from exporter.collectors import IAM_ACTIONS, aggregator_sources, build_collectors
from exporter.collectors.aggregator import (
    OPERATION,
    AggregatorCollector,
    aggregate_samples,
)
from exporter.config import AccountConfig, AggregatorConfig, ComplianceConfig, Config
from exporter.deadline import Deadline
from exporter.metrics import COMPLIANCE, RULES, SCRAPE_SUCCESS, SOURCE_STATUS, SOURCE_UPDATE
from exporter.scrape import Scraper
from exporter.simulator import ConfigSimulator, Scenario, SimulatedAggregator, SimulatedPack
from exporter.simulator import SimulatedRule as Rule
from tests.conftest import (
    ACCOUNT,
    exposition,
    fake_credentials_sessions,
    make_account,
    parse_exposition,
    scrape_samples,
    wait_for,
)

VALUES = ("COMPLIANT", "NON_COMPLIANT", "INSUFFICIENT_DATA")
MEMBER = "210987654321"
REGIONS = ("us-east-1", "eu-west-1")


def row(
    pack: str, account: str = MEMBER, region: str = "eu-west-1", **compliance: Any
) -> dict[str, Any]:
    """A row as botocore parses it: 5 rules, 3 compliant, 1 not, by default."""
    counts = {"CompliantRuleCount": 3, "NonCompliantRuleCount": 1, "TotalRuleCount": 5}
    return {
        "ConformancePackName": pack,
        "Compliance": {"ComplianceType": "NON_COMPLIANT", **counts, **compliance},
        "AccountId": account,
        "AwsRegion": region,
    }


def values_of(samples, name: str) -> dict[tuple[str, ...], float]:
    keys = ("account_id", "region", "conformance_pack", "compliance")
    return {tuple(s.labels[key] for key in keys): s.value for s in samples[name]}


@pytest.fixture
def account() -> Account:
    return make_account(REGIONS)


@pytest.fixture
def stub(account: Account) -> Iterator[Stubber]:
    with Stubber(account.clients["us-east-1"]) as stubber:
        yield stubber


def collector_for(
    targets: list[Target], *aggregators: AggregatorConfig, **config: Any
) -> AggregatorCollector:
    settings = Config(aggregators=aggregators, **config)
    collector = AggregatorCollector(settings, targets[0].client.meta.service_model)
    collector.targets(targets)
    return collector


def stub_aggregator_pages(
    stub: Stubber, operation: str, result_key: str, items: list[dict[str, Any]], aggregator: str
) -> None:
    """The pages AWS sends for one of an aggregator's paginated reads: 100 items each."""
    pages = [items[i : i + 100] for i in range(0, len(items), 100)] or [[]]
    for index, page in enumerate(pages):
        expected: dict[str, Any] = {"ConfigurationAggregatorName": aggregator, "Limit": 100}
        response: dict[str, Any] = {result_key: page}
        if index:
            expected["NextToken"] = f"{operation}-{index}"
        if index + 1 < len(pages):
            response["NextToken"] = f"{operation}-{index + 1}"
        stub.add_response(operation, response, expected)


def stub_rows(stub: Stubber, rows: list[dict[str, Any]], aggregator: str = "org") -> None:
    """The compliance pages AWS sends."""
    stub_aggregator_pages(
        stub, OPERATION, "AggregateComplianceByConformancePacks", rows, aggregator
    )


SOURCES_CALL = "describe_configuration_aggregator_sources_status"
SOURCE_STATUSES = ("FAILED", "SUCCEEDED", "OUTDATED")
UPDATED = 1_700_000_000.5


def source(
    account: str = MEMBER, region: str = "eu-west-1", status: str = "SUCCEEDED", **extra: Any
) -> dict[str, Any]:
    """An AggregatedSourceStatus as botocore parses it."""
    return {
        "SourceId": account,
        "SourceType": "ACCOUNT",
        "AwsRegion": region,
        "LastUpdateStatus": status,
        "LastUpdateTime": datetime.fromtimestamp(UPDATED, timezone.utc),
        **extra,
    }


def stub_sources(stub: Stubber, sources: list[dict[str, Any]], aggregator: str = "org") -> None:
    """The source pages AWS sends."""
    stub_aggregator_pages(stub, SOURCES_CALL, "AggregatedSourceStatusList", sources, aggregator)


def test_rule_counts_insufficient_data_is_the_rest_of_the_total() -> None:
    rows = [
        row("a", CompliantRuleCount=4, NonCompliantRuleCount=3, TotalRuleCount=10),
        row("b", ComplianceType="COMPLIANT", NonCompliantRuleCount=0, TotalRuleCount=3),
        row("c", CompliantRuleCount=2, NonCompliantRuleCount=2, TotalRuleCount=3),  # inconsistent
        row("d", ComplianceType="INSUFFICIENT_DATA", CompliantRuleCount=0, NonCompliantRuleCount=0),
    ]

    rules = values_of(aggregate_samples(rows, VALUES), RULES)

    counts = {(pack, value): count for (_, _, pack, value), count in rules.items()}
    assert counts == {
        **{("a", v): c for v, c in zip(VALUES, (4, 3, 3), strict=True)},
        **{("b", v): c for v, c in zip(VALUES, (3, 0, 0), strict=True)},
        **{("c", v): c for v, c in zip(VALUES, (2, 2, 0), strict=True)},
        **{("d", v): c for v, c in zip(VALUES, (0, 0, 5), strict=True)},
    }


def test_verdicts_are_state_sets_with_unknown_values_kept() -> None:
    rows = [row("a", ComplianceType="COMPLIANT"), row("b", ComplianceType="NEW_VALUE")]

    verdicts = values_of(aggregate_samples(rows, VALUES), COMPLIANCE)

    current = {key[2:] for key, value in verdicts.items() if value == 1}
    assert current == {("a", "COMPLIANT"), ("b", "NEW_VALUE")}
    assert len(verdicts) == 3 + 4


def test_rows_without_counts_ids_or_wanted_names_give_no_series() -> None:
    no_counts = row("no-counts")
    del no_counts["Compliance"]["TotalRuleCount"]
    nameless = row("nameless")
    del nameless["AccountId"]
    rows = [no_counts, nameless, row("kept"), row("unwanted"), row("kept", region="us-east-1")]

    samples = aggregate_samples(rows, VALUES, pack_names={"kept", "no-counts"})

    assert {key[:3] for key in values_of(samples, COMPLIANCE)} == {
        (MEMBER, "eu-west-1", "kept"),
        (MEMBER, "us-east-1", "kept"),
        (MEMBER, "eu-west-1", "no-counts"),
    }
    assert {key[2] for key in values_of(samples, RULES)} == {"kept"}


def test_pages_past_one_hundred_rows(account, stub) -> None:
    rows = [row(f"pack-{index:03d}", region=REGIONS[index % 2]) for index in range(130)]
    stub_rows(stub, rows)
    stub_sources(stub, [])
    account.account_id = ACCOUNT
    targets = [Target(account, region) for region in REGIONS]
    collector = collector_for(targets, AggregatorConfig("org", "us-east-1"))

    samples = collector.read(targets[0], Deadline.after(10))

    stub.assert_no_pending_responses()
    assert len(samples[COMPLIANCE]) == len(samples[RULES]) == 130 * 3


def test_rows_of_directly_read_targets_come_from_the_direct_read(account, stub) -> None:
    rows = [row("p", ACCOUNT, region) for region in (*REGIONS, "ap-south-1")] + [row("p")]
    stub_rows(stub, rows)
    stub_sources(stub, [])
    targets = [Target(account, region) for region in REGIONS]
    collector = collector_for(targets, AggregatorConfig("org", "us-east-1"))

    with Stubber(account.sts_client) as sts:  # the default credentials' id, learned once
        sts.add_response(
            "get_caller_identity",
            {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/x", "UserId": "u"},
        )
        samples = collector.read(targets[0], Deadline.after(10))

    pairs = {key[:2] for key in values_of(samples, COMPLIANCE)}
    assert pairs == {(ACCOUNT, "ap-south-1"), (MEMBER, "eu-west-1")}


def test_without_direct_compliance_reads_every_row_is_served(account, stub) -> None:
    stub_rows(stub, [row("p", ACCOUNT, "us-east-1"), row("p")])
    stub_sources(stub, [])
    targets = [Target(account, region) for region in REGIONS]
    collector = collector_for(
        targets, AggregatorConfig("org", "us-east-1"), compliance=ComplianceConfig(enabled=False)
    )

    samples = collector.read(targets[0], Deadline.after(10))

    assert {key[:2] for key in values_of(samples, RULES)} == {
        (ACCOUNT, "us-east-1"),
        (MEMBER, "eu-west-1"),
    }


def test_an_unknown_direct_account_id_fails_the_read(account, stub) -> None:
    targets = [Target(account, region) for region in REGIONS]
    collector = collector_for(targets, AggregatorConfig("org", "us-east-1"))

    with Stubber(account.sts_client) as sts:
        sts.add_client_error("get_caller_identity", "AccessDenied", http_status_code=403)
        with pytest.raises(UnknownAccountIdError):
            collector.read(targets[0], Deadline.after(10))


def test_aggregators_of_one_target_are_read_in_order_and_the_first_row_wins(account, stub) -> None:
    stub_rows(stub, [row("p", ComplianceType="COMPLIANT")], "first")
    stub_rows(stub, [row("p"), row("q")], "second")
    stub_sources(stub, [source()], "first")
    stub_sources(stub, [source(status="FAILED")], "second")
    account.account_id = ACCOUNT
    targets = [Target(account, "us-east-1")]
    first, second = AggregatorConfig("first", "us-east-1"), AggregatorConfig("second", "us-east-1")
    collector = collector_for(targets, first, second)

    samples = collector.read(targets[0], Deadline.after(10))

    verdicts = values_of(samples, COMPLIANCE)
    assert [k[2:] for k, v in verdicts.items() if v == 1] == [
        ("p", "COMPLIANT"),
        ("q", "NON_COMPLIANT"),
    ]
    current = [
        (s.labels["aggregator"], s.labels["status"]) for s in samples[SOURCE_STATUS] if s.value
    ]
    assert current == [("first", "SUCCEEDED"), ("second", "FAILED")]


def test_sources_past_one_hundred_take_a_second_page_and_carry_their_own_target(
    account, stub
) -> None:
    sources = [source(f"{index:012d}", REGIONS[index % 2]) for index in range(130)]
    sources[7] = source("000000000007", "eu-west-1", "OUTDATED", LastErrorMessage="secret-ish")
    stub_rows(stub, [])
    stub_sources(stub, sources)
    account.account_id = ACCOUNT
    targets = [Target(account, "us-east-1")]
    collector = collector_for(targets, AggregatorConfig("org", "us-east-1"))

    samples = collector.read(targets[0], Deadline.after(10))

    stub.assert_no_pending_responses()
    statuses = {
        (s.labels["account_id"], s.labels["region"], s.labels["status"]): s.value
        for s in samples[SOURCE_STATUS]
    }
    assert len(statuses) == 130 * len(SOURCE_STATUSES)
    assert statuses[("000000000007", "eu-west-1", "OUTDATED")] == 1.0
    assert statuses[("000000000007", "eu-west-1", "SUCCEEDED")] == 0.0
    assert statuses[("000000000008", "us-east-1", "SUCCEEDED")] == 1.0
    assert {s.labels["source_type"] for s in samples[SOURCE_STATUS]} == {"ACCOUNT"}
    assert all("secret-ish" not in str(s.labels) for s in samples[SOURCE_STATUS])
    assert [s.value for s in samples[SOURCE_UPDATE]] == [UPDATED] * 130


def test_source_statuses_come_from_the_model_and_unknown_ones_pass_through(account) -> None:
    model = account.clients["us-east-1"].meta.service_model
    collector = AggregatorCollector(Config(), model)
    organization = source("o-a1b2c3d4e5", "us-east-1", "PAUSED", SourceType="ORGANIZATION")
    del organization["LastUpdateTime"]

    samples = aggregator_sources.source_samples([("org", organization)], collector.source_statuses)

    assert collector.source_statuses == tuple(model.shape_for("AggregatedSourceStatusType").enum)
    assert set(collector.source_statuses) == set(SOURCE_STATUSES)
    assert {s.labels["status"]: s.value for s in samples[SOURCE_STATUS]} == {
        **dict.fromkeys(SOURCE_STATUSES, 0.0),
        "PAUSED": 1.0,
    }
    [labels] = {frozenset(s.labels.items()) for s in samples[SOURCE_STATUS] if s.value}
    assert dict(labels)["account_id"] == "o-a1b2c3d4e5"
    assert dict(labels)["source_type"] == "ORGANIZATION"
    assert samples[SOURCE_UPDATE] == []


def test_denied_sources_keep_the_aggregated_compliance(account, stub, caplog) -> None:
    stub_rows(stub, [row("p")])
    stub.add_client_error(SOURCES_CALL, "AccessDeniedException", http_status_code=400)
    account.account_id = ACCOUNT
    targets = [Target(account, "us-east-1")]
    collector = collector_for(
        targets, AggregatorConfig("org", "us-east-1"), compliance=ComplianceConfig(enabled=False)
    )

    with caplog.at_level(logging.WARNING):
        samples = collector.read(targets[0], Deadline.after(10))

    stub.assert_no_pending_responses()
    assert {key[2] for key in values_of(samples, COMPLIANCE)} == {"p"}
    assert samples[SOURCE_STATUS] == samples[SOURCE_UPDATE] == []
    assert any(getattr(r, "error_code", "") == "AccessDeniedException" for r in caplog.records)


def test_other_source_errors_fail_the_read(account, stub) -> None:
    stub_rows(stub, [row("p")])
    stub.add_client_error(SOURCES_CALL, "ThrottlingException", http_status_code=400)
    account.account_id = ACCOUNT
    targets = [Target(account, "us-east-1")]
    collector = collector_for(
        targets, AggregatorConfig("org", "us-east-1"), compliance=ComplianceConfig(enabled=False)
    )

    with pytest.raises(botocore.exceptions.ClientError):
        collector.read(targets[0], Deadline.after(10))


def test_an_aggregator_is_read_through_its_accounts_client_in_its_region() -> None:
    home = make_account(REGIONS)
    audit = make_account(REGIONS, account=AccountConfig(name="audit"))
    targets = [Target(account, region) for account in (home, audit) for region in REGIONS]
    aggregators = (
        AggregatorConfig("org", "eu-west-1", "audit"),
        AggregatorConfig("mine", "us-east-1"),
    )
    collector = AggregatorCollector(
        Config(aggregators=aggregators), targets[0].client.meta.service_model
    )

    assert collector.targets(targets) == [Target(audit, "eu-west-1"), Target(home, "us-east-1")]
    with pytest.raises(ValueError, match="'nobody' is not read in region 'eu-west-1'"):
        collector_for(targets, AggregatorConfig("org", "eu-west-1", "nobody"))


def test_a_missing_aggregator_reports_scrape_success_zero(account, stub, caplog) -> None:
    stub.add_client_error(OPERATION, "NoSuchConfigurationAggregatorException")
    account.account_id = ACCOUNT
    target = Target(account, "us-east-1")
    collector = collector_for([target], AggregatorConfig("gone", "us-east-1"))
    scraper = Scraper([collector], [target], ApiCallCounter())

    samples = wait_for(
        lambda: (found := scrape_samples(scraper)).get(SCRAPE_SUCCESS) and found, 10, "a read"
    )
    scraper.close()

    assert samples[SCRAPE_SUCCESS] == [
        ({"account_id": ACCOUNT, "collector": "aggregator", "region": "us-east-1"}, 0.0)
    ]
    assert COMPLIANCE not in samples
    codes = [getattr(record, "error_code", "") for record in caplog.records]
    assert "NoSuchConfigurationAggregatorException" in codes


# The exporter against the simulator over HTTP: an organisation of three accounts in two
# regions, 20 packs each (120 rows: two pages), with the same aggregator in both home regions.
OTHERS = (MEMBER, "444455556666")
SOURCES = tuple((a, r) for a in (ACCOUNT, *OTHERS) for r in REGIONS)


def organisation() -> Scenario:
    rules = (Rule("ok"), Rule("bad", "NON_COMPLIANT", 2), Rule("new", "INSUFFICIENT_DATA"))
    packs = [
        SimulatedPack(
            f"pack-{i:02d}", "CREATE_COMPLETE", requested_at=0, rules=rules[: 1 + i % 3], score=50.0
        )
        for i in range(20)
    ]
    return Scenario(
        packs={source: packs for source in SOURCES},
        aggregators={
            (ACCOUNT, "us-east-1"): [SimulatedAggregator("org", SOURCES)],
            (ACCOUNT, "eu-west-1"): [SimulatedAggregator("org-copy", SOURCES)],
        },
    )


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    with ConfigSimulator(organisation()) as simulator:
        yield simulator


def scrape_until_read(simulator: ConfigSimulator, *aggregators: AggregatorConfig) -> str:
    """The exposition once every collector has served a read, as the CLI wires them."""
    config = Config(regions=REGIONS, aggregators=aggregators)
    sessions = fake_credentials_sessions(simulator.url)
    targets = build_targets(config, sessions, ApiCallCounter(), IAM_ACTIONS, ())
    collectors = build_collectors(config, targets[0].client.meta.service_model)
    scraper = Scraper(collectors, targets, ApiCallCounter())

    expected = 3 * len(targets) + len(aggregators)  # status, compliance, pipeline, aggregators

    def read() -> str | None:
        text = exposition(scraper.collect(Deadline.after(10)))
        return text if len(parse_exposition(text)[SCRAPE_SUCCESS]) == expected else None

    try:
        return str(wait_for(read, 20, "every collector's read", interval=0.05))
    finally:
        scraper.close()


def success(samples) -> dict[tuple[str, str], float]:
    return {(lb["collector"], lb["region"]): v for lb, v in samples[SCRAPE_SUCCESS]}


@pytest.mark.integration
def test_the_organisation_beside_the_direct_reads_and_never_twice(simulator) -> None:
    text = scrape_until_read(
        simulator, AggregatorConfig("org", "us-east-1"), AggregatorConfig("org-copy", "eu-west-1")
    )

    samples = parse_exposition(text)
    assert text.count(f"# HELP {COMPLIANCE} ") == text.count(f"# TYPE {RULES} ") == 1
    series = Counter((n, frozenset(lb.items())) for n, found in samples.items() for lb, _ in found)
    assert max(series.values()) == 1
    assert {(lb["account_id"], lb["region"]) for lb, _ in samples[COMPLIANCE]} == set(SOURCES)
    assert set(success(samples).values()) == {1.0}
    # pack-02 has one rule of each value, wherever it is read from.
    rules = {
        (lb["account_id"], lb["region"], lb["compliance"]): v
        for lb, v in samples[RULES]
        if lb["conformance_pack"] == "pack-02"
    }
    assert rules == {(a, r, v): 1.0 for a, r in SOURCES for v in VALUES}
    operation = "DescribeAggregateComplianceByConformancePacks"
    assert simulator.calls(operation=operation, region="us-east-1") == 2  # 120 rows, 100 a page
    sources = {
        (lb["aggregator"], lb["account_id"], lb["region"])
        for lb, v in samples[SOURCE_STATUS]
        if lb["status"] == "SUCCEEDED" and v == 1
    }
    assert sources == {(name, a, r) for name in ("org", "org-copy") for a, r in SOURCES}
    sources_operation = "DescribeConfigurationAggregatorSourcesStatus"
    assert simulator.calls(operation=sources_operation, region="us-east-1") == 1  # 6 sources
    assert simulator.calls(operation="DescribeConformancePackCompliance", account=MEMBER) == 0


@pytest.mark.integration
def test_a_missing_aggregator_fails_alone(simulator) -> None:
    text = scrape_until_read(
        simulator, AggregatorConfig("org", "us-east-1"), AggregatorConfig("gone", "eu-west-1")
    )

    samples = parse_exposition(text)
    assert success(samples) == {
        **{
            (collector, r): 1.0
            for collector in ("status", "compliance", "pipeline")
            for r in REGIONS
        },
        ("aggregator", "us-east-1"): 1.0,
        ("aggregator", "eu-west-1"): 0.0,
    }
    assert {(lb["account_id"], lb["region"]) for lb, _ in samples[RULES]} == set(SOURCES)
