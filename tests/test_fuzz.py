"""Hostile and odd input: property-based tests of the exposition and the config loaders, and
HTTP edge cases against a real exporter process.

Any response valid under the botocore model must give an exposition that parses (with
prometheus_client's parsers and with `promtool check metrics`) and says exactly what AWS
said; any configuration text must give a configuration or a ConfigError, never another
exception; no odd or slow HTTP client may hurt anyone else's scrape.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.model import StringShape, StructureShape
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from exporter import http
from exporter.config import Config, ConfigError, parse_config
from exporter.exposition import encode_openmetrics, encode_text
from exporter.http import make_server
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from exporter.web import WebConfig, parse_web_config
from tests.certs import Pki, make_pki
from tests.conftest import ACCOUNT, ExporterProcess, aws_env, pack_families, parse_exposition
from tests.e2e.conftest import binary

_MODEL = botocore.session.get_session().get_service_model("config")


def _enum(name: str) -> tuple[str, ...]:
    shape = _MODEL.shape_for(name)
    assert isinstance(shape, StringShape)
    return tuple(shape.enum)


_DETAIL = _MODEL.shape_for("ConformancePackStatusDetail")
assert isinstance(_DETAIL, StructureShape)
_METADATA = {name: member.metadata for name, member in _DETAIL.members.items()}
STATES = _enum("ConformancePackState")
TYPES = _enum("ConformancePackType")


def model_text(member: str) -> st.SearchStrategy[str]:
    """Any Unicode text within the length limits the model gives `member`."""
    metadata = _METADATA[member]
    return st.text(min_size=metadata.get("min", 0), max_size=metadata["max"])


# ---------------------------------------------------------------------------------------------
# Strategies: ConformancePackStatusDetail as botocore parses it, within the model's limits.

_NAME = _METADATA["ConformancePackName"]
pack_names = st.from_regex(str(_NAME["pattern"]), fullmatch=True).filter(
    lambda name: len(name) <= _NAME["max"]
)
awkward = st.text(alphabet='"\\\n\r\t\x00\x7f\x85\u2028 {}=,#', min_size=1, max_size=40)
reasons = st.one_of(
    model_text("ConformancePackStatusReason"),
    awkward,
    # The longest reason AWS allows, of some repeated awkward piece.
    st.text(min_size=1, max_size=8).map(lambda piece: (piece * 2000)[:2000]),
)
# Epoch seconds as the exporter's parser keeps them, far past to far future, and oddities
# JSON can carry; datetimes as botocore's own parser would give.
timestamps = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-62135596800.0, max_value=253402300799.0),
    st.datetimes(timezones=st.just(timezone.utc)),
)
states = st.one_of(st.sampled_from(STATES), st.text(min_size=1))


@st.composite
def pack_status(draw: st.DrawFn, name: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "ConformancePackName": name,
        "ConformancePackId": draw(model_text("ConformancePackId")),
        "ConformancePackArn": draw(model_text("ConformancePackArn")),
        "ConformancePackState": draw(states),
        "LastUpdateRequestedTime": draw(timestamps),
    }
    optional = {
        "StackArn": model_text("StackArn"),
        "ConformancePackStatusReason": reasons,
        "LastUpdateCompletedTime": timestamps,
        "Type": st.one_of(st.sampled_from(TYPES), st.text()),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            status[key] = draw(strategy)
    return status


# (account_id, region, pack statuses) of one target that was read.
TargetResult = tuple[str, str, list[dict[str, Any]]]


@st.composite
def target_results(draw: st.DrawFn) -> list[TargetResult]:
    """Targets with distinct (account, region), each with distinct pack names."""
    count = draw(st.integers(min_value=1, max_value=3))
    results = []
    for index in range(count):
        names = draw(st.lists(pack_names, max_size=4, unique=True))
        account_id = draw(st.text(max_size=12)) + f"#{index}"
        region = draw(st.text(max_size=16))
        results.append((account_id, region, [draw(pack_status(name)) for name in names]))
    return results


# ---------------------------------------------------------------------------------------------
# The exposition

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _seconds(value: float | datetime) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def expected_series(results: list[TargetResult]) -> Series:
    """The README's metric contract, written out independently of exporter/metrics.py."""
    series: Series = {}

    def add(name: str, labels: dict[str, str], value: float) -> None:
        series[(name, frozenset(labels.items()))] = value

    for account_id, region, statuses in results:
        target = {"account_id": account_id, "region": region}
        for pack in statuses:
            labels = {**target, "conformance_pack": pack["ConformancePackName"]}
            state = pack["ConformancePackState"]
            for known in {*STATES, state}:
                add(
                    "aws_config_conformance_pack_state",
                    {**labels, "state": known},
                    float(known == state),
                )
            info = {
                **labels,
                "conformance_pack_id": pack["ConformancePackId"],
                "conformance_pack_arn": pack["ConformancePackArn"],
                "stack_arn": pack.get("StackArn", ""),
                "type": pack.get("Type", ""),
            }
            add("aws_config_conformance_pack_info", info, 1.0)
            prefix = "aws_config_conformance_pack_last_update_"
            add(
                prefix + "requested_timestamp_seconds",
                labels,
                _seconds(pack["LastUpdateRequestedTime"]),
            )
            if "LastUpdateCompletedTime" in pack:
                add(
                    prefix + "completed_timestamp_seconds",
                    labels,
                    _seconds(pack["LastUpdateCompletedTime"]),
                )
            if pack.get("ConformancePackStatusReason"):
                reason = {**labels, "reason": pack["ConformancePackStatusReason"]}
                add("aws_config_conformance_pack_status_reason_info", reason, 1.0)
    return series


