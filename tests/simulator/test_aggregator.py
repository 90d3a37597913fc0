"""DescribeAggregateComplianceByConformancePacks as boto3 sees it: rows computed from the source
packs, paging past 100, filters, limits and the errors for an unknown aggregator or token."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    ComplianceChange,
    Scenario,
    SimulatedAggregator,
    SimulatedPack,
    SimulatedRule,
    SourceStatus,
)
from tests.simulator.conftest import (
    NOW,
    OTHER_ACCOUNT,
    SECRET_KEY,
    FakeClock,
    error_code,
    make_client,
)

REGIONS = ("us-east-1", "eu-west-1")
SOURCES = tuple(
    (account, region) for account in (DEFAULT_ACCOUNT, OTHER_ACCOUNT) for region in REGIONS
)
ROWS = "AggregateComplianceByConformancePacks"
PAGINATOR = "describe_aggregate_compliance_by_conformance_packs"


def pack(name: str, *rules: SimulatedRule, **fields: Any) -> SimulatedPack:
    return SimulatedPack(name, "CREATE_COMPLETE", requested_at=NOW - 500, rules=rules, **fields)


MIXED = pack(
    "mixed",
    SimulatedRule("a"),
    SimulatedRule("b", "NON_COMPLIANT", 4),
    SimulatedRule("c", "INSUFFICIENT_DATA"),
    SimulatedRule("d", "INSUFFICIENT_DATA"),
)


def scenario(packs_per_source: int = 1, **aggregators: tuple[tuple[str, str], ...]) -> Scenario:
    """`packs_per_source` clean packs and MIXED in every source; aggregators in the default
    account's first region, all sources unless given."""
    packs = [pack(f"pack-{index:03d}", SimulatedRule("ok")) for index in range(packs_per_source)]
    found = aggregators or {"org": SOURCES}
    return Scenario(
        packs={source: [*packs, MIXED] for source in SOURCES},
        aggregators={
            (DEFAULT_ACCOUNT, REGIONS[0]): [
                SimulatedAggregator(name, sources) for name, sources in found.items()
            ]
        },
    )


def rows(client: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator(PAGINATOR).paginate(ConfigurationAggregatorName="org", **kwargs)
    return [row for page in pages for row in page[ROWS]]


def test_rows_count_rules_and_page_past_one_hundred(session, serve):
    simulator = serve(scenario(packs_per_source=30))
    client = make_client(session, simulator)

    pages = list(client.get_paginator(PAGINATOR).paginate(ConfigurationAggregatorName="org"))
    found = [row for page in pages for row in page[ROWS]]

    assert [len(page[ROWS]) for page in pages] == [100, 24]
    keys = [(row["AccountId"], row["AwsRegion"], row["ConformancePackName"]) for row in found]
    assert keys == sorted(keys)
    assert len(set(keys)) == 4 * 31
    mixed = next(row for row in found if row["ConformancePackName"] == "mixed")
    assert mixed["Compliance"] == {
        "ComplianceType": "NON_COMPLIANT",
        "CompliantRuleCount": 1,
        "NonCompliantRuleCount": 1,
        "TotalRuleCount": 4,
    }
    assert simulator.calls(operation="DescribeAggregateComplianceByConformancePacks") == 2


def test_a_smaller_limit_pages_by_it(session, serve):
    client = make_client(session, serve(scenario()))

    pages = list(
        client.get_paginator(PAGINATOR).paginate(
            ConfigurationAggregatorName="org", PaginationConfig={"PageSize": 3}
        )
    )

    assert [len(page[ROWS]) for page in pages] == [3, 3, 2]


BOTH = (DEFAULT_ACCOUNT, OTHER_ACCOUNT)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"AccountId": OTHER_ACCOUNT},
            {(OTHER_ACCOUNT, r, p) for r in REGIONS for p in ("pack-000", "mixed")},
        ),
        (
            {"AwsRegion": "eu-west-1", "ConformancePackName": "mixed"},
            {(a, "eu-west-1", "mixed") for a in BOTH},
        ),
        (
            {"ComplianceType": "COMPLIANT", "AccountId": DEFAULT_ACCOUNT},
            {(DEFAULT_ACCOUNT, r, "pack-000") for r in REGIONS},
        ),
    ],
    ids=["account", "region-and-pack", "compliance"],
)
def test_filters(session, serve, filters, expected):
    client = make_client(session, serve(scenario()))

    found = rows(client, Filters=filters)

    assert {(r["AccountId"], r["AwsRegion"], r["ConformancePackName"]) for r in found} == expected


