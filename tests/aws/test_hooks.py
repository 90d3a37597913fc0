"""exporter/aws/hooks.py: the attempt counter, the deadline that stops retries, the allow-list.

The counter hooks botocore's retry machinery, which Stubber bypasses, so these tests send
real signed requests to the simulator on loopback.
"""

from __future__ import annotations

import time

import botocore.exceptions
import botocore.handlers
import pytest

from exporter.aws.errors import InvalidResponseError, UnlistedOperationError, error_code
from exporter.aws.hooks import ApiCallCounter, attempt_outcome
from exporter.aws.packs import fetch_pack_statuses
from exporter.collectors import IAM_ACTIONS
from exporter.deadline import Deadline
from exporter.simulator import Fault
from tests.aws.conftest import OPERATION, make_account


def counts(counter: ApiCallCounter) -> dict[tuple[str, str], int]:
    return {(operation, outcome): n for _, _, operation, outcome, n in counter.samples()}


def test_every_page_is_one_counted_success(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter)

    statuses = fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(10))

    assert len(statuses) == 45
    assert counts(counter) == {(OPERATION, "success"): 3}
    assert simulator.calls(operation=OPERATION) == 3


def test_retries_are_counted_per_attempt(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=3)
    simulator.add_fault(Fault(kind="throttle", count=2))

    fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(30))

    assert counts(counter) == {(OPERATION, "ThrottlingException"): 2, (OPERATION, "success"): 3}


def test_retries_stop_at_the_deadline(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=10)
    simulator.add_fault(Fault(kind="unavailable"))

    with pytest.raises(botocore.exceptions.ClientError):
        fetch_pack_statuses(account.clients["us-east-1"], (), Deadline(time.monotonic() - 1))

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
        fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(10))

    assert counts(counter) == {(OPERATION, outcome): 1}


def test_an_unknown_error_code_is_counted_as_other() -> None:
    class Response:
        status_code = 400

    outcome = attempt_outcome(
        frozenset({"Known"}), None, (Response(), {"Error": {"Code": "Surprise" * 20}}), None
    )
    assert outcome == "other"


def test_read_timeout_is_counted_as_timeout(simulator) -> None:
    counter = ApiCallCounter()
    account = make_account(simulator, counter, total_max_attempts=1, read_timeout_seconds=0.2)
    simulator.add_fault(Fault(kind="hang", seconds=2))

    with pytest.raises(botocore.exceptions.ReadTimeoutError) as caught:
        fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(10))

    assert error_code(caught.value) == "timeout"
    assert counts(counter) == {(OPERATION, "timeout"): 1}


def test_clients_refuse_operations_missing_from_the_iam_list(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())

    with pytest.raises(UnlistedOperationError, match="config:DescribeConfigRules"):
        account.clients["us-east-1"].describe_config_rules()
    with pytest.raises(UnlistedOperationError, match="sts:GetSessionToken"):
        account.sts_client.get_session_token()

    assert simulator.calls() == 0
    assert {"config:DescribeConformancePackStatus", "sts:GetCallerIdentity"} <= IAM_ACTIONS


def test_the_counter_forgets_the_owners_it_is_told(simulator) -> None:
    """Discovery tells it the accounts that left the organisation (tests/test_discovery.py)."""
    counter = ApiCallCounter()
    gone, kept = make_account(simulator, counter), make_account(simulator, counter)
    for account in (gone, kept):
        fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(10))

    counter.forget({gone})

    owners = {owner for owner, *_ in counter._counts}  # what it holds, not only what it serves
    assert owners == {kept}
    assert [row[-1] for row in counter.samples()] == [3]


def test_the_counter_ignores_the_late_calls_of_owners_it_forgot(simulator) -> None:
    """A read in flight when discovery dropped its account would keep it, and its clients,
    for the life of the process."""
    counter = ApiCallCounter()
    gone, kept = make_account(simulator, counter), make_account(simulator, counter)
    counter.forget({gone})

    for account in (gone, kept):
        fetch_pack_statuses(account.clients["us-east-1"], (), Deadline.after(10))

    assert {owner for owner, *_ in counter._counts} == {kept}