def parsed_series(families: Iterable[Any]) -> Series:
    series: Series = {}
    for family in families:
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in series, f"duplicate series {key}"
            series[key] = sample.value
    return series


def same(left: Series, right: Series) -> bool:
    """Equal, with NaN equal to NaN (a NaN timestamp from AWS is exported as NaN)."""
    return left.keys() == right.keys() and all(
        left[key] == right[key] or (math.isnan(left[key]) and math.isnan(right[key]))
        for key in left
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target_results())
def test_the_exposition_parses_and_says_what_aws_said(results: list[TargetResult]) -> None:
    families = pack_families(results)
    expected = expected_series(results)

    text = encode_text(families).decode()
    openmetrics = encode_openmetrics(families).decode()

    assert same(parsed_series(text_families(text)), expected)
    assert same(parsed_series(openmetrics_families(openmetrics)), expected)


def test_promtool_accepts_every_generated_exposition() -> None:
    """Many generated examples in one exposition, so promtool starts once per batch."""
    batch: list[TargetResult] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(target_results())
    def collect(results: list[TargetResult]) -> None:
        for account_id, region, statuses in results:  # a distinct account per example
            batch.append((f"{len(batch)}:{account_id}", region, statuses))

    collect()
    exposition = encode_text(pack_families(batch))
    checked = subprocess.run(
        [binary("promtool"), "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )

    assert len(batch) >= 200
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout + checked.stderr == b""


# ---------------------------------------------------------------------------------------------
# Configuration loaders: a configuration or a ConfigError, nothing else

# YAML pieces that reach odd corners: tags, anchors, merges, flow collections, special floats.
_YAML_PIECES = [
    *(f.name for f in dataclasses.fields(Config)),
    "tls_server_config", "cert_file", "key_file", "client_auth_type", "client_ca_file",
    "min_version", "basic_auth_users", "http_server_config", "headers", "http2",
    "X-Frame-Options", "role_arn", "external_id", "name", "profile",
    ":", ": ", " ", "\n", "\n  ", "\n    ", "- ", "[", "]", "{", "}", ", ", "?", "'", '"', "#",
    "!!bool ", "!!null ", "!!int ", "!!float ", "!!str ", "!!binary ", "!!timestamp ",
    "!!set ", "!!omap ", "!!python/object:os.system ", "!custom ", "&a ", "*a", "<<: ",
    "us-east-1", "TLS13", "deny", "true", "~", "0x1G", "1e400", ".nan", "-1", "2001-13-99",
    "$2y$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012", "\t", "\x00", "\ufeff",
]  # fmt: skip
yaml_like = st.lists(st.sampled_from(_YAML_PIECES), max_size=40).map("".join)
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
config_documents = st.dictionaries(
    st.sampled_from([f.name for f in dataclasses.fields(Config)]) | st.text(max_size=8),
    yaml_values,
    max_size=5,
).map(lambda document: yaml.safe_dump(document, allow_unicode=True))
config_texts = st.one_of(st.text(), yaml_like, config_documents)


@settings(max_examples=400, deadline=None)
@given(config_texts)
@example("!!null regions: [us-east-1]\n")
@example("!!bool regions: 1\n")
@example("concurrency: !!int 0x1G\n")
@example("regions: !!timestamp 2001-13-99\n")
@example("regions: " + "[" * 600)
def test_parse_config_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        result: Config | ConfigError = parse_config(text, "config.yml")
    except ConfigError as error:
        result = error
    assert isinstance(result, Config) or result.path == "config.yml"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


web_sections = st.fixed_dictionaries(
    {},
    optional={
        "tls_server_config": st.dictionaries(
            st.sampled_from(
                [
                    "cert_file",
                    "key_file",
                    "client_auth_type",
                    "client_ca_file",
                    "min_version",
                    "max_version",
                    "prefer_server_cipher_suites",
                    "cert",
                    "cipher_suites",
                ]
            )
            | st.text(max_size=8),
            st.sampled_from(
                [
                    "server.crt",
                    "server.key",
                    "ca.crt",
                    "client.key",
                    "missing",
                    "RequireAndVerifyClientCert",
                    "VerifyClientCertIfGiven",
                    "RequireAnyClientCert",
                    "TLS12",
                    "TLS13",
                    "TLS10",
                ]
            )
            | yaml_values,
            max_size=6,
        ),
        "basic_auth_users": st.dictionaries(st.text(max_size=8), yaml_values, max_size=3),
        "http_server_config": st.dictionaries(
            st.sampled_from(["headers", "http2"]) | st.text(max_size=6),
            yaml_values
            | st.dictionaries(
                st.sampled_from(["X-Frame-Options", "X-XSS-Protection"]), yaml_values
            ),
            max_size=2,
        ),
        "rate_limit": yaml_values,
    },
).map(lambda document: yaml.safe_dump(document, allow_unicode=True))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(st.text(), yaml_like, web_sections))
@example(text="tls_server_config:\n  client_auth_type: [RequireAnyClientCert]\n")
@example(text="!!null tls_server_config: {}\n")
@example(text="basic_auth_users: " + "{" * 600)
def test_parse_web_config_gives_a_config_or_a_config_error(pki: Pki, text: str) -> None:
    path = str(pki.directory / "web.yml")  # relative files resolve to the test PKI
    try:
        result: WebConfig | ConfigError = parse_web_config(text, path)
    except ConfigError as error:
        result = error
    assert isinstance(result, WebConfig) or result.path == path


# ---------------------------------------------------------------------------------------------
# HTTP edge cases against the exporter process


@pytest.fixture(scope="module")
def exporter() -> Iterator[ExporterProcess]:
    packs = [SimulatedPack(f"pack-{i}", "CREATE_COMPLETE", requested_at=1.0) for i in range(5)]
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): packs})) as simulator:
        process = ExporterProcess(["--web.listen-address=127.0.0.1:0"], aws_env(simulator.url))
        try:
            process.wait_until_listening()
            yield process
        finally:
            process.stop()


