"""Every fault kind, its scope and its count, as a boto3 client experiences them."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.parsers import ResponseParserError

from exporter.simulator import DEFAULT_ACCOUNT, Fault, Scenario
from exporter.simulator.faults import parse_fault
from tests.simulator.conftest import (
    OPERATION,
    OTHER_ACCOUNT,
    SECRET_KEY,
    error_code,
    make_client,
    make_packs,
)

CONFIG_ERRORS = [
    ("throttle", "ThrottlingException", 400),
    ("access_denied", "AccessDeniedException", 400),
    ("expired_token", "ExpiredTokenException", 400),
    ("unrecognized_client", "UnrecognizedClientException", 400),
    ("internal_error", "InternalFailure", 500),
    ("unavailable", "ServiceUnavailable", 503),
]
STS_ERRORS = [
    ("throttle", "Throttling", 400),
    ("access_denied", "AccessDenied", 403),
    ("expired_token", "ExpiredToken", 400),
    ("unrecognized_client", "InvalidClientTokenId", 403),
    ("internal_error", "InternalFailure", 500),
    ("unavailable", "ServiceUnavailable", 503),
]


@pytest.mark.parametrize(("kind", "code", "status"), CONFIG_ERRORS)
def test_config_error_faults(session, serve, kind, code, status):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(1)}))
    simulator.add_fault(Fault(kind))

    with pytest.raises(ClientError) as excinfo:
        make_client(session, simulator).describe_conformance_pack_status()

    assert error_code(excinfo) == code
    metadata = excinfo.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == status
    assert metadata["HTTPHeaders"]["x-amzn-errortype"] == code
    assert metadata["RequestId"]


@pytest.mark.parametrize(("kind", "code", "status"), STS_ERRORS)
def test_sts_error_faults(session, serve, kind, code, status):
    simulator = serve()
    simulator.add_fault(Fault(kind, service="sts"))

    with pytest.raises(ClientError) as excinfo:
        make_client(session, simulator, service="sts").get_caller_identity()

    assert error_code(excinfo) == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty_object"])
def test_malformed_success_bodies_parse_without_details(session, serve, kind):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(3)}))
    simulator.add_fault(Fault(kind))

    result = make_client(session, simulator, checked=False).describe_conformance_pack_status()

    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "ConformancePackStatusDetails" not in result


def test_truncated_sts_answer_is_a_parser_error(session, serve):
    simulator = serve()
    simulator.add_fault(Fault("truncated"))

    with pytest.raises(ResponseParserError):
        make_client(session, simulator, service="sts").get_caller_identity()


@pytest.mark.parametrize("partial", [False, True])
def test_reset_closes_the_connection(session, serve, partial):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(3)}))
    simulator.add_fault(Fault("reset", partial=partial, count=1))
    client = make_client(session, simulator)

    with pytest.raises(ConnectionClosedError):
        client.describe_conformance_pack_status()

    assert len(client.describe_conformance_pack_status()["ConformancePackStatusDetails"]) == 3
    assert simulator.calls() == 2


def test_hang_times_out_the_client_and_does_not_delay_stop(session, serve):
    simulator = serve()
    simulator.add_fault(Fault("hang", seconds=30))

    with pytest.raises(ReadTimeoutError):
        make_client(session, simulator, read_timeout=0.2).describe_conformance_pack_status()

    started = time.monotonic()
    simulator.stop()
    assert time.monotonic() - started < 5


def test_slow_body_trickles_but_still_parses(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(3)}))
    simulator.add_fault(Fault("slow_body", seconds=0.02, chunk_size=200))
    client = make_client(session, simulator)
    sizes = []
    client.meta.events.register(
        "after-call", lambda http_response, **_: sizes.append(len(http_response.content))
    )

    started = time.monotonic()
    result = client.describe_conformance_pack_status()
    elapsed = time.monotonic() - started

    assert len(result["ConformancePackStatusDetails"]) == 3
    assert elapsed >= (math.ceil(sizes[0] / 200) - 1) * 0.02


def test_latency_global_and_scoped(session, serve):
    simulator = serve()
    east = make_client(session, simulator)
    west = make_client(session, simulator, region="eu-west-1")
    east.describe_conformance_pack_status()
    simulator.latency = 0.05
    simulator.add_fault(Fault("latency", seconds=0.25, region="eu-west-1", count=1))

    def timed(client: Any) -> float:
        started = time.monotonic()
        client.describe_conformance_pack_status()
        return time.monotonic() - started

    assert timed(east) >= 0.05
    assert timed(west) >= 0.30
    assert timed(west) < 0.30
    assert simulator.latency == 0.05


def test_count_limited_fault_stops_after_count(session, serve):
    simulator = serve()
    simulator.add_fault(Fault("throttle", count=2))
    client = make_client(session, simulator)

    codes = []
    for _ in range(3):
        try:
            client.describe_conformance_pack_status()
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])

    assert codes == ["ThrottlingException", "ThrottlingException", "ok"]
    assert simulator.calls(operation=OPERATION) == 3


def test_faults_apply_only_within_their_scope(session, serve):
    simulator = serve(Scenario(packs={}, access_key_accounts={"AKIDOTHER": OTHER_ACCOUNT}))
    other = {"aws_access_key_id": "AKIDOTHER", "aws_secret_access_key": SECRET_KEY}
    simulator.add_fault(Fault("throttle", region="eu-west-1"))
    simulator.add_fault(Fault("access_denied", account=OTHER_ACCOUNT))
    simulator.add_fault(Fault("unavailable", service="sts", operation="AssumeRole"))

    make_client(session, simulator).describe_conformance_pack_status()
    make_client(session, simulator, service="sts").get_caller_identity()
    with pytest.raises(ClientError) as throttled:
        make_client(session, simulator, region="eu-west-1").describe_conformance_pack_status()
    with pytest.raises(ClientError) as denied:
        make_client(session, simulator, credentials=other).describe_conformance_pack_status()
    with pytest.raises(ClientError) as unavailable:
        make_client(session, simulator, service="sts").assume_role(
            RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/reader", RoleSessionName="exporter"
        )

    assert error_code(throttled) == "ThrottlingException"
    assert error_code(denied) == "AccessDeniedException"
    assert f"arn:aws:iam::{OTHER_ACCOUNT}:user/simulator" in str(denied.value)
    assert error_code(unavailable) == "ServiceUnavailable"
    simulator.clear_faults()
    make_client(session, simulator, region="eu-west-1").describe_conformance_pack_status()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "throttle", "count": 0}, "count"),
        ({"kind": "throttle", "service": "s3"}, "service"),
        ({"kind": "hang", "seconds": -1}, "seconds"),
        ({"kind": "slow_body", "chunk_size": 0}, "chunk_size"),
    ],
)
def test_invalid_faults_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        Fault(**fields)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("throttle", Fault("throttle")),
        (
            "access_denied,region=eu-west-1,operation=DescribeConformancePackStatus",
            Fault("access_denied", region="eu-west-1", operation="DescribeConformancePackStatus"),
        ),
        (
            "reset,account=111111111111,service=sts,count=2,partial=true",
            Fault("reset", account="111111111111", service="sts", count=2, partial=True),
        ),
        ("slow_body,seconds=0.5,chunk_size=16", Fault("slow_body", seconds=0.5, chunk_size=16)),
    ],
)
def test_a_command_line_names_a_fault(spec, expected):
    assert parse_fault(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "unknown fault kind"),
        ("throttle,colour=red", "is not one of region=, account="),
        ("throttle,region", "is not one of"),
        ("throttle,count=two", "count='two' is not a valid int"),
        ("reset,partial=yes", "partial='yes' is not a valid bool"),
        ("hang,seconds=-1", "seconds"),
    ],
)
def test_a_bad_fault_on_the_command_line_is_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_fault(spec)
