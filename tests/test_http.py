"""exporter/http.py: routing, the status page route, the scrape budget, content negotiation,
service discovery, listen addresses."""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any
from wsgiref.util import setup_testing_defaults

import botocore.session
import pytest
from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.aws.credentials import Sessions
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import build_targets, discovery_labels
from exporter.config import AccountConfig, Config
from exporter.deadline import Deadline
from exporter.http import make_app, make_server, parse_listen_address, scrape_budget
from exporter.metrics import RULE_COMPLIANCE
from exporter.simulator import ConfigSimulator, Fault, generated_scenario
from exporter.status_page import Collection, Snapshot, UnsettledPack, render
from tests.conftest import aws_env, wait_for


class RecordingScrape:
    """A scrape callable that remembers the time its deadlines left it."""

    def __init__(self) -> None:
        self.budgets: list[float] = []
        self.collectors: list[Sequence[str]] = []

    def __call__(self, deadline: Deadline, collectors: Sequence[str]) -> list[Metric]:
        self.budgets.append(deadline.remaining())
        self.collectors.append(collectors)
        if "unknown" in collectors:
            raise LookupError("unknown collectors ['unknown']")
        family = GaugeMetricFamily("test_value", "A value.", labels=["k"])
        family.add_metric(["v"], 1.0)
        return [family]


def call(
    app: Any, path: str, method: str = "GET", **headers: str
) -> tuple[str, dict[str, str], bytes]:
    environ = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    return call_with(app, path, {"REQUEST_METHOD": method, **environ})


@pytest.fixture
def scrape() -> RecordingScrape:
    return RecordingScrape()


@pytest.fixture
def app(scrape: RecordingScrape) -> Any:
    return make_app(scrape, telemetry_path="/metrics", default_timeout_seconds=10)


def test_metrics_are_served_in_the_text_format(app, scrape) -> None:
    status, headers, body = call(app, "/metrics")

    assert status == "200 OK"
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b'test_value{k="v"} 1.0' in body
    assert int(headers["Content-Length"]) == len(body)


def test_openmetrics_is_negotiated(app) -> None:
    _, headers, body = call(app, "/metrics", ACCEPT="application/openmetrics-text; version=1.0.0")
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_gzip_when_accepted(app) -> None:
    _, headers, body = call(app, "/metrics", ACCEPT_ENCODING="gzip")
    assert headers["Content-Encoding"] == "gzip"
    assert b"test_value" in gzip.decompress(body)


@pytest.mark.parametrize(
    ("header", "budget"),
    [(None, 9.5), ("4", 3.5), ("0.6", 0.3), ("garbage", 9.5), ("-3", 9.5), ("inf", 9.5)],
)
def test_scrape_timeout_header_sets_the_budget(scrape, header, budget) -> None:
    app = make_app(scrape, default_timeout_seconds=10, timeout_offset_seconds=0.5)
    headers = {} if header is None else {"X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS": header}

    call(app, "/metrics", **headers)

    assert scrape.budgets == [pytest.approx(budget, abs=0.1)]


def test_budget_is_capped() -> None:
    assert scrape_budget("100000", 10, 0.5) == 599.5


def test_landing_page_links_to_the_metrics(scrape) -> None:
    app = make_app(scrape, telemetry_path="/custom")
    status, headers, body = call(app, "/")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert b'href="/custom"' in body
    assert b"No scrape yet" not in body  # without a status there is no status to show
    assert scrape.budgets == []


def test_landing_page_shows_the_last_scrape(scrape) -> None:
    snapshots = [
        Snapshot([], []),
        Snapshot(
            [Collection("status", "111111111111", "eu-west-1", False, 1.5, "Throttling", None)],
            [UnsettledPack("111111111111", "eu-west-1", "pack", "CREATE_FAILED", "<b>no</b>")],
        ),
    ]
    app = make_app(scrape, status=lambda: snapshots[0], telemetry_path="/custom")

    _, headers, first = call(app, "/")
    snapshots.pop(0)
    _, _, second = call(app, "/")
    _, _, on_head = call(app, "/", method="HEAD")

    assert first == render(Snapshot([], []), "/custom")
    assert second == render(snapshots[0], "/custom")  # read again for each request
    assert b"&lt;b&gt;no&lt;/b&gt;" in second
    assert on_head == b""
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert scrape.budgets == []  # the page asks AWS nothing


