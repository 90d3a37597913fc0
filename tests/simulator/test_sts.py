"""STS: caller identities, AssumeRole sessions, their expiry and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from exporter.simulator import DEFAULT_ACCOUNT, Scenario
from tests.simulator.conftest import (
    ACCESS_KEY,
    NOW,
    OPERATION,
    OTHER_ACCOUNT,
    SECRET_KEY,
    FakeClock,
    error_code,
    make_client,
    make_packs,
    pack_names,
)


def test_get_caller_identity_reports_the_key_account(session, serve):
    simulator = serve(Scenario(packs={}, access_key_accounts={"AKIDOTHER": OTHER_ACCOUNT}))
    other = {"aws_access_key_id": "AKIDOTHER", "aws_secret_access_key": SECRET_KEY}

    default = make_client(session, simulator, service="sts").get_caller_identity()
    mapped = make_client(session, simulator, service="sts", credentials=other).get_caller_identity()

    assert default["Account"] == DEFAULT_ACCOUNT
    assert default["Arn"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:user/simulator"
    assert default["UserId"].startswith("AIDA")
    assert mapped["Account"] == OTHER_ACCOUNT


def test_assumed_credentials_see_the_role_account(session, serve):
    clock = FakeClock(NOW)
    scenario = Scenario(
        packs={
            (DEFAULT_ACCOUNT, "eu-west-1"): make_packs(1, prefix="home"),
            (OTHER_ACCOUNT, "eu-west-1"): make_packs(2, prefix="member"),
        }
    )
    simulator = serve(scenario, clock=clock)
    sts = make_client(session, simulator, service="sts", region="eu-west-1")
    role_arn = f"arn:aws:iam::{OTHER_ACCOUNT}:role/conformance-reader"

    answer = sts.assume_role(RoleArn=role_arn, RoleSessionName="exporter", DurationSeconds=900)

    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert credentials["Expiration"].timestamp() == pytest.approx(NOW + 900, abs=1)
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/conformance-reader/exporter"
    )
    assumed = {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
    config = make_client(session, simulator, region="eu-west-1", credentials=assumed)
    assert pack_names(config) == ["member-000", "member-001"]
    identity = make_client(
        session, simulator, service="sts", credentials=assumed
    ).get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["Arn"] == answer["AssumedRoleUser"]["Arn"]
    assert simulator.calls(account=OTHER_ACCOUNT, operation=OPERATION) == 1
    (call,) = simulator.assume_role_calls
    assert (call.role_arn, call.session_name, call.duration_seconds, call.granted) == (
        role_arn,
        "exporter",
        900,
        True,
    )
    assert (call.caller_access_key, call.region) == (ACCESS_KEY, "eu-west-1")

    clock.now += 900
    with pytest.raises(ClientError) as expired:
        config.describe_conformance_pack_status()
    assert error_code(expired) == "ExpiredTokenException"


def test_issued_keys_require_their_session_token(session, serve):
    simulator = serve()
    sts = make_client(session, simulator, service="sts")
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/reader", RoleSessionName="exporter"
    )["Credentials"]
    forged = {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": "forged",
    }

    with pytest.raises(ClientError) as excinfo:
        make_client(session, simulator, credentials=forged).describe_conformance_pack_status()

    assert error_code(excinfo) == "UnrecognizedClientException"


def test_denied_roles_and_external_id_mismatches_are_access_denied(session, serve):
    denied = f"arn:aws:iam::{OTHER_ACCOUNT}:role/denied"
    guarded = f"arn:aws:iam::{OTHER_ACCOUNT}:role/guarded"
    simulator = serve(
        Scenario(packs={}, denied_roles=frozenset({denied}), role_external_ids={guarded: "s3cret"})
    )
    sts = make_client(session, simulator, service="sts")

    attempts = [
        {"RoleArn": denied, "RoleSessionName": "exporter"},
        {"RoleArn": guarded, "RoleSessionName": "exporter"},
        {"RoleArn": guarded, "RoleSessionName": "exporter", "ExternalId": "wrong"},
    ]
    for kwargs in attempts:
        with pytest.raises(ClientError) as excinfo:
            sts.assume_role(**kwargs)
        assert error_code(excinfo) == "AccessDenied"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    granted = sts.assume_role(RoleArn=guarded, RoleSessionName="exporter", ExternalId="s3cret")

    assert granted["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert [(call.external_id, call.granted) for call in simulator.assume_role_calls] == [
        (None, False),
        (None, False),
        ("wrong", False),
        ("s3cret", True),
    ]


def test_assume_role_validates_its_parameters(session, serve):
    simulator = serve()
    sts = make_client(session, simulator, service="sts", parameter_validation=False)

    attempts: list[dict[str, Any]] = [
        {"RoleArn": "arn:aws:iam::123:role/short-account", "RoleSessionName": "exporter"},
        {"RoleArn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/r", "RoleSessionName": "bad name"},
        {
            "RoleArn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/r",
            "RoleSessionName": "exporter",
            "DurationSeconds": 60,
        },
    ]
    for kwargs in attempts:
        with pytest.raises(ClientError) as excinfo:
            sts.assume_role(**kwargs)
        assert error_code(excinfo) == "ValidationError"
    assert simulator.assume_role_calls == ()
