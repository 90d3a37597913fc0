"""exporter/aws/pages.py: every page before the deadline, and answers without data refused."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from exporter.aws.errors import DeadlineExceededError, InvalidResponseError, error_code
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.pages import read_all_pages
from exporter.deadline import Deadline
from exporter.simulator import Fault
from tests.aws.conftest import OPERATION, make_account

STATUS = "describe_conformance_pack_status"
KEY = "ConformancePackStatusDetails"


def test_every_page_at_the_page_size(simulator) -> None:
    client = make_account(simulator, ApiCallCounter()).clients["us-east-1"]

    items = read_all_pages(client, STATUS, KEY, 20, Deadline.after(10))

    assert len(items) == 45
    assert simulator.calls(operation=OPERATION) == 3


def test_deadline_between_pages(simulator) -> None:
    client = make_account(simulator, ApiCallCounter()).clients["us-east-1"]

    with pytest.raises(DeadlineExceededError) as caught:
        read_all_pages(client, STATUS, KEY, 20, Deadline(time.monotonic() - 1))

    assert error_code(caught.value) == "timeout"
    assert simulator.calls(operation=OPERATION) == 1


def test_a_page_without_its_result_is_an_error(simulator) -> None:
    client = make_account(simulator, ApiCallCounter(), total_max_attempts=1).clients["us-east-1"]
    simulator.add_fault(Fault(kind="empty_object"))

    with pytest.raises(InvalidResponseError, match=KEY):
        read_all_pages(client, STATUS, KEY, 20, Deadline.after(10))


def test_a_client_read_through_its_paginator_is_freed_once_dropped(simulator) -> None:
    """Discovery makes and drops accounts for as long as the exporter runs: a paginator kept
    for a client must not keep the client (and its account) alive."""
    client = make_account(simulator, ApiCallCounter()).clients["us-east-1"]
    read_all_pages(client, STATUS, KEY, 20, Deadline.after(10))
    dropped = weakref.ref(client)

    del client
    gc.collect()

    assert dropped() is None
