"""exporter/collectors/status.py with botocore's Stubber: pagination, name filter, account ids."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.targets import Target
from exporter.collectors.status import pack_samples
from exporter.metrics import INFO, SCRAPE_SUCCESS, STATE, STATUS_REASON
from exporter.scrape import Scraper
from tests.conftest import (
    ACCOUNT,
    MODEL_STATES,
    STUBBED_REGIONS,
    make_scraper,
    pack_status,
    scrape_samples,
)

OPERATION = "describe_conformance_pack_status"
REGIONS = STUBBED_REGIONS


def make_collector(account: Account, regions=REGIONS, **config: Any) -> Scraper:
    return make_scraper([Target(account, region) for region in regions], **config)


def scrape(scraper: Scraper, timeout: float = 10.0):
    try:
        return scrape_samples(scraper, timeout)
    finally:
        scraper.close()


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
    return {
        labels["region"]: value
        for labels, value in samples[SCRAPE_SUCCESS]
        if labels["collector"] == "status"
    }


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

    assert samples[SCRAPE_SUCCESS] == [
        ({"account_id": "", "collector": "status", "region": "us-east-1"}, 1.0)
    ]
    assert any(getattr(r, "error_code", None) == "AccessDenied" for r in caplog.records)


def test_names_are_asked_a_page_at_a_time(account, stubbers) -> None:
    names = [f"pack-{i:02d}" for i in range(50)]
    for start in range(0, len(names), 20):  # ceil(50/20) = 3 calls, one page each
        chunk = names[start : start + 20]
        assert stub_pages(stubbers["us-east-1"], [pack_status(n) for n in chunk], chunk) == 1

    samples = scrape(
        make_collector(account, regions=("us-east-1",), conformance_packs=tuple(names))
    )

    stubbers["us-east-1"].assert_no_pending_responses()
    assert {labels["conformance_pack"] for labels, _ in samples[INFO]} == set(names)


def test_the_name_chunk_is_read_from_the_model(account, stubbers, monkeypatch) -> None:
    model = account.clients["us-east-1"].meta.service_model
    members = model.operation_model("DescribeConformancePackStatus").input_shape.members
    monkeypatch.setitem(members["ConformancePackNames"].metadata, "max", 7)
    names = [f"pack-{i:02d}" for i in range(15)]
    for start in range(0, len(names), 7):  # fewer names a call than a page holds: 3 calls
        chunk = names[start : start + 7]
        stub_pages(stubbers["us-east-1"], [pack_status(n) for n in chunk], chunk)

    samples = scrape(
        make_collector(account, regions=("us-east-1",), conformance_packs=tuple(names))
    )

    stubbers["us-east-1"].assert_no_pending_responses()
    assert len(samples[INFO]) == len(names)


def test_pack_samples_pass_an_unknown_state_through_with_1() -> None:
    statuses = [pack_status("new", state="ROLLBACK_SOMEDAY"), pack_status("old")]

    samples = pack_samples(ACCOUNT, "us-east-1", statuses, MODEL_STATES, True)

    current = {
        (s.labels["conformance_pack"], s.labels["state"]) for s in samples[STATE] if s.value == 1
    }
    assert current == {("new", "ROLLBACK_SOMEDAY"), ("old", "CREATE_COMPLETE")}
    assert len(samples[STATE]) == 2 * len(MODEL_STATES) + 1


def test_status_reason_only_when_present_and_wanted() -> None:
    statuses = [pack_status("a", reason="stack failed"), pack_status("b", reason="")]

    wanted = pack_samples(ACCOUNT, "us-east-1", statuses, MODEL_STATES, True)
    unwanted = pack_samples(ACCOUNT, "us-east-1", statuses, MODEL_STATES, False)

    assert [s.labels["reason"] for s in wanted[STATUS_REASON]] == ["stack failed"]
    assert unwanted[STATUS_REASON] == []