def raw_request(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes as they are and return the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)  # one request: the kept-alive connection then closes
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_scrape_is_fast(process: ExporterProcess, seconds: float = 2.0) -> None:
    started = time.monotonic()
    samples = parse_exposition(process.scrape())
    assert time.monotonic() - started < seconds
    assert len(samples["aws_config_conformance_pack_info"]) == 5


@pytest.mark.integration
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
        (b"GET /metrics/../../etc/passwd HTTP/1.1\r\n\r\n", b"404"),
        (b"GET //metrics HTTP/1.1\r\n\r\n", b"200"),
        (b"GET /%00 HTTP/1.1\r\n\r\n", b"404"),
        (b"GET /metrics?x=%ff%00 HTTP/1.1\r\n\r\n", b"200"),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", b"200"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"405"),
        (b"DELETE / HTTP/1.1\r\n\r\n", b"405"),
        (b"BREW /metrics HTTP/1.1\r\n\r\n", b"405"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET /" + b"a" * 60000 + b" HTTP/1.1\r\n\r\n", b"404"),
        (b"GET /metrics HTTP/1.1\r\nX-Huge: " + b"h" * 70000 + b"\r\n\r\n", b"431"),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-Many: h\r\n" * 200 + b"\r\n", b"431"),
        (b"GET /metrics HTTP/1.1\r\nX-Binary: \xff\xfe\x00\x01\r\n\r\n", b"200"),
        (b"GET /metrics HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: -1e999\r\n\r\n", b"200"),
        (
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=9\r\n\r\n",
            b"200",
        ),
        (b"GET /metrics HTTP/9.9\r\n\r\n", b"505"),
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", b"400"),
    ],
    ids=lambda value: value[:24].decode("latin-1") if isinstance(value, bytes) else None,
)
def test_odd_requests_get_a_plain_answer(
    exporter: ExporterProcess, request_bytes: bytes, status: bytes
) -> None:
    assert exporter.port is not None

    answer = raw_request(exporter.port, request_bytes)

    # Without a parsable request line, http.server answers HTTP/0.9 style: a bare error page.
    code = re.search(rb"^HTTP/1\.[01] (\d{3}) |Error code: (\d{3})", answer)
    assert code is not None, answer[:200]
    assert status in code.groups(), answer[:200]
    if request_bytes.startswith(b"HEAD"):
        assert answer.endswith(b"\r\n\r\n")
    assert_scrape_is_fast(exporter)


