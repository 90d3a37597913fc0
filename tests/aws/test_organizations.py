"""exporter/aws/organizations.py: which listed accounts are active, for every state the model
knows and one it does not; the listing itself is driven in tests/test_discovery.py."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from exporter.aws.organizations import is_active

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
