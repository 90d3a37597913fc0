"""exporter/aws/organizations.py: which listed accounts are active, for every state the model
knows and one it does not, and the names the listing gives them; discovery's use of the
listing is driven in tests/test_discovery.py."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from exporter.aws.organizations import is_active, list_active_accounts
from exporter.deadline import Deadline
from tests.conftest import make_account

ACCOUNT_SHAPE: Any = (
    botocore.session.get_session().get_service_model("organizations").shape_for("Account")
)
STATES = tuple(ACCOUNT_SHAPE.members["State"].enum)
STATUSES = tuple(ACCOUNT_SHAPE.members["Status"].enum)


@pytest.mark.parametrize("state", [*STATES, "A_STATE_NEWER_THAN_BOTOCORE"])
def test_only_the_active_state_is_read(state: str) -> None:
    assert is_active({"Id": "210987654321", "State": state}) == (state == "ACTIVE")


@pytest.mark.parametrize("status", STATUSES)
def test_the_older_status_field_counts_where_no_state_is_given(status: str) -> None:
    assert is_active({"Id": "210987654321", "Status": status}) == (status == "ACTIVE")


def test_the_state_wins_over_the_older_status() -> None:
    assert not is_active({"Id": "210987654321", "State": "CLOSED", "Status": "ACTIVE"})
    assert "ACTIVE" in STATES, "the model no longer has the state the exporter reads"


def test_the_listing_gives_each_active_account_s_name_over_every_page() -> None:
    """Names come with the pages: an account without one gets '', an inactive one none."""
    account = make_account(("us-east-1",))
    client = account.client_for("organizations", account)  # as discovery makes it
    first = [
        {"Id": "111111111111", "Name": "Production", "State": "ACTIVE"},
        {"Id": "222222222222", "Name": "Old sandbox", "State": "SUSPENDED"},
    ]
    second = [
        {"Id": "333333333333", "State": "ACTIVE"},
        {"Id": "444444444444", "Name": 'Team "B" — sandbox', "Status": "ACTIVE"},
    ]
    with Stubber(client) as stub:
        stub.add_response(
            "list_accounts", {"Accounts": first, "NextToken": "next"}, {"MaxResults": 20}
        )
        stub.add_response(
            "list_accounts", {"Accounts": second}, {"MaxResults": 20, "NextToken": "next"}
        )

        listed = list_active_accounts(client, Deadline.after(10))

        stub.assert_no_pending_responses()
    assert list(listed.items()) == [
        ("111111111111", "Production"),
        ("333333333333", ""),
        ("444444444444", 'Team "B" — sandbox'),
    ]