def test_status_is_read_only_for_the_page(scrape) -> None:
    def status() -> Snapshot:
        raise AssertionError("status read outside /")

    app = make_app(scrape, status=status)
    assert [call(app, path)[0] for path in ("/metrics", "/-/healthy", "/-/ready", "/x")] == [
        "200 OK",
        "200 OK",
        "200 OK",
        "404 Not Found",
    ]


@pytest.mark.parametrize(("path", "body"), [("/-/healthy", b"Healthy\n"), ("/-/ready", b"Ready\n")])
def test_health_endpoints(app, scrape, path, body) -> None:
    assert call(app, path)[::2] == ("200 OK", body)
    assert scrape.budgets == []


@pytest.mark.parametrize("path", ["/metric", "/metrics/", "/favicon.ico", "/-/reload", "/../etc"])
def test_unknown_paths_are_404(app, scrape, path) -> None:
    assert call(app, path)[0] == "404 Not Found"
    assert scrape.budgets == []


def test_head_has_headers_but_no_body(app) -> None:
    status, headers, body = call(app, "/metrics", method="HEAD")
    assert status == "200 OK"
    assert int(headers["Content-Length"]) > 0
    assert body == b""


def test_post_is_not_allowed(app, scrape) -> None:
    status, headers, _ = call(app, "/metrics", method="POST")
    assert status == "405 Method Not Allowed"
    assert headers["Allow"] == "GET, HEAD"
    assert scrape.budgets == []


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":9869", ("", 9869)),
        ("127.0.0.1:9869", ("127.0.0.1", 9869)),
        ("[::1]:9869", ("::1", 9869)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_listen_addresses(address, expected) -> None:
    assert parse_listen_address(address) == expected


@pytest.mark.parametrize("address", ["9869", "::1:9869", "host:", "host:70000", "host:http"])
def test_bad_listen_addresses(address) -> None:
    with pytest.raises(ValueError, match=r"9869|port|brackets|host"):
        parse_listen_address(address)


@pytest.fixture
def served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_server_serves_the_app_over_http(served) -> None:
    with urllib.request.urlopen(f"{served}/metrics", timeout=5) as response:
        assert b"test_value" in response.read()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{served}/nope", timeout=5)
    assert caught.value.code == 404


def test_ipv6_loopback_listens() -> None:
    server = make_server("::1", 0, make_app(RecordingScrape()))
    try:
        assert server.server_address[0] == "::1"
    finally:
        server.server_close()


def test_probe_passes_parameters_and_budget(scrape) -> None:
    seen: list[tuple[dict[str, str], float]] = []

    def probe(parameters: dict[str, str], deadline: Deadline) -> list[Metric]:
        seen.append((parameters, deadline.remaining()))
        families: list[Metric] = scrape(deadline, [])
        return families

    app = make_app(scrape, probe=probe, default_timeout_seconds=10)
    status, _, body = call(app, "/probe", X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS="5")
    assert status == "200 OK"
    assert b"test_value" in body

    environ_query = {"QUERY_STRING": "account=123456789012&region=eu-west-1"}
    status, _, _ = call_with(app, "/probe", environ_query)
    assert status == "200 OK"
    parameters, remaining = seen[-1]
    assert parameters == {"account": "123456789012", "region": "eu-west-1"}
    assert remaining == pytest.approx(9.5, abs=0.1)


def test_probe_lookup_errors_are_400(scrape) -> None:
    def probe(parameters: dict[str, str], deadline: Deadline) -> list[Metric]:
        raise LookupError("unknown account 'x'; configured: ['a']")

    app = make_app(scrape, probe=probe)
    status, _, body = call_with(app, "/probe", {"QUERY_STRING": "account=x"})
    assert status == "400 Bad Request"
    assert body == b"unknown account 'x'; configured: ['a']\n"
    assert scrape.budgets == []


def test_probe_repeated_parameter_is_400(scrape) -> None:
    app = make_app(scrape, probe=lambda parameters, budget: [])
    status, _, _ = call_with(app, "/probe", {"QUERY_STRING": "account=a&account=b"})
    assert status == "400 Bad Request"


def test_no_probe_route_without_a_probe(app) -> None:
    assert call(app, "/probe")[0] == "404 Not Found"


def call_with(app: Any, path: str, extra: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET", **extra}
    setup_testing_defaults(environ)
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def test_ready_is_503_until_warm_and_healthy_is_always_200(scrape) -> None:
    warm = [False]
    app = make_app(scrape, ready=lambda: warm[0])

    cold = [call(app, path)[0] for path in ("/-/ready", "/-/healthy")]
    warm[0] = True
    warmed = call(app, "/-/ready")[0]

    assert cold == ["503 Service Unavailable", "200 OK"]
    assert warmed == "200 OK"
    assert scrape.budgets == []


DISCOVERED = [
    {"__param_account": "111111111111", "__param_region": "eu-west-1", "region": "eu-west-1"},
    {"__param_account": "audit", "__param_region": "us-east-1", "region": "us-east-1"},
]


def test_sd_lists_every_target_at_the_requested_host(scrape) -> None:
    app = make_app(scrape, discover=lambda: [dict(labels) for labels in DISCOVERED])

    status, headers, body = call(app, "/sd", HOST="exporter.monitoring.svc:9869")

    assert status == "200 OK"
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == [
        {"targets": ["exporter.monitoring.svc:9869"], "labels": labels} for labels in DISCOVERED
    ]
    assert scrape.budgets == [], "discovery scrapes nothing"


def test_sd_without_a_host_header_names_the_listening_address(scrape) -> None:
    app = make_app(scrape, discover=lambda: DISCOVERED[:1])

    _, _, body = call_with(
        app, "/sd", {"HTTP_HOST": "", "SERVER_NAME": "10.0.0.7", "SERVER_PORT": "9869"}
    )

    assert json.loads(body)[0]["targets"] == ["10.0.0.7:9869"]


def test_sd_with_no_targets_is_an_empty_list(scrape) -> None:
    app = make_app(scrape, discover=list)

    status, _, body = call(app, "/sd")

    assert (status, json.loads(body)) == ("200 OK", [])


def test_sd_refuses_post_and_is_absent_without_discovery(app, scrape) -> None:
    with_discovery = make_app(scrape, discover=lambda: DISCOVERED)

    assert call(with_discovery, "/sd", method="POST")[0] == "405 Method Not Allowed"
    assert call(app, "/sd")[0] == "404 Not Found"


def test_discovery_labels_probe_by_id_else_by_name() -> None:
    config = Config(
        regions=("us-east-1",),
        accounts=(
            AccountConfig(role_arn="arn:aws:iam::111111111111:role/reader", regions=("eu-west-1",)),
            AccountConfig(name="audit", profile="audit"),  # its id is unknown until a read
        ),
    )
    targets = build_targets(config, Sessions(), ApiCallCounter(), frozenset(), ("us-east-1",))

    assert discovery_labels(targets) == [
        {
            "__param_account": "111111111111",
            "__param_region": "eu-west-1",
            "region": "eu-west-1",
            "account_id": "111111111111",
        },
        DISCOVERED[1],
    ]


def test_collect_parameters_reach_the_scrape_and_an_unknown_one_is_refused(app, scrape) -> None:
    everything = call_with(app, "/metrics", {"QUERY_STRING": ""})
    some = call_with(
        app, "/metrics", {"QUERY_STRING": "collect%5B%5D=discovery&collect[]=status&other=1"}
    )
    refused = call_with(app, "/metrics", {"QUERY_STRING": "collect[]=unknown"})

    assert everything[0] == some[0] == "200 OK"
    assert scrape.collectors == [[], ["discovery", "status"], ["unknown"]]
    assert refused[0] == "400 Bad Request"
    assert refused[2] == b"unknown collectors ['unknown']\n"


class OverrunningScrape(RecordingScrape):
    """A scrape whose answer is ready `overrun` seconds after its deadline."""

    overrun = 0.2

    def __call__(self, deadline: Deadline, collectors: Sequence[str]) -> list[Metric]:
        families = super().__call__(deadline, collectors)
        time.sleep(deadline.remaining() + self.overrun)
        return families


def test_reads_stop_early_enough_to_build_an_answer_as_slow_as_the_last() -> None:
    scrape = OverrunningScrape()
    app = make_app(scrape, default_timeout_seconds=10, timeout_offset_seconds=0.5)
    timeout = {"X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS": "0.8"}  # a budget of 0.4 s

    call(app, "/metrics", **timeout)
    scrape.overrun = 0.0
    call(app, "/metrics", **timeout)
    call(app, "/metrics", **timeout)

    # The first answer took 0.2 s after its reads: the next reserves twice that, all of its
    # budget; it took no time, so the third gets its whole budget again.
    assert scrape.budgets == [
        pytest.approx(0.4, abs=0.05),
        pytest.approx(0.0, abs=0.05),
        pytest.approx(0.4, abs=0.05),
    ]


@pytest.mark.integration
def test_a_large_answer_arrives_within_a_short_scrape_timeout(exporter_factory, tmp_path) -> None:
    """~160k series served while every status read hangs past the deadline: the exporter
    process stops waiting early enough to encode and send them inside a 0.6 s timeout."""
    regions = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1")
    packs, rules = 10, 1000
    model = botocore.session.get_session().get_service_model("config")
    values = model.shape_for("ConformancePackComplianceType").enum  # type: ignore[attr-defined]
    expected = len(regions) * packs * rules * len(values)
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{', '.join(regions)}]\nmin_interval_seconds: 0\n"
        "scrape_timeout_offset_seconds: 0.2\n"
        "compliance: {interval_seconds: 3600}\npipeline: {enabled: false}\n"
    )
    scenario = generated_scenario(packs, regions, rules_per_pack=rules)
    with ConfigSimulator(scenario) as simulator:
        exporter = exporter_factory([f"--config.file={config}"], aws_env(simulator.url))
        wait_for(
            lambda: exporter.scrape().count(f"\n{RULE_COMPLIANCE}{{") == expected,
            120,
            "every rule served",
            interval=0.5,
        )
        exporter.scrape()  # the answer time of this size, as the next scrape reserves it
        simulator.add_fault(Fault("hang", operation="DescribeConformancePackStatus", seconds=5))
        started = time.monotonic()
        body = exporter.scrape({"X-Prometheus-Scrape-Timeout-Seconds": "0.6"})
        answered = time.monotonic() - started

    assert body.count(f"\n{RULE_COMPLIANCE}{{") == expected
    assert 'collector="status",region="us-east-1"} 0.0' in body, "status reads timed out"
    assert answered < 0.6


