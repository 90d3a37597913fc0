"""The simulator's life cycle and call accounting."""

from __future__ import annotations

import http.client
import re

import pytest

from exporter.simulator import DEFAULT_ACCOUNT, ConfigSimulator, Scenario
from tests.simulator.conftest import OPERATION, OTHER_ACCOUNT, make_client


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


def test_without_a_scenario_the_default_account_has_nothing(session):
    with ConfigSimulator() as simulator:
        client = make_client(session, simulator)
        statuses = client.describe_conformance_pack_status()["ConformancePackStatusDetails"]
        identity = make_client(session, simulator, service="sts").get_caller_identity()

    assert statuses == []
    assert identity["Account"] == DEFAULT_ACCOUNT
