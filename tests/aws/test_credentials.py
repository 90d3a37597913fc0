"""exporter/aws/credentials.py: a failing refresh logged once a minute with a hint, and
whether the base credentials are a role session."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import botocore.session
import pytest
from botocore.credentials import Credentials
from botocore.stub import Stubber

from exporter.aws.credentials import Sessions, client_config
from exporter.config import AccountConfig, Config
from tests.conftest import fake_credentials_sessions

pytestmark = pytest.mark.integration

ROLE_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{ROLE_ACCOUNT}:role/conformance-pack-exporter"


def test_a_failing_refresh_logs_one_line_a_minute_with_a_hint(simulator, caplog) -> None:
    sessions = fake_credentials_sessions(simulator.url)
    stubs: list[Stubber] = []

    def refuse_duration(client: Any) -> None:
        stub = Stubber(client)
        stub.add_client_error(
            "assume_role",
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed"
            " by role chaining.",
            400,
        )
        stub.activate()
        stubs.append(stub)

    role = AccountConfig(role_arn=ROLE, external_id="secret-external-id", duration_seconds=7200)
    credentials = sessions.for_account(
        role, "us-east-1", refuse_duration, client_config(Config())
    ).get_credentials()
    assert credentials is not None
    for _ in range(3):
        with pytest.raises(botocore.exceptions.ClientError):
            credentials.get_frozen_credentials()

    assert len(stubs) == 3, "each failed refresh asked STS"
    lines = [r for r in caplog.records if r.name.startswith(("exporter", "botocore"))]
    assert [(r.getMessage(), r.account_id, r.error_code) for r in lines] == [
        ("assuming the role failed", ROLE_ACCOUNT, "ValidationError")
    ], "botocore's own warning, with its traceback, is not logged"
    assert "role chaining" in lines[0].hint
    assert "lower it to 3600" in lines[0].hint
    assert not lines[0].exc_info
    assert not [r for r in caplog.records if "secret-external-id" in str(vars(r))]


@pytest.mark.parametrize(
    ("method", "token", "is_role"),
    [
        ("assume-role", "t", True),
        ("assume-role-with-web-identity", "t", True),
        ("iam-role", "t", True),
        ("container-role", "t", True),
        ("sso", "t", True),
        ("env", None, False),
        ("shared-credentials-file", None, False),
        ("env", "t", None),  # a session token: a role's or a user's session, can't tell
        ("custom-process", "t", None),
        ("explicit", None, False),
    ],
)
def test_base_is_role_from_how_botocore_found_the_credentials(
    method: str, token: str | None, is_role: bool | None
) -> None:
    core = botocore.session.get_session()
    core.get_credentials = lambda: Credentials("AKIDTEST", "secret", token, method=method)  # type: ignore[method-assign]

    assert Sessions(core).base_is_role() is is_role


def test_base_is_role_is_none_without_credentials() -> None:
    core = botocore.session.get_session()
    core.get_credentials = lambda: None  # type: ignore[method-assign]

    assert Sessions(core).base_is_role() is None
