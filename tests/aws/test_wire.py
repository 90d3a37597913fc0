"""What the exporter's requests carry on the wire, now that clients drop botocore handlers and
parameter validation: the signature, the date, the session token of an assumed role, the user
agent with the exporter's name and version, and the JSON protocol's headers.

Headers are captured by a `before-send` handler, after signing, as they leave for the simulator.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from exporter import __version__
from exporter.aws.hooks import UNNEEDED_HANDLERS, ApiCallCounter, unneeded_handlers
from exporter.aws.packs import fetch_pack_statuses
from exporter.aws.pages import paginator
from exporter.config import AccountConfig
from exporter.deadline import Deadline
from tests.aws.conftest import make_account
from tests.conftest import ACCOUNT

pytestmark = pytest.mark.integration

SIGNATURE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>\w+)/\d{8}/us-east-1/config/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=[0-9a-f]{64}"
)
ALWAYS_SENT = {"Authorization", "Content-Length", "Content-Type", "User-Agent", "X-Amz-Date"}


def sent_headers(client: Any) -> list[dict[str, str]]:
    """Every request `client` sends from now on, as the headers that leave for the wire."""
    sent: list[dict[str, str]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(
            {
                name: value.decode() if isinstance(value, bytes) else str(value)
                for name, value in request.headers.items()
            }
        )

    client.meta.events.register("before-send.config-service", capture)
    return sent


def test_every_unneeded_handler_is_still_botocore_s() -> None:
    """A botocore release that renames or drops one of them must be looked at, not ignored."""
    found = {handler.__name__ for _, handler in unneeded_handlers()}

    assert found == UNNEEDED_HANDLERS, f"not in botocore.handlers: {UNNEEDED_HANDLERS - found}"


def test_a_request_carries_what_aws_needs_and_no_sdk_telemetry(simulator) -> None:
    client = make_account(simulator, ApiCallCounter()).clients["us-east-1"]
    sent = sent_headers(client)

    fetch_pack_statuses(client, (), Deadline.after(10))

    assert len(sent) == 3  # 45 packs, 20 a page
    for headers in sent:
        assert set(headers) == ALWAYS_SENT | {"X-Amz-Target"}
        signature = SIGNATURE.fullmatch(headers["Authorization"])
        assert signature is not None, headers["Authorization"]
        assert signature["key"] == "AKIDTESTTESTTESTTEST"
        signed = signature["signed"].split(";")
        assert {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(signed)
        assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])
        assert f" conformance-pack-exporter/{__version__}" in headers["User-Agent"]
        assert headers["User-Agent"].startswith("Boto3/")
        assert headers["Content-Type"] == "application/x-amz-json-1.1"
        assert headers["X-Amz-Target"] == "StarlingDoveService.DescribeConformancePackStatus"


def test_an_assumed_role_request_carries_its_session_token(simulator) -> None:
    role = AccountConfig(role_arn=f"arn:aws:iam::{ACCOUNT}:role/reader")
    account = make_account(simulator, ApiCallCounter(), account=role)
    client = account.clients["us-east-1"]
    sent = sent_headers(client)

    fetch_pack_statuses(client, (), Deadline.after(10))

    assert len(simulator.assume_role_calls) == 1
    assert len(sent) == 3
    for headers in sent:
        assert set(headers) == ALWAYS_SENT | {"X-Amz-Target", "X-Amz-Security-Token"}
        assert headers["X-Amz-Security-Token"]  # the simulator rejects a wrong one
        signature = SIGNATURE.fullmatch(headers["Authorization"])
        assert signature is not None
        assert signature["key"] != "AKIDTESTTESTTESTTEST"  # the role's, not the caller's
        assert "x-amz-security-token" in signature["signed"].split(";")


def test_a_client_s_paginator_is_built_once_per_operation(simulator) -> None:
    account = make_account(simulator, ApiCallCounter())
    client = account.clients["us-east-1"]
    other = make_account(simulator, ApiCallCounter()).clients["us-east-1"]

    first = paginator(client, "describe_conformance_pack_status")

    assert paginator(client, "describe_conformance_pack_status") is first
    assert paginator(client, "describe_conformance_pack_compliance") is not first
    assert paginator(other, "describe_conformance_pack_status") is not first
