"""exporter/aws.py: the attempt counter, error codes, account ids, timeouts and retries.

The counter hooks botocore's retry machinery, which Stubber bypasses, so these tests send
real signed requests to the simulator on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from exporter.aws import (
    IAM_ACTIONS,
    Account,
    ApiCallCounter,
    DeadlineExceededError,
    InvalidResponseError,
    UnlistedOperationError,
    _attempt_outcome,
    error_code,
    fetch_pack_statuses,
)
from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack
from tests import conftest
from tests.conftest import ACCOUNT

OPERATION = "DescribeConformancePackStatus"


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    packs = [SimulatedPack(f"p-{i:02d}", "CREATE_COMPLETE", requested_at=1.0) for i in range(45)]
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): packs})) as sim:
        yield sim


def make_account(simulator: ConfigSimulator, counter: ApiCallCounter, **config: Any) -> Account:
    return conftest.make_account(("us-east-1",), simulator.url, counter, **config)


def counts(counter: ApiCallCounter) -> dict[tuple[str, str], int]:
    return {(operation, outcome): n for _, _, operation, outcome, n in counter.samples()}


def test_every_page_is_one_counted_success(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter)

    statuses = fetch_pack_statuses(account.clients["us-east-1"], (), time.monotonic() + 10)

    assert len(statuses) == 45
    assert counts(counter) == {(OPERATION, "success"): 3}
    assert simulator.calls(operation=OPERATION) == 3


def test_retries_are_counted_per_attempt(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=3)
    simulator.add_fault(Fault(kind="throttle", count=2))

    fetch_pack_statuses(account.clients["us-east-1"], (), time.monotonic() + 30)

    assert counts(counter) == {(OPERATION, "ThrottlingException"): 2, (OPERATION, "success"): 3}


def test_retries_stop_at_the_deadline(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=10)
    simulator.add_fault(Fault(kind="unavailable"))

    with pytest.raises(botocore.exceptions.ClientError):
        fetch_pack_statuses(account.clients["us-east-1"], (), time.monotonic() - 1)

    assert counts(counter) == {(OPERATION, "ServiceUnavailable"): 1}


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("garbage", "invalid_response"),
        ("truncated", "invalid_response"),
        ("empty_object", "invalid_response"),
        ("internal_error", "InternalFailure"),
    ],
)
def test_bad_answers_have_bounded_outcomes(simulator, kind, outcome) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=1)
    simulator.add_fault(Fault(kind=kind))

    with pytest.raises((InvalidResponseError, botocore.exceptions.ClientError)):
        fetch_pack_statuses(account.clients["us-east-1"], (), time.monotonic() + 10)

    assert counts(counter) == {(OPERATION, outcome): 1}


def test_an_unknown_error_code_is_counted_as_other() -> None:
    class Response:
        status_code = 400

    outcome = _attempt_outcome(
        frozenset({"Known"}), None, (Response(), {"Error": {"Code": "Surprise" * 20}}), None
    )
    assert outcome == "other"


def test_read_timeout_is_counted_as_timeout(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=1, read_timeout_seconds=0.2)
    simulator.add_fault(Fault(kind="hang", seconds=2))

    with pytest.raises(botocore.exceptions.ReadTimeoutError) as caught:
        fetch_pack_statuses(account.clients["us-east-1"], (), time.monotonic() + 10)

    assert error_code(caught.value) == "timeout"
    assert counts(counter) == {(OPERATION, "timeout"): 1}


def test_deadline_between_pages(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())
    with pytest.raises(DeadlineExceededError) as caught:
        fetch_pack_statuses(account.clients["us-east-1"], (), time.monotonic() - 1)
    assert error_code(caught.value) == "timeout"
    assert simulator.calls(operation=OPERATION) == 1


def test_account_id_is_asked_once(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())

    assert account.resolve_account_id() == ACCOUNT
    assert account.resolve_account_id() == ACCOUNT
    assert simulator.calls(operation="GetCallerIdentity") == 1


def test_account_id_from_an_arn_needs_no_sts(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())
    account.observe_arn("arn:aws:config:us-east-1:999999999999:conformance-pack/x/y")
    assert account.resolve_account_id() == "999999999999"
    assert simulator.calls(operation="GetCallerIdentity") == 0


def test_failed_sts_is_retried_on_the_next_scrape(simulator) -> None:
    account = make_account(simulator, ApiCallCounter(), total_max_attempts=1)
    simulator.add_fault(Fault(kind="access_denied", service="sts", count=1))

    assert account.resolve_account_id() == ""
    assert account.resolve_account_id() == ACCOUNT


def test_connection_errors() -> None:
    error = botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")
    assert error_code(error) == "connection_error"
    assert error_code(botocore.exceptions.NoCredentialsError()) == "no_credentials"
    assert error_code(ValueError()) == "other"


def test_clients_refuse_operations_missing_from_the_iam_list(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())

    with pytest.raises(UnlistedOperationError, match="config:DescribeConfigRules"):
        account.clients["us-east-1"].describe_config_rules()
    with pytest.raises(UnlistedOperationError, match="sts:GetSessionToken"):
        account.sts_client.get_session_token()

    assert simulator.calls() == 0
    assert {"config:DescribeConformancePackStatus", "sts:GetCallerIdentity"} <= IAM_ACTIONS
