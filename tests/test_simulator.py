"""The simulator must look like AWS to real boto3 clients: wire formats, paging, errors, faults."""

import http.client
import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.model import StructureShape
from botocore.parsers import ResponseParserError

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    DEMO_REGIONS,
    ConfigSimulator,
    Fault,
    Scenario,
    SimulatedPack,
    Transition,
    demo_scenario,
    generated_scenario,
    pack_ids,
)

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_ACCOUNT = "210987654321"
NOW = 1_750_000_000.25
OPERATION = "DescribeConformancePackStatus"
REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    """A clock the test moves by hand, so timelines need no sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )


Serve = Callable[..., ConfigSimulator]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start simulators for one test and always stop them."""
    started: list[ConfigSimulator] = []

    def serve(
        scenario: Scenario | None = None, clock: Callable[[], float] = time.time
    ) -> ConfigSimulator:
        simulator = ConfigSimulator(scenario or Scenario(packs={}), clock=clock)
        simulator.start()
        started.append(simulator)
        return simulator

    yield serve
    for simulator in started:
        simulator.stop()


def make_client(
    session: boto3.session.Session,
    simulator: ConfigSimulator,
    service: Literal["config", "sts"] = "config",
    region: str = "us-east-1",
    credentials: dict[str, str] | None = None,
    **cfg: Any,
) -> Any:
    config = botocore.config.Config(
        retries={"total_max_attempts": 1},
        connect_timeout=2,
        read_timeout=cfg.pop("read_timeout", 5),
        **cfg,
    )
    return session.client(
        service,
        region_name=region,
        endpoint_url=simulator.url,
        config=config,
        aws_access_key_id=(credentials or {}).get("aws_access_key_id"),
        aws_secret_access_key=(credentials or {}).get("aws_secret_access_key"),
        aws_session_token=(credentials or {}).get("aws_session_token"),
    )


def make_packs(count: int, prefix: str = "pack", **fields: Any) -> list[SimulatedPack]:
    return [
        SimulatedPack(
            f"{prefix}-{index:03d}",
            "CREATE_COMPLETE",
            requested_at=NOW - 1000 - index,
            completed_at=NOW - 900 - index,
            **fields,
        )
        for index in range(count)
    ]


def pack_names(client: Any, **kwargs: Any) -> list[str]:
    paginator = client.get_paginator("describe_conformance_pack_status")
    pages = paginator.paginate(PaginationConfig={"PageSize": 20}, **kwargs)
    return [
        detail["ConformancePackName"]
        for page in pages
        for detail in page["ConformancePackStatusDetails"]
    ]


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def raw_post(
    simulator: ConfigSimulator, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    host, port = simulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("count", [0, 1, 20, 21, 45])
def test_paginator_reads_every_pack_in_ceil_n_over_20_calls(session, serve, count):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(count)}))

    names = pack_names(make_client(session, simulator))

    assert names == [f"pack-{index:03d}" for index in range(count)]
    assert simulator.calls(operation=OPERATION) == max(1, math.ceil(count / 20))


def test_details_carry_exactly_the_model_fields(session, serve):
    reasoned = SimulatedPack(
        "Failed-Pack", "CREATE_FAILED", reason="boom", type="MANAGED", requested_at=NOW
    )
    bare = SimulatedPack("Bare-Pack", "CREATE_IN_PROGRESS", type=None, requested_at=NOW)
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "eu-west-1"): [reasoned, bare]}))
    client = make_client(session, simulator, region="eu-west-1")
    raw_bodies = []
    client.meta.events.register(
        "after-call", lambda http_response, **_: raw_bodies.append(http_response.content)
    )

    parsed = client.describe_conformance_pack_status()["ConformancePackStatusDetails"]

    shape = (
        botocore.session.get_session()
        .get_service_model("config")
        .shape_for("ConformancePackStatusDetail")
    )
    assert isinstance(shape, StructureShape)
    raw = json.loads(raw_bodies[0])["ConformancePackStatusDetails"]
    assert set(raw[0]) == set(shape.members) - {"ConformancePackStatusReason", "Type"} - {
        "LastUpdateCompletedTime"
    }
    assert set(raw[1]) == set(shape.members) - {"LastUpdateCompletedTime"}
    failed = parsed[1]
    ids = pack_ids(DEFAULT_ACCOUNT, "eu-west-1", "Failed-Pack")
    assert failed["ConformancePackId"] == ids.pack_id
    assert re.fullmatch(r"conformance-pack-[a-z2-7]{8}", ids.pack_id)
    assert failed["ConformancePackArn"] == (
        f"arn:aws:config:eu-west-1:{DEFAULT_ACCOUNT}:conformance-pack/Failed-Pack/{ids.pack_id}"
    )
    assert re.fullmatch(
        rf"arn:aws:cloudformation:eu-west-1:{DEFAULT_ACCOUNT}:stack/awsconfigconforms-Failed-Pack/"
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        failed["StackArn"],
    )
    assert failed["ConformancePackStatusReason"] == "boom"
    assert failed["Type"] == "MANAGED"
    assert failed["LastUpdateRequestedTime"].timestamp() == pytest.approx(NOW, abs=0.001)
    assert isinstance(raw[1]["LastUpdateRequestedTime"], float)