def test_only_the_aggregators_sources_and_those_with_packs_are_reported(session, serve):
    simulator = serve(scenario(org=((OTHER_ACCOUNT, "eu-west-1"), (OTHER_ACCOUNT, "ap-south-1"))))
    client = make_client(session, simulator)

    found = rows(client)

    assert {(row["AccountId"], row["AwsRegion"]) for row in found} == {(OTHER_ACCOUNT, "eu-west-1")}


def test_rows_follow_the_compliance_timeline(session, serve):
    clock = FakeClock(NOW)
    fixed = SimulatedRule("b", "COMPLIANT")
    changing = pack(
        "changing",
        SimulatedRule("b", "NON_COMPLIANT", 2),
        compliance_timeline=(ComplianceChange(60, 100.0, (fixed,)),),
    )
    source = (DEFAULT_ACCOUNT, REGIONS[0])
    simulator = serve(
        Scenario(
            packs={source: [changing]},
            aggregators={source: [SimulatedAggregator("org", (source,))]},
        ),
        clock=clock,
    )
    client = make_client(session, simulator)

    before = rows(client)[0]["Compliance"]["ComplianceType"]
    clock.now += 61
    after = rows(client)[0]["Compliance"]

    assert before == "NON_COMPLIANT"
    assert (after["ComplianceType"], after["CompliantRuleCount"]) == ("COMPLIANT", 1)


@pytest.mark.parametrize(
    ("region", "credentials"),
    [
        ("us-east-1", None),
        ("eu-west-1", None),
        ("us-east-1", {"aws_access_key_id": "AKIDMEMBER", "aws_secret_access_key": SECRET_KEY}),
    ],
    ids=["unknown-name", "other-region", "other-account"],
)
def test_an_aggregator_is_found_only_by_name_where_it_is(session, serve, region, credentials):
    found = scenario()
    found.access_key_accounts = {"AKIDMEMBER": OTHER_ACCOUNT}
    client = make_client(session, serve(found), region=region, credentials=credentials)
    name = "nope" if region == "us-east-1" and credentials is None else "org"

    with pytest.raises(ClientError) as caught:
        client.describe_aggregate_compliance_by_conformance_packs(ConfigurationAggregatorName=name)

    assert error_code(caught) == "NoSuchConfigurationAggregatorException"
    assert type(caught.value).__name__ == "NoSuchConfigurationAggregatorException"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"Limit": 101}, "InvalidLimitException"),
        ({"NextToken": "forged"}, "InvalidNextTokenException"),
        ({"Filters": {"AccountId": "12345"}}, "ValidationException"),
    ],
    ids=["limit", "token", "account-id"],
)
def test_bad_requests_are_refused_as_aws_refuses_them(session, serve, arguments, code):
    client = make_client(session, serve(scenario()), parameter_validation=False)

    with pytest.raises(ClientError) as caught:
        client.describe_aggregate_compliance_by_conformance_packs(
            ConfigurationAggregatorName="org", **arguments
        )

    assert error_code(caught) == code


def test_a_token_is_bound_to_its_query(session, serve):
    client = make_client(session, serve(scenario(packs_per_source=30)))
    first = client.describe_aggregate_compliance_by_conformance_packs(
        ConfigurationAggregatorName="org"
    )

    with pytest.raises(ClientError) as caught:
        client.describe_aggregate_compliance_by_conformance_packs(
            ConfigurationAggregatorName="org",
            Filters={"AwsRegion": "eu-west-1"},
            NextToken=first["NextToken"],
        )

    assert error_code(caught) == "InvalidNextTokenException"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SimulatedAggregator("org name", ()), "ConfigurationAggregatorName"),
        (lambda: SimulatedAggregator("org", (("12345", "us-east-1"),)), "not valid"),
        (lambda: SimulatedAggregator("org", (SOURCES[0], SOURCES[0])), "unique"),
        (lambda: SimulatedAggregator("org", (), source_type="ORG"), "source type"),
        (
            lambda: SimulatedAggregator("org", SOURCES[:1], statuses={SOURCES[1]: SourceStatus()}),
            "does not have",
        ),
        (lambda: SourceStatus("STALE"), "source status"),
    ],
    ids=["name", "account", "duplicate-source", "source-type", "stranger-status", "status"],
)
def test_invalid_aggregators_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_duplicate_aggregator_names_in_one_region_are_refused(serve):
    source = (DEFAULT_ACCOUNT, REGIONS[0])
    twice = [SimulatedAggregator("org", (source,)), SimulatedAggregator("org", ())]

    with pytest.raises(ValueError, match="unique"):
        serve(Scenario(packs={}, aggregators={source: twice}))
