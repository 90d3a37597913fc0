"""exporter/collector.py with botocore's Stubber: pagination, states, errors, deadlines."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from exporter.aws import Account, ApiCallCounter, pack_states
from exporter.collector import ConformancePackCollector, Target
from exporter.metrics import INFO, SCRAPE_SUCCESS, STATE
from tests.conftest import ACCOUNT, exposition, make_account, pack_status, parse_exposition

OPERATION = "describe_conformance_pack_status"
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def account() -> Account:
    return make_account(REGIONS)


@pytest.fixture
def stubbers(account: Account) -> Iterator[dict[str, Stubber]]:
    stubs = {region: Stubber(account.clients[region]) for region in REGIONS}
    stubs["sts"] = Stubber(account.sts_client)
    for stub in stubs.values():
        stub.activate()
    yield stubs
    for stub in stubs.values():
        stub.deactivate()


def make_collector(account: Account, regions=REGIONS, **options: Any) -> ConformancePackCollector:
    collector = ConformancePackCollector(
        [Target(account, region) for region in regions],
        pack_states(account.clients[regions[0]]),
        ApiCallCounter(),
        **options,
    )
    return collector


def scrape(collector: ConformancePackCollector, timeout: float = 10.0):
    try:
        return parse_exposition(exposition(collector.collect_within(timeout)))
    finally:
        collector.close()


def stub_pages(stub: Stubber, packs: list[dict[str, Any]], names: list[str] | None = None) -> int:
    """Queue the pages AWS would send for `packs`; returns how many calls that takes."""
    pages = max(1, math.ceil(len(packs) / 20))
    for index in range(pages):
        expected: dict[str, Any] = {"Limit": 20}
        if names:
            expected["ConformancePackNames"] = names
        if index:
            expected["NextToken"] = f"token-{index}"
        response: dict[str, Any] = {
            "ConformancePackStatusDetails": packs[index * 20 : index * 20 + 20]
        }
        if index + 1 < pages:
            response["NextToken"] = f"token-{index + 1}"
        stub.add_response(OPERATION, response, expected)
    return pages


def success_by_region(samples) -> dict[str, float]:
    return {labels["region"]: value for labels, value in samples[SCRAPE_SUCCESS]}


@pytest.mark.parametrize(("count", "calls"), [(1, 1), (20, 1), (21, 2), (45, 3)])
def test_pagination_reads_every_page_at_size_20(account, stubbers, count, calls) -> None:
    packs = [pack_status(f"pack-{i:03d}") for i in range(count)]
    assert stub_pages(stubbers["us-east-1"], packs) == calls

    samples = scrape(make_collector(account, regions=("us-east-1",)))

    stubbers["us-east-1"].assert_no_pending_responses()
    names = {labels["conformance_pack"] for labels, _ in samples[INFO]}
    assert names == {f"pack-{i:03d}" for i in range(count)}
    assert success_by_region(samples) == {"us-east-1": 1.0}


def test_zero_packs_learns_the_account_from_sts(account, stubbers) -> None:
    stub_pages(stubbers["us-east-1"], [])
    stubbers["sts"].add_response(
        "get_caller_identity",
        {"Account": "210987654321", "Arn": "arn:aws:iam::210987654321:user/x", "UserId": "AID"},
    )

    samples = scrape(make_collector(account, regions=("us-east-1",)))

    assert INFO not in samples
    [(labels, value)] = samples[SCRAPE_SUCCESS]
    assert (labels["account_id"], value) == ("210987654321", 1.0)
    stubbers["sts"].assert_no_pending_responses()


def test_account_id_from_arns_saves_the_sts_call(account, stubbers) -> None:
    stub_pages(stubbers["us-east-1"], [pack_status("p", account="555555555555")])

    samples = scrape(make_collector(account, regions=("us-east-1",)))

    assert samples[SCRAPE_SUCCESS][0][0]["account_id"] == "555555555555"
    stubbers["sts"].assert_no_pending_responses()


def test_sts_failure_still_serves_with_empty_account(account, stubbers, caplog) -> None:
    stub_pages(stubbers["us-east-1"], [])
    stubbers["sts"].add_client_error("get_caller_identity", "AccessDenied", http_status_code=403)

    with caplog.at_level(logging.WARNING):
        samples = scrape(make_collector(account, regions=("us-east-1",)))

    assert samples[SCRAPE_SUCCESS] == [({"account_id": "", "region": "us-east-1"}, 1.0)]
    assert any(getattr(r, "error_code", None) == "AccessDenied" for r in caplog.records)


def test_name_filter_is_sent_in_chunks_of_25(account, stubbers) -> None:
    names = [f"pack-{i:02d}" for i in range(30)]
    stub_pages(stubbers["us-east-1"], [pack_status(n) for n in names[:25]][:20], names[:25])
    stub_pages(stubbers["us-east-1"], [pack_status(n) for n in names[25:]], names[25:])

    samples = scrape(make_collector(account, regions=("us-east-1",), pack_names=tuple(names)))

    stubbers["us-east-1"].assert_no_pending_responses()
    assert len(samples[INFO]) == 25


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 400),
        ("ThrottlingException", 400),
        ("ExpiredTokenException", 400),
        ("UnrecognizedClientException", 400),
        ("InternalFailure", 500),
    ],
)
def test_an_error_fails_only_its_region(account, stubbers, caplog, code, status) -> None:
    stub_pages(stubbers["us-east-1"], [pack_status("healthy")])
    stubbers["eu-west-1"].add_client_error(OPERATION, code, http_status_code=status)

    with caplog.at_level(logging.WARNING):
        # One worker: us-east-1 runs first and learns the account id, so no STS call is made.
        samples = scrape(make_collector(account, concurrency=1))

    assert success_by_region(samples) == {"us-east-1": 1.0, "eu-west-1": 0.0}
    assert {labels["region"] for labels, _ in samples[STATE]} == {"us-east-1"}
    [failure] = [r for r in caplog.records if r.getMessage() == "collection failed"]
    assert (failure.region, failure.error_code) == ("eu-west-1", code)
    assert not failure.exc_info


def test_a_page_without_the_result_key_fails_the_region(account, stubbers, caplog) -> None:
    stubbers["us-east-1"].add_response(OPERATION, {}, {"Limit": 20})
    stubbers["sts"].add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": "arn:aws:iam::1:user/x", "UserId": "U"}
    )

    with caplog.at_level(logging.WARNING):
        samples = scrape(make_collector(account, regions=("us-east-1",)))

    assert samples[SCRAPE_SUCCESS] == [({"account_id": ACCOUNT, "region": "us-east-1"}, 0.0)]
    assert STATE not in samples
    assert [r.error_code for r in caplog.records] == ["invalid_response"]


def test_a_target_past_the_deadline_fails_and_the_scrape_answers(account, stubbers) -> None:
    release = threading.Event()
    stub_pages(stubbers["us-east-1"], [pack_status("fast")])
    stub_pages(stubbers["eu-west-1"], [pack_status("slow")])
    account.clients["eu-west-1"].meta.events.register_first(
        "before-parameter-build.config-service.DescribeConformancePackStatus",
        lambda **_: release.wait(30) and None,
    )
    collector = make_collector(account)

    started = time.monotonic()
    try:
        samples = parse_exposition(exposition(collector.collect_within(0.3)))
    finally:
        release.set()
        collector.close()

    assert time.monotonic() - started < 5
    assert success_by_region(samples) == {"us-east-1": 1.0, "eu-west-1": 0.0}


def test_describe_is_empty_so_registration_makes_no_call(account) -> None:
    assert make_collector(account).describe() == []


def test_collect_uses_the_default_timeout(account, stubbers) -> None:
    stub_pages(stubbers["us-east-1"], [pack_status("p")])
    collector = make_collector(account, regions=("us-east-1",), default_timeout_seconds=5)

    try:
        names = [family.name for family in collector.collect()]
    finally:
        collector.close()

    assert STATE in names
    assert "aws_config_exporter_api_requests" in names


def test_traceback_only_at_debug_level(account, stubbers, caplog) -> None:
    stub_pages(stubbers["us-east-1"], [pack_status("healthy")])
    stubbers["eu-west-1"].add_client_error(OPERATION, "AccessDeniedException")

    with caplog.at_level(logging.DEBUG, logger="exporter"):
        scrape(make_collector(account, concurrency=1))

    [failure] = [r for r in caplog.records if r.getMessage() == "collection failed"]
    assert failure.exc_info is not None
    assert failure.exc_info[0] is not None
    assert failure.exc_info[0].__name__ == "ClientError"
    assert failure.account_id == ACCOUNT