def test_reload_answers_post_with_its_line(scrape) -> None:
    outcomes = [(True, "config.yml: reloaded"), (False, "configuration error: c.yml:2: bad")]
    app = make_app(scrape, reload=lambda: outcomes.pop(0))

    assert call(app, "/-/reload", method="POST") == (
        "200 OK",
        {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "21"},
        b"config.yml: reloaded\n",
    )
    status, _, body = call(app, "/-/reload", method="POST")
    assert (status, body) == ("500 Internal Server Error", b"configuration error: c.yml:2: bad\n")
    assert scrape.budgets == []


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_reload_refuses_every_method_but_post(scrape, method) -> None:
    reloads: list[str] = []

    def reload() -> tuple[bool, str]:
        reloads.append(method)
        return True, ""

    app = make_app(scrape, reload=reload)

    status, headers, body = call(app, "/-/reload", method=method)

    assert (status, headers["Allow"], body) == ("405 Method Not Allowed", "POST", b"")
    assert reloads == []


def test_the_scrape_timeouts_in_effect_are_asked_at_each_scrape(scrape) -> None:
    timeouts = [(10.0, 0.5), (4.0, 1.0)]
    app = make_app(scrape, timeouts=lambda: timeouts[0])

    call(app, "/metrics")
    timeouts.pop(0)
    call(app, "/metrics")

    assert scrape.budgets == [pytest.approx(9.5, abs=0.1), pytest.approx(3.0, abs=0.1)]