def test_pack_ids_are_reproducible_and_distinct_per_region():
    assert pack_ids(DEFAULT_ACCOUNT, "us-east-1", "p") == pack_ids(
        DEFAULT_ACCOUNT, "us-east-1", "p"
    )
    assert pack_ids(DEFAULT_ACCOUNT, "us-east-1", "p") != pack_ids(
        DEFAULT_ACCOUNT, "eu-west-1", "p"
    )


def test_name_filter_omits_unknown_names(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(5)}))
    client = make_client(session, simulator)

    result = client.describe_conformance_pack_status(
        ConformancePackNames=["pack-003", "pack-001", "No-Such-Pack"]
    )

    names = [detail["ConformancePackName"] for detail in result["ConformancePackStatusDetails"]]
    assert names == ["pack-001", "pack-003"]
    assert "NextToken" not in result


def test_type_filter_pages_over_matching_packs_only(session, serve):
    packs = make_packs(30, type="CUSTOM") + make_packs(3, prefix="managed", type="MANAGED")
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): packs}))

    names = pack_names(make_client(session, simulator), Filters={"Types": ["MANAGED"]})

    assert names == ["managed-000", "managed-001", "managed-002"]


@pytest.mark.parametrize("limit", [21, -1])
def test_out_of_range_limit_is_rejected_by_the_server(session, serve, limit):
    simulator = serve()
    client = make_client(session, simulator, parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        client.describe_conformance_pack_status(Limit=limit)

    assert error_code(excinfo) == "InvalidLimitException"


def test_limit_zero_means_twenty(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(25)}))
    client = make_client(session, simulator)

    small = client.describe_conformance_pack_status(Limit=3)
    default = client.describe_conformance_pack_status(Limit=0)

    assert len(small["ConformancePackStatusDetails"]) == 3
    assert len(default["ConformancePackStatusDetails"]) == 20
    assert "NextToken" in default


def test_more_than_25_names_is_a_validation_error(session, serve):
    simulator = serve()
    client = make_client(session, simulator, parameter_validation=False)

    with pytest.raises(ClientError) as excinfo:
        client.describe_conformance_pack_status(
            ConformancePackNames=[f"pack-{index}" for index in range(26)]
        )

    assert error_code(excinfo) == "ValidationException"
    assert "Member must have length less than or equal to 25" in str(excinfo.value)


def test_next_token_must_come_from_this_simulator_and_query(session, serve):
    scenario = Scenario(
        packs={
            (DEFAULT_ACCOUNT, "us-east-1"): make_packs(25),
            (DEFAULT_ACCOUNT, "eu-west-1"): make_packs(25),
        }
    )
    simulator = serve(scenario)
    east = make_client(session, simulator)
    west = make_client(session, simulator, region="eu-west-1")
    token = east.describe_conformance_pack_status()["NextToken"]
    foreign = serve(scenario)
    foreign_token = make_client(session, foreign).describe_conformance_pack_status()["NextToken"]

    attempts = [
        (east, {"NextToken": "not-a-token"}),
        (east, {"NextToken": token[:-4] + "AAAA"}),
        (east, {"NextToken": foreign_token}),
        (west, {"NextToken": token}),
        (east, {"NextToken": token, "ConformancePackNames": ["pack-021"]}),
    ]
    for client, kwargs in attempts:
        with pytest.raises(ClientError) as excinfo:
            client.describe_conformance_pack_status(**kwargs)
        assert error_code(excinfo) == "InvalidNextTokenException"
    second = east.describe_conformance_pack_status(NextToken=token)
    assert len(second["ConformancePackStatusDetails"]) == 5


def test_regions_and_accounts_see_only_their_own_packs(session, serve):
    scenario = Scenario(
        packs={
            (DEFAULT_ACCOUNT, "us-east-1"): make_packs(2, prefix="east"),
            (DEFAULT_ACCOUNT, "eu-west-1"): make_packs(3, prefix="west"),
            (OTHER_ACCOUNT, "us-east-1"): make_packs(1, prefix="other"),
        },
        access_key_accounts={"AKIDOTHER": OTHER_ACCOUNT},
    )
    simulator = serve(scenario)
    other = {"aws_access_key_id": "AKIDOTHER", "aws_secret_access_key": SECRET_KEY}

    assert pack_names(make_client(session, simulator)) == ["east-000", "east-001"]
    assert pack_names(make_client(session, simulator, region="eu-west-1")) == [
        "west-000",
        "west-001",
        "west-002",
    ]
    assert pack_names(make_client(session, simulator, region="ap-south-1")) == []
    assert pack_names(make_client(session, simulator, credentials=other)) == ["other-000"]
    assert simulator.calls(region="eu-west-1") == 1
    assert simulator.calls(account=OTHER_ACCOUNT) == 1