@pytest.mark.integration
def test_slowloris_clients_do_not_delay_scrapes(exporter: ExporterProcess) -> None:
    assert exporter.port is not None
    stop = threading.Event()
    connections = [
        socket.create_connection(("127.0.0.1", exporter.port), timeout=10) for _ in range(10)
    ]

    def trickle(client: socket.socket) -> None:
        request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 10000
        for byte in request:
            if stop.wait(0.05):
                return
            try:
                client.send(bytes([byte]))
            except OSError:
                return

    threads = [threading.Thread(target=trickle, args=(c,), daemon=True) for c in connections]
    for thread in threads:
        thread.start()
    try:
        for _ in range(5):
            assert_scrape_is_fast(exporter, seconds=1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        for connection in connections:
            connection.close()


def test_a_client_slower_than_the_header_deadline_is_cut_off() -> None:

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]

    timeouts = dataclasses.replace(http.TIMEOUTS, header=0.5)
    server = make_server("127.0.0.1", 0, app, timeouts=timeouts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as client:
            started = time.monotonic()
            client.settimeout(0.1)
            closed = False
            for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"z" * 1000:
                try:
                    client.send(bytes([byte]))
                    closed = client.recv(1) == b""
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                if closed:
                    break
            elapsed = time.monotonic() - started
        fast = raw_request(server.server_port, b"GET / HTTP/1.1\r\n\r\n")
    finally:
        server.shutdown()
        server.server_close()

    assert closed
    assert 0.4 < elapsed < 3.0
    assert fast.endswith(b"ok\n")


def test_a_lone_surrogate_from_aws_does_not_break_the_scrape(
    tmp_path: Path, exporter_factory
) -> None:
    """JSON can escape a lone surrogate (\\ud800) that UTF-8 cannot carry."""
    bad = SimulatedPack("odd", "CREATE_FAILED", reason="before \ud800 after", requested_at=1.0)
    good = SimulatedPack("fine", "CREATE_COMPLETE", requested_at=1.0)
    scenario = Scenario({(ACCOUNT, "us-east-1"): [bad], (ACCOUNT, "eu-west-1"): [good]})
    with ConfigSimulator(scenario) as simulator:
        config = tmp_path / "config.yml"
        config.write_text("regions: [us-east-1, eu-west-1]\n")
        process = exporter_factory([f"--config.file={config}"], aws_env(simulator.url))

        status, _, body = process.get("/metrics")

    assert status == 200
    samples = parse_exposition(body.decode())
    [(labels, _)] = samples["aws_config_conformance_pack_status_reason_info"]
    assert labels["reason"].startswith("before ")
    assert labels["reason"].endswith(" after")


def test_an_app_error_is_one_log_line_not_a_raw_traceback(capfd, caplog) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger="exporter.http"):
            answer = raw_request(server.server_port, b"GET /x HTTP/1.1\r\n\r\n")
    finally:
        server.shutdown()
        server.server_close()

    assert answer.startswith(b"HTTP/1.1 500")
    [record] = caplog.records
    assert (record.getMessage(), record.levelno) == ("request failed", logging.ERROR)
    assert not record.exc_info  # tracebacks only at debug level
    assert (record.__dict__["path"], record.__dict__["error"]) == ("/x", "RuntimeError")
    assert "Traceback" not in capfd.readouterr().err
