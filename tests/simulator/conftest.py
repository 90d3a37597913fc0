"""Helpers for the simulator's tests: real boto3 clients on loopback whose every successful
Config answer is checked against botocore's output shapes, and simulators that always stop."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from botocore.model import ListShape, Shape, StructureShape
from botocore.validate import validate_parameters

from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_ACCOUNT = "210987654321"
NOW = 1_750_000_000.25
OPERATION = "DescribeConformancePackStatus"

Serve = Callable[..., ConfigSimulator]


class FakeClock:
    """A clock the test moves by hand, so timelines need no sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start simulators for one test and always stop them."""
    started: list[ConfigSimulator] = []

    def serve(
        scenario: Scenario | None = None, clock: Callable[[], float] = time.time
    ) -> ConfigSimulator:
        simulator = ConfigSimulator(scenario, clock=clock)
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
    checked: bool = True,
    **cfg: Any,
) -> Any:
    """A client with one attempt; `checked` Config clients fail any answer off the model."""
    config = botocore.config.Config(
        retries={"total_max_attempts": 1},
        connect_timeout=2,
        read_timeout=cfg.pop("read_timeout", 5),
        **cfg,
    )
    client = session.client(
        service,
        region_name=region,
        endpoint_url=simulator.url,
        config=config,
        aws_access_key_id=(credentials or {}).get("aws_access_key_id"),
        aws_secret_access_key=(credentials or {}).get("aws_secret_access_key"),
        aws_session_token=(credentials or {}).get("aws_session_token"),
    )
    if service == "config" and checked:
        client.meta.events.register("after-call", check_against_model)
    return client


def check_against_model(http_response: Any, model: Any, **_: Any) -> None:
    """Fail a successful answer with a member, type, required member or enum value that
    botocore's output shape does not allow, exactly what Stubber checks plus enums."""
    if http_response.status_code != 200:
        return
    document = json.loads(http_response.content)
    validate_parameters(document, model.output_shape)
    check_enums(model.output_shape, document, model.name)


def check_enums(shape: Shape, value: Any, path: str) -> None:
    if isinstance(shape, StructureShape):
        for name, member in value.items():
            check_enums(shape.members[name], member, f"{path}.{name}")
    elif isinstance(shape, ListShape):
        for index, item in enumerate(value):
            check_enums(shape.member, item, f"{path}[{index}]")
    elif "enum" in shape.metadata:
        assert value in shape.metadata["enum"], f"{path}: {value!r} is not in {shape.name}"


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