def test_set_packs_changes_answers_while_serving(session, serve):
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): make_packs(2)}))
    client = make_client(session, simulator)

    simulator.set_packs(DEFAULT_ACCOUNT, "us-east-1", make_packs(1, prefix="replaced"))

    assert pack_names(client) == ["replaced-000"]


@pytest.mark.parametrize(
    ("packs", "message"),
    [
        ([SimulatedPack("1-starts-with-digit", "CREATE_COMPLETE", requested_at=NOW)], "match"),
        (make_packs(1) + make_packs(1), "unique"),
    ],
)
def test_invalid_packs_are_refused(packs, message):
    with pytest.raises(ValueError, match=message):
        ConfigSimulator(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): packs}))


def test_missing_and_malformed_authorization_get_the_real_errors(serve):
    simulator = serve()
    json_headers = {
        "X-Amz-Target": f"StarlingDoveService.{OPERATION}",
        "Content-Type": "application/x-amz-json-1.1",
    }
    malformed = {**json_headers, "Authorization": "AWS4-HMAC-SHA256 Credential=AKID"}
    wrong_service = {
        **json_headers,
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request,"
        " SignedHeaders=host, Signature=abc123",
    }
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    cases = [
        (json_headers, b"{}", 400, "MissingAuthenticationTokenException"),
        (malformed, b"{}", 400, "IncompleteSignatureException"),
        (wrong_service, b"{}", 400, "InvalidSignatureException"),
    ]
    for headers, body, status, code in cases:
        got_status, got_headers, got_body = raw_post(simulator, headers, body)
        assert (got_status, json.loads(got_body)["__type"]) == (status, code)
        assert got_headers["x-amzn-ErrorType"] == code
        assert got_headers["x-amzn-RequestId"]
    status, headers, body = raw_post(
        simulator, form, b"Action=GetCallerIdentity&Version=2011-06-15"
    )
    assert status == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in body
    assert headers["x-amzn-RequestId"]
    assert simulator.calls() == 4


def test_unknown_operations_are_rejected(session, serve):
    simulator = serve()

    with pytest.raises(ClientError) as config_error:
        make_client(session, simulator).describe_conformance_packs()
    with pytest.raises(ClientError) as sts_error:
        make_client(session, simulator, service="sts").get_session_token()

    assert error_code(config_error) == "UnknownOperationException"
    assert error_code(sts_error) == "InvalidAction"


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

    result = make_client(session, simulator).describe_conformance_pack_status()

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


def test_calls_are_counted_per_dimension_and_reset(session, serve):
    simulator = serve()
    make_client(session, simulator).describe_conformance_pack_status()
    make_client(session, simulator, region="eu-west-1").describe_conformance_pack_status()
    make_client(session, simulator, service="sts").get_caller_identity()

    assert simulator.calls() == 3
    assert simulator.calls(operation=OPERATION) == 2
    assert simulator.calls(operation=OPERATION, region="eu-west-1") == 1
    assert simulator.calls(service="sts") == 1
    assert simulator.calls(account=DEFAULT_ACCOUNT) == 3
    assert simulator.calls(account=OTHER_ACCOUNT) == 0
    simulator.reset_calls()
    assert simulator.calls() == 0


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


def test_timeline_moves_packs_with_the_injected_clock(session, serve):
    clock = FakeClock(NOW)
    moving = SimulatedPack(
        "Moving-Pack",
        "CREATE_IN_PROGRESS",
        requested_at=NOW - 10,
        timeline=(
            Transition(180, "UPDATE_FAILED", "boom"),
            Transition(60, "CREATE_COMPLETE"),
            Transition(120, "UPDATE_IN_PROGRESS"),
        ),
    )
    simulator = serve(Scenario(packs={(DEFAULT_ACCOUNT, "us-east-1"): [moving]}), clock=clock)
    client = make_client(session, simulator)

    def observe(elapsed: float) -> tuple[str, str | None, float | None, float]:
        clock.now = NOW + elapsed
        (detail,) = client.describe_conformance_pack_status()["ConformancePackStatusDetails"]
        completed = detail.get("LastUpdateCompletedTime")
        return (
            detail["ConformancePackState"],
            detail.get("ConformancePackStatusReason"),
            completed.timestamp() if completed else None,
            detail["LastUpdateRequestedTime"].timestamp(),
        )

    assert simulator.started_at == NOW
    assert observe(59.9) == ("CREATE_IN_PROGRESS", None, None, NOW - 10)
    assert observe(60) == ("CREATE_COMPLETE", None, NOW + 60, NOW - 10)
    assert observe(130) == ("UPDATE_IN_PROGRESS", None, NOW + 60, NOW - 10)
    assert observe(500) == ("UPDATE_FAILED", "boom", NOW + 180, NOW - 10)


def test_demo_scenario_has_the_described_packs(session, serve):
    scenario = demo_scenario(NOW)
    packs = [pack for region_packs in scenario.packs.values() for pack in region_packs]
    by_name = {pack.name: pack for pack in packs}

    assert len(packs) >= 12
    assert {region for _, region in scenario.packs} == set(DEMO_REGIONS)
    assert len(DEMO_REGIONS) >= 2
    assert all(re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]*", pack.name) for pack in packs)
    assert {pack.type for pack in packs} == {"CUSTOM", "MANAGED"}
    assert sum(pack.state.endswith("_COMPLETE") for pack in packs) > len(packs) / 2
    creating = [
        pack.timeline[-1] for pack in packs if pack.state == "CREATE_IN_PROGRESS" and pack.timeline
    ]
    assert any(t.state == "CREATE_COMPLETE" and 30 <= t.after_seconds <= 90 for t in creating)
    assert any(
        t.state == "CREATE_FAILED" and 30 <= t.after_seconds <= 60 and t.reason for t in creating
    )
    stuck = [pack for pack in packs if pack.state == "UPDATE_IN_PROGRESS" and not pack.timeline]
    assert stuck
    assert stuck[0].requested_at <= NOW - 3600
    assert any(pack.state == "DELETE_FAILED" and pack.reason for pack in packs)

    clock = FakeClock(NOW)
    simulator = serve(scenario, clock=clock)
    clock.now = NOW + 61
    states = {
        (region, detail["ConformancePackName"]): detail["ConformancePackState"]
        for region in DEMO_REGIONS
        for detail in make_client(
            session, simulator, region=region
        ).describe_conformance_pack_status()["ConformancePackStatusDetails"]
    }
    assert len(states) == len(packs)
    assert "CREATE_IN_PROGRESS" not in states.values()
    assert "CREATE_FAILED" in states.values()
    assert by_name["Operational-Best-Practices-for-Amazon-S3"].state == "CREATE_IN_PROGRESS"


def test_generated_scenario_fills_every_account_and_region():
    scenario = generated_scenario(
        7, ["us-east-1", "eu-west-1"], accounts=(OTHER_ACCOUNT, DEFAULT_ACCOUNT), now=NOW
    )

    assert scenario.default_account == OTHER_ACCOUNT
    assert sorted(scenario.packs) == sorted(
        (account, region)
        for account in (OTHER_ACCOUNT, DEFAULT_ACCOUNT)
        for region in ("us-east-1", "eu-west-1")
    )
    for packs in scenario.packs.values():
        assert len(packs) == 7
        assert all(pack.state.endswith("_COMPLETE") and pack.completed_at for pack in packs)
        assert all(pack.requested_at < NOW for pack in packs)


def test_stop_closes_listener_and_keep_alive_connections(serve):
    simulator = serve()
    host, port = simulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "x"})
    connection.getresponse().read()

    simulator.stop()

    assert connection.sock.recv(1) == b""
    connection.close()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, int(port), timeout=5).connect()


def test_url_needs_a_started_simulator_and_start_is_once_only(serve):
    with pytest.raises(RuntimeError):
        _ = ConfigSimulator(Scenario(packs={})).url
    simulator = serve()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", simulator.url)
    with pytest.raises(RuntimeError):
        simulator.start()


def test_context_manager_serves_and_stops(session):
    with ConfigSimulator(Scenario(packs={})) as simulator:
        url = simulator.url
        make_client(session, simulator).describe_conformance_pack_status()
    host, port = url.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, int(port), timeout=5).connect()


@pytest.mark.parametrize(
    ("arguments", "stop_signal", "region", "expected"),
    [
        (["--packs", "3", "--regions", "us-east-1,eu-west-1"], signal.SIGTERM, "eu-west-1", 3),
        (["--latency", "0.01"], signal.SIGINT, "us-east-1", 7),
    ],
)
def test_cli_prints_its_url_and_stops_on_signal(session, arguments, stop_signal, region, expected):
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.simulator", "--listen", "127.0.0.1:0", *arguments],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        client = session.client(
            "config",
            region_name=region,
            endpoint_url=match[1],
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )
        assert len(pack_names(client)) == expected
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0
    assert (stdout, stderr) == ("", "")


def test_cli_rejects_a_bad_listen_address():
    result = subprocess.run(
        [sys.executable, "-m", "exporter.simulator", "--listen", "nowhere"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )

    assert result.returncode == 2
    assert "--listen must be HOST:PORT" in result.stderr
