"""Structural checks of the Grafana dashboard and its provisioning files, without Grafana.

The dashboard is checked against its real inputs: metric names and labels come from the
exporter's own exposition (one in-process scrape of the demo simulator, given an aggregator,
with every collector and every optional family on), PromQL syntax from promtool, runbook
anchors from docs/runbook.md, state values from the botocore model.
tests/e2e/test_dashboard_queries.py runs the same expressions against a real Prometheus
scraping the exporter on the same estate.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml

from exporter import metrics
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import Target
from exporter.collectors.status import StatusCollector
from exporter.config import (
    AccountConfig,
    AggregatorConfig,
    ComplianceConfig,
    Config,
    PipelineConfig,
)
from exporter.simulator import (
    DEFAULT_ACCOUNT,
    DEMO_REGIONS,
    ConfigSimulator,
    Scenario,
    SimulatedAggregator,
    SourceStatus,
    demo_scenario,
)
from exporter.simulator.organization import OrganizationPack
from tests.conftest import make_account, make_scraper, scrape_samples, wait_for
from tests.conftest import run_tool as run_promtool
from tests.test_alerts import (
    ALERTS,
    PROMETHEUS_CONFIG,
    RUNBOOK_URL_PREFIX,
    github_anchors,
    promtool,
)

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_FILE = REPO / "grafana" / "conformance-pack-exporter.json"
DATASOURCE_PROVISIONING = REPO / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVISIONING = (
    REPO / "grafana" / "provisioning" / "dashboards" / "conformance-pack-exporter.yml"
)
DOCS = REPO / "docs" / "dashboard.md"
RUNBOOK = REPO / "docs" / "runbook.md"

DASHBOARD_UID = "conformance-pack-exporter"
DATASOURCE_UID = "prometheus"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
DATASOURCE_INPUT = "DS_PROMETHEUS"
# 41 is the newest schema every Grafana 12 release can read: Grafana 12.0/12.1 fail to
# convert a dashboard whose schemaVersion exceeds theirs (apps/dashboard/pkg/migration/
# migrate.go), while newer releases migrate 41 forward. V42 only touches hideFrom overrides
# and V43 only formatTime transformations, neither of which this dashboard uses (tested).
SCHEMA_VERSION = 41
# Variables Grafana defines itself; data-link variables (__value, __data, ...) included.
GRAFANA_BUILTINS = frozenset(
    {
        "__interval",
        "__interval_ms",
        "__rate_interval",
        "__rate_interval_ms",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__dashboard",
        "__org",
        "__user",
        "__timezone",
        "__all_variables",
        "__url_time_range",
        "__value",
        "__data",
        "__field",
        "__series",
        "__name",
        "timeFilter",
        "__timeFilter",
    }
)
# Series Prometheus itself adds for every target (scrape_timeout_seconds needs
# --enable-feature=extra-scrape-metrics; queries fall back when it is absent).
PROMETHEUS_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "scrape_timeout_seconds",
        "scrape_sample_limit",
        "scrape_body_size_bytes",
    }
)
TARGET_LABELS = frozenset({"job", "instance"})
# The demo has no aggregator: one is given to it, in the demo account's first region, whose
# sources are both demo regions and an account the exporter does not read, one source in each
# status the dashboard colours.
DEMO_AGGREGATOR = AggregatorConfig(name="organisation", region=DEMO_REGIONS[0])
OTHER_SOURCE_ACCOUNT = "111122223333"
AGGREGATOR_SOURCES = {
    (DEFAULT_ACCOUNT, DEMO_REGIONS[0]): SourceStatus("SUCCEEDED"),
    (DEFAULT_ACCOUNT, DEMO_REGIONS[1]): SourceStatus("OUTDATED"),
    (OTHER_SOURCE_ACCOUNT, DEMO_REGIONS[0]): SourceStatus(
        "FAILED", error_code="AccessDeniedException", error_message="not authorized"
    ),
}
# The reason an organization pack whose deployment failed in a member gets in the estate.
ORGANIZATION_ERROR = ("OrganizationConformancePackFailure", "1 member account failed")
# Every option that adds series, on: the dashboard must show whatever the exporter can export.
EXPORTER_SETTINGS: dict[str, Any] = {
    "organization_conformance_packs": True,
    "export_status_reason": True,
    "compliance": ComplianceConfig(noncompliant_resources=True, remediation=True),
    "pipeline": PipelineConfig(),
    "aggregators": (DEMO_AGGREGATOR,),
}
COLLECTORS = frozenset({"status", "organization", "compliance", "pipeline", "aggregator"})
# Collectors that read every target in the background: the first scrapes may not serve every
# region yet (organization reads one target in the background: COLLECTORS waits for it).
BACKGROUND_COLLECTORS = frozenset({"compliance", "pipeline"})
# Families the dashboard need not show; every family the exporter serves is on it.
NOT_ON_THE_DASHBOARD: frozenset[str] = frozenset()
# Self-metrics: one series per (collector, account, region); panels must tell collectors apart.
SELF_METRICS = frozenset({metrics.SCRAPE_SUCCESS, metrics.SCRAPE_DURATION, metrics.LAST_SUCCESS})
# Values a test substitutes for Grafana's own interval variables.
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__interval_ms": "60000",
    "__range_s": "3600",
}

VARIABLE_REFERENCE = re.compile(
    r"\$\{(?P<braced>\w+)[^}]*\}|\[\[(?P<bracketed>\w+)[^\]]*\]\]|\$(?P<plain>\w+)"
)
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)$", re.DOTALL)
QUERY_RESULT = re.compile(r"^query_result\((?P<expr>.+)\)$", re.DOTALL)
# The account names: one series per account (not per region), joined onto rows on account_id.
ACCOUNT_INFO_JOIN = (
    "* on (account_id) group_left (account_name)\n"
    "  topk by (account_id) (\n"
    "    1,\n"
    '    max by (account_id, account_name) (aws_config_account_info{job=~"$job", '
    'account_id=~"$account_id"})\n'
    "  )\n"
    ")\n"
    "or on (account_id)\n"
)
TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<variable>\$\{\w+[^}]*\}|\$\w+|\[\[\w+\]\])
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)
    | (?P<ident>[A-Za-z_:][\w:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}\[\]])
    """,
    re.VERBOSE,
)
# Identifiers that are PromQL syntax, not metric names.
PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "atan2", "sum", "min", "max", "avg", "group", "stddev", "stdvar"}
    | {"count", "count_values", "bottomk", "topk", "quantile", "inf", "nan"}
)
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})


# --------------------------------------------------------------------------- helpers
def load_dashboard() -> dict[str, Any]:
    """The dashboard JSON; a parse error fails with the file and position."""
    try:
        return dict(json.loads(DASHBOARD_FILE.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as error:
        pytest.fail(f"cannot load {DASHBOARD_FILE.relative_to(REPO)}: {error}")


def all_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows and the panels of collapsed rows included."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def data_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows are layout only)."""
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def panel_targets(dashboard: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query of every panel."""
    return [(panel, target) for panel in data_panels(dashboard) for target in panel["targets"]]


def variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Template variables by name."""
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def query_variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variables whose values come from a Prometheus query."""
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def variable_query(variable: Mapping[str, Any]) -> str:
    """A query variable's query string, whichever form the JSON stores it in."""
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def render(text: str, values: Mapping[str, str]) -> str:
    """`text` with every $x, ${x} and [[x]] replaced from `values` (builtins included)."""
    merged = {**BUILTIN_VALUES, **values}

    def replace(match: re.Match[str]) -> str:
        name = match["braced"] or match["bracketed"] or match["plain"]
        if name not in merged:
            raise KeyError(f"no value for variable {name!r} in {text!r}")
        return merged[name]

    return VARIABLE_REFERENCE.sub(replace, text)


def parse_label_values(query: str) -> tuple[str, str]:
    """(selector, label) of a `label_values(selector, label)` variable query."""
    match = LABEL_VALUES.match(query.strip())
    assert match, f"not a label_values(metric, label) query: {query!r}"
    return match["selector"].strip(), match["label"]


def label_values_as_promql(query: str) -> str:
    """The PromQL whose series carry the values a variable query lists: `label_values`'s
    selector grouped by its label, or `query_result`'s expression."""
    if match := QUERY_RESULT.match(query.strip()):
        return match["expr"].strip()
    selector, label = parse_label_values(query)
    return f"group by ({label}) ({selector})"


def grafana_regex(pattern: str) -> re.Pattern[str]:
    """A variable's `/regex/` (JavaScript) as Python's: named groups are `(?P<name>...)`."""
    assert pattern.startswith("/"), pattern
    assert pattern.endswith("/"), pattern
    return re.compile(pattern[1:-1].replace("(?<", "(?P<"))


def query_result_options(
    result: list[dict[str, Any]], regex: re.Pattern[str]
) -> list[tuple[str, str]]:
    """(value, text) of each series a `query_result` variable lists, as Grafana makes them:
    `{label="value",...} value timestamp` (labels in Prometheus' order, joined by a comma),
    its `value` and `text` groups taken by the regex, the value shown where no text matched."""
    options = []
    for series in result:
        labels = ",".join(f'{name}="{value}"' for name, value in series["metric"].items())
        match = regex.search(f"{{{labels}}} {series['value'][1]} {series['value'][0]}")
        assert match, series
        options.append((match["value"], match["text"] or match["value"]))
    return options


def default_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Variable values as Grafana renders them with All selected and defaults kept."""
    values = {"job": "(conformance-pack-exporter)"}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query" and "allValue" in variable:
            values[variable["name"]] = variable["allValue"]
        elif variable["type"] in ("textbox", "constant"):
            values[variable["name"]] = str(variable["query"])
    return values


def tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) of every PromQL token of `expr`; fails on a character it cannot lex."""
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        match = TOKEN.match(expr, position)
        assert match, f"cannot lex {expr[position : position + 30]!r} in {expr!r}"
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
        position = match.end()
    return found


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric name, [(label, operator, value)]) for every vector selector of `expr`."""
    found: list[tuple[str, list[tuple[str, str, str]]]] = []
    toks = tokens(expr)
    index = 0
    while index < len(toks):
        kind, text = toks[index]
        following = toks[index + 1][1] if index + 1 < len(toks) else ""
        if kind == "ident" and text in LABEL_LIST_KEYWORDS and following == "(":
            index = toks.index(("op", ")"), index) + 1
            continue
        if kind == "op" and text == "[":
            index = toks.index(("op", "]"), index) + 1
            continue
        if kind == "ident" and (text in PROMQL_KEYWORDS or following == "("):
            index += 1
            continue
        if kind == "ident":
            matchers: list[tuple[str, str, str]] = []
            index += 1
            if following == "{":
                end = toks.index(("op", "}"), index)
                body = toks[index + 1 : end]
                for position in range(0, len(body), 4):
                    label, operator, value = body[position : position + 3]
                    matchers.append((label[1], operator[1], value[1][1:-1]))
                index = end + 1
            found.append((text, matchers))
            continue
        index += 1
    return found


def demo_with_aggregator(now: float) -> Scenario:
    """The demo estate, with DEMO_AGGREGATOR and its AGGREGATOR_SOURCES, and ORGANIZATION_PACKS
    where the organization collector reads (the first region)."""
    aggregator = SimulatedAggregator(
        DEMO_AGGREGATOR.name, tuple(AGGREGATOR_SOURCES), statuses=AGGREGATOR_SOURCES
    )
    demo = demo_scenario(now)
    return replace(
        demo,
        aggregators={(DEFAULT_ACCOUNT, DEMO_AGGREGATOR.region): [aggregator]},
        organization_packs={(DEFAULT_ACCOUNT, DEMO_REGIONS[0]): organization_packs(demo)},
    )


def organization_packs(demo: Scenario) -> list[OrganizationPack]:
    """The demo's eu-west-1 organization packs (a member whose deployment failed, with its
    reason), each failed pack given a reason of its own: every organization family served."""
    return [
        replace(pack, error_code=ORGANIZATION_ERROR[0], error_message=ORGANIZATION_ERROR[1])
        if pack.status.endswith("_FAILED")
        else pack
        for pack in demo.organization_packs[(DEFAULT_ACCOUNT, DEMO_REGIONS[1])]
    ]


def model_enum(shape: str) -> tuple[str, ...]:
    """The values the installed botocore model gives an enum shape of AWS Config."""
    model = botocore.session.get_session().get_service_model("config")
    return tuple(model.shape_for(shape).enum)  # type: ignore[attr-defined]


def botocore_states() -> tuple[str, ...]:
    """The pack states the installed botocore model knows, as the status collector reads them."""
    model = botocore.session.get_session().get_service_model("config")
    return tuple(StatusCollector(Config(), model).states)


def every_collector_served(
    samples: dict[str, list[tuple[dict[str, str], float]]],
) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    """`samples` once every collector has served a successful read, else None.

    Compliance and the pipeline are read in the background: the first scrapes may not serve
    them for every region yet.
    """
    outcomes = {
        (labels["collector"], labels["region"]): value
        for labels, value in samples.get(metrics.SCRAPE_SUCCESS, [])
    }
    collectors = {collector for collector, _ in outcomes}
    served = (
        collectors == COLLECTORS
        and all(
            {region for name, region in outcomes if name == collector} == set(DEMO_REGIONS)
            for collector in BACKGROUND_COLLECTORS
        )
        and all(value == 1 for value in outcomes.values())
    )
    return samples if served else None


@functools.cache
def exporter_labels() -> dict[str, frozenset[str]]:
    """Label names of every sample name the exporter really exposes (computed once, on first use).

    One in-process scrape, by the exporter's own collectors, of the demo simulator (packs in
    every state, status reasons, compliance with non-compliant rules, organization packs,
    recorders, a delivery channel, a rule failing to evaluate) given an aggregator, with
    EXPORTER_SETTINGS; retried until every collector has served its data.
    """
    with ConfigSimulator(demo_with_aggregator(time.time())) as simulator:
        counter = ApiCallCounter()
        named = AccountConfig(name="demo")  # served with its name: aws_config_account_info
        account = make_account(DEMO_REGIONS, simulator.url, counter, named, **EXPORTER_SETTINGS)
        targets = [Target(account, region) for region in DEMO_REGIONS]
        scraper = make_scraper(targets, counter, **EXPORTER_SETTINGS)
        try:
            samples = wait_for(
                lambda: every_collector_served(scrape_samples(scraper)),
                timeout=30,
                what="every collector's first successful read of the demo",
            )
        finally:
            scraper.close()
    labels: dict[str, set[str]] = {}
    for name, series in samples.items():
        if name not in NOT_ON_THE_DASHBOARD:
            labels.setdefault(name, set()).update(label for found, _ in series for label in found)
    return {name: frozenset(names) for name, names in labels.items()}


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, value) of every string in a JSON document."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for position, value in enumerate(node):
            yield from strings(value, f"{path}[{position}]")


DASHBOARD = load_dashboard()
TARGETS = panel_targets(DASHBOARD)
TARGET_IDS = [f"{panel['title']}/{target['refId']}" for panel, target in TARGETS]


# --------------------------------------------------------------------------- dashboard
def test_dashboard_identity_and_defaults():
    assert DASHBOARD["uid"] == DASHBOARD_UID
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", DASHBOARD["uid"])
    assert DASHBOARD["id"] is None, "an id is instance-local; imports and provisioning set it"
    assert DASHBOARD["title"].strip()
    assert "conformance-pack-exporter" in DASHBOARD["tags"]
    assert DASHBOARD["time"] == {"from": "now-24h", "to": "now"}
    assert re.fullmatch(r"\d+[smhd]", DASHBOARD["refresh"])
    assert DASHBOARD["editable"] is True


def test_schema_version_is_the_newest_every_grafana_12_reads():
    assert DASHBOARD["schemaVersion"] == SCHEMA_VERSION
    for panel in all_panels(DASHBOARD):
        overrides = panel.get("fieldConfig", {}).get("overrides", [])
        properties = [p for override in overrides for p in override["properties"]]
        assert not [p for p in properties if p["id"] == "custom.hideFrom"], panel["title"]
        ids = [t["id"] for t in panel.get("transformations", [])]
        assert "formatTime" not in ids, panel["title"]


def test_panel_ids_are_unique():
    ids = [panel["id"] for panel in all_panels(DASHBOARD)]
    assert all(isinstance(panel_id, int) for panel_id in ids)
    assert len(ids) == len(set(ids)), sorted(ids)


def test_panels_fit_the_grid_without_overlapping():
    boxes = []
    for panel in all_panels(DASHBOARD):
        grid = panel["gridPos"]
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        assert min(x, y) >= 0, panel["title"]
        assert min(w, h) >= 1, panel["title"]
        assert x + w <= 24, f"{panel['title']} ends at column {x + w} of 24"
        boxes.append((panel["title"], x, y, w, h))
    for first, second in itertools.combinations(boxes, 2):
        _, x1, y1, w1, h1 = first
        _, x2, y2, w2, h2 = second
        overlap = x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1
        assert not overlap, f"{first[0]!r} overlaps {second[0]!r}"


def test_every_panel_has_a_description():
    for panel in data_panels(DASHBOARD):
        assert len(panel.get("description", "").strip()) >= 60, panel["title"]


def test_every_panel_and_target_uses_the_datasource_variable():
    for panel in data_panels(DASHBOARD):
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
    for panel, target in TARGETS:
        assert target["datasource"] == DATASOURCE_REF, f"{panel['title']}/{target['refId']}"
        assert target["expr"].strip()
    for variable in query_variables(DASHBOARD):
        assert variable["datasource"] == DATASOURCE_REF, variable["name"]


def test_ref_ids_are_unique_per_panel():
    for panel in data_panels(DASHBOARD):
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_ui_import_input_feeds_only_the_datasource_variable():
    """UI import replaces ${DS_PROMETHEUS}; provisioning does not, so nothing else may need it."""
    inputs = DASHBOARD["__inputs"]
    assert [(i["name"], i["type"], i["pluginId"]) for i in inputs] == [
        (DATASOURCE_INPUT, "datasource", "prometheus")
    ]
    placeholder = "${" + DATASOURCE_INPUT + "}"
    uses = {path for path, value in strings(DASHBOARD) if placeholder in value}
    index = [v["name"] for v in DASHBOARD["templating"]["list"]].index("datasource")
    current = f".templating.list[{index}].current"
    assert uses == {f"{current}.text", f"{current}.value"}
    datasource = variables(DASHBOARD)["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    assert datasource["regex"] == ""
    assert not datasource.get("multi")
    assert not datasource.get("includeAll")


def test_requires_lists_every_panel_type_and_the_datasource():
    requires = {(r["type"], r["id"]) for r in DASHBOARD["__requires"]}
    panel_types = {panel["type"] for panel in data_panels(DASHBOARD)}
    assert {panel_id for kind, panel_id in requires if kind == "panel"} == panel_types
    assert ("datasource", "prometheus") in requires
    assert ("grafana", "grafana") in requires


def test_every_referenced_variable_is_defined():
    defined = set(variables(DASHBOARD)) | GRAFANA_BUILTINS
    inputs = {i["name"] for i in DASHBOARD["__inputs"]}
    for path, value in strings(DASHBOARD):
        for match in VARIABLE_REFERENCE.finditer(value):
            name = match["braced"] or match["bracketed"] or match["plain"]
            assert name in defined or name in inputs, f"{path}: ${name} is not defined"


def test_pack_variables_are_multi_value_with_all_and_chained():
    defined = variables(DASHBOARD)
    assert list(defined) == [
        "datasource",
        "job",
        "account_id",
        "region",
        "conformance_pack",
        "scrape_timeout",
    ]
    parents = {
        "job": set(),
        "account_id": {"job"},
        "region": {"job", "account_id"},
        "conformance_pack": {"job", "account_id", "region"},
    }
    for name, expected_parents in parents.items():
        variable = defined[name]
        query = variable_query(variable)
        assert variable["definition"] == query
        if name == "account_id":
            continue  # query_result: test_the_account_variable_shows_names_and_keeps_ids
        selector, label = parse_label_values(query)
        assert label == name
        assert variable["multi"] is True, name
        assert variable["includeAll"] is True, name
        assert variable["refresh"] == 2, f"{name} must refresh on time range change"
        assert variable["current"] == {}, f"{name} must not save a selection"
        [(metric, matchers)] = selectors(selector)
        assert metric.startswith("aws_config_"), f"{name} must list the exporter's values"
        assert {label for label, _, value in matchers if "$" in value} == expected_parents, name
        fixed = {
            (label, operator, value) for label, operator, value in matchers if "$" not in value
        }
        if metric == metrics.SCRAPE_SUCCESS:
            # One series per collector: the status collector reads every account and region.
            assert fixed == {("collector", "=", "status")}, name
        else:
            assert fixed == set(), name
    # All for job means the jobs found, never `.*`, which would match every job's `up`.
    assert "allValue" not in defined["job"]
    for name in ("account_id", "region", "conformance_pack"):
        assert defined[name]["allValue"] == ".*", name


def test_the_account_variable_shows_names_and_keeps_ids():
    """The accounts the status collector reads, each named from aws_config_account_info where
    it has a name: the value is the id (every query filters on it), the text the name."""
    variable = variables(DASHBOARD)["account_id"]
    expr = label_values_as_promql(variable_query(variable))
    assert variable_query(variable).startswith("query_result(")
    assert [(metric, sorted(m)) for metric, m in selectors(expr)] == [
        (metrics.SCRAPE_SUCCESS, [("collector", "=", "status"), ("job", "=~", "$job")]),
        (metrics.ACCOUNT_INFO, [("job", "=~", "$job")]),
        (metrics.SCRAPE_SUCCESS, [("collector", "=", "status"), ("job", "=~", "$job")]),
    ]
    regex = grafana_regex(variable["regex"])
    value = [1_700_000_000.5, "1"]  # as Prometheus' API gives it
    named: dict[str, Any] = {
        "metric": {"account_id": "111111111111", "account_name": 'R&D "x", y'},
        "value": value,
    }
    unnamed: dict[str, Any] = {"metric": {"account_id": "222222222222"}, "value": value}
    assert query_result_options([named, unnamed], regex) == [
        ("111111111111", 'R&D "x", y'),
        ("222222222222", "222222222222"),
    ]


def test_tables_show_account_names_and_keep_unnamed_accounts():
    """Every table with an account column has its name beside it, joined on the query that
    makes its rows; the rows of an account without a name come from the same query alone."""
    tables = [
        panel
        for panel in data_panels(DASHBOARD)
        if panel["type"] == "table"
        and "account_id" in panel["transformations"][-1]["options"]["indexByName"]
    ]
    assert len(tables) == 12
    for panel in tables:
        organize = panel["transformations"][-1]["options"]
        index = organize["indexByName"]
        assert index["account_name"] == index["account_id"] + 1, panel["title"]
        assert organize["renameByName"]["account_name"] == "Account name"
        [rows] = [target["expr"] for target in panel["targets"] if target["refId"] == "A"]
        joined, _, alone = rows.partition(ACCOUNT_INFO_JOIN)
        indented = "\n".join(f"  {line}" for line in alone.split("\n"))
        assert joined == f"(\n{indented}\n  ", panel["title"]
        others = [t["expr"] for t in panel["targets"] if t["refId"] != "A"]
        assert not [expr for expr in others if metrics.ACCOUNT_INFO in expr], panel["title"]


def test_scrape_timeout_default_matches_the_shipped_prometheus_config():
    variable = variables(DASHBOARD)["scrape_timeout"]
    assert variable["type"] == "textbox"
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "conformance-pack-exporter"]
    assert f"{variable['query']}s" == job["scrape_timeout"]
    assert variable["current"]["value"] == variable["query"]


@pytest.mark.parametrize(("panel", "target"), TARGETS, ids=TARGET_IDS)
def test_variable_matchers_are_regex_matchers(panel, target):
    for metric, matchers in selectors(target["expr"]):
        for label, operator, value in matchers:
            if "$" in value:
                assert operator == "=~", f"{metric}{{{label}{operator}{value!r}}}"
                assert value == f"${label}", f"{label} must be filtered by ${label}"


@pytest.mark.parametrize(("panel", "target"), TARGETS, ids=TARGET_IDS)
def test_metrics_exist_in_the_exporters_real_output(panel, target):
    found = selectors(target["expr"])
    assert found, "no metric selected"
    for metric, matchers in found:
        if metric in PROMETHEUS_SERIES:
            labels = TARGET_LABELS
        else:
            assert metric in exporter_labels(), f"{metric} is not in the exporter's output"
            labels = exporter_labels()[metric] | TARGET_LABELS
        for label, _, _ in matchers:
            assert label in labels, f"{metric} has no label {label!r}"


@pytest.mark.parametrize(("panel", "target"), TARGETS, ids=TARGET_IDS)
def test_queries_respect_the_variables(panel, target):
    for metric, matchers in selectors(target["expr"]):
        filtered = {label for label, _, value in matchers if value.startswith("$")}
        if metric in PROMETHEUS_SERIES or "account_id" not in exporter_labels()[metric]:
            # Per target, or per exporter (build info, accounts read): no account or region.
            expected = {"job"}
        elif "region" not in exporter_labels()[metric]:
            # Per account (its name): joined onto rows the region filter chose already.
            expected = {"job", "account_id"}
        elif "conformance_pack" in exporter_labels()[metric]:
            expected = {"job", "account_id", "region", "conformance_pack"}
        else:
            expected = {"job", "account_id", "region"}
        assert filtered == expected, f"{metric} is filtered by {sorted(filtered)}"


def test_every_exporter_metric_is_shown():
    used = {metric for _, target in TARGETS for metric, _ in selectors(target["expr"])}
    exporter_metrics = set(exporter_labels())
    assert exporter_metrics - used == set()
    assert {"up", "scrape_duration_seconds"} <= used


def test_query_formats_match_their_panels():
    for panel, target in TARGETS:
        where = f"{panel['title']}/{target['refId']}"
        instant = panel["type"] in ("table", "stat", "bargauge")
        assert target["instant"] is instant, where
        assert target["range"] is not instant, where
        assert target["format"] == ("table" if panel["type"] == "table" else "time_series")


def test_promql_parses(tmp_path):
    """promtool parses every expression and variable query, variables substituted."""
    values = default_values(DASHBOARD)
    exprs = [render(target["expr"], values) for _, target in TARGETS]
    exprs += [
        label_values_as_promql(render(variable_query(v), values))
        for v in query_variables(DASHBOARD)
    ]
    rules = [{"record": f"dashboard_query_{n}", "expr": e} for n, e in enumerate(exprs)]
    rule_file = tmp_path / "dashboard.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool(promtool(), "check", "rules", rule_file)


def override_properties(panel: Mapping[str, Any], field: str) -> dict[str, Any]:
    """The override properties a table panel sets for the column named `field`."""
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"] == {"id": "byName", "options": field}:
            return {p["id"]: p["value"] for p in override["properties"]}
    raise AssertionError(f"{panel['title']} has no override for column {field!r}")


def panel_titled(title: str) -> dict[str, Any]:
    [panel] = [p for p in data_panels(DASHBOARD) if p["title"] == title]
    return panel


def test_failing_packs_link_to_the_runbook():
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    for title in ("Failing packs", "Conformance packs"):
        panel = panel_titled(title)
        expr = panel["targets"][0]["expr"]
        match = re.search(r'"runbook",\s*"(\w+)",\s*"state",\s*"([^"]+)"', expr)
        assert match, f"{title}: query A must set a runbook label on failed packs"
        assert match[1] in anchors
        assert match[2] in (".*_FAILED", ".+")
        runbook = override_properties(panel, "Runbook")
        [link] = runbook["links"]
        assert link["url"] == RUNBOOK_URL_PREFIX + "${__value.raw}"
        assert panel["transformations"][-1]["options"]["renameByName"]["runbook"] == "Runbook"
    stat = panel_titled("Packs by state group")
    [failed] = [o for o in stat["fieldConfig"]["overrides"] if o["matcher"]["options"] == "C"]
    [links] = [p["value"] for p in failed["properties"] if p["id"] == "links"]
    assert [link["url"] for link in links] == [RUNBOOK_URL_PREFIX + "conformancepackfailed"]


def test_every_runbook_link_has_an_anchor_in_the_runbook():
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    for path, value in strings(DASHBOARD):
        if value.startswith(RUNBOOK_URL_PREFIX) and "$" not in value:
            assert value.removeprefix(RUNBOOK_URL_PREFIX) in anchors, path


def test_state_is_coloured_by_group():
    patterns = {".*_COMPLETE": "green", ".*_IN_PROGRESS": "blue", ".*_FAILED": "red"}
    for title in ("Failing packs", "Conformance packs"):
        state = override_properties(panel_titled(title), "State")
        assert state["custom.cellOptions"]["type"] == "color-background"
        mapped = {
            m["options"]["pattern"]: m["options"]["result"]["color"]
            for m in state["mappings"]
            if m["type"] == "regex"
        }
        assert patterns.items() <= mapped.items()


def test_state_timeline_maps_every_state_the_exporter_knows():
    [target] = panel_titled("Pack state over time")["targets"]
    states = botocore_states()
    codes = dict(re.findall(r'state="(\w+)"\} == 1\) \* (\d+)', target["expr"]))
    assert set(codes) == set(states)
    [mapping] = panel_titled("Pack state over time")["fieldConfig"]["defaults"]["mappings"]
    for state, code in codes.items():
        assert mapping["options"][code]["text"] == state


@pytest.mark.parametrize(("panel", "target"), TARGETS, ids=TARGET_IDS)
def test_self_metrics_are_shown_per_collector(panel, target):
    """A self-metric query picks its collectors, or keeps them apart with `by (collector, ...)`."""
    split = re.search(r"\bby\s*\([^)]*\bcollector\b", target["expr"])
    for metric, matchers in selectors(target["expr"]):
        if metric in SELF_METRICS:
            assert split or "collector" in {label for label, _, _ in matchers}, metric


def compliance_values() -> tuple[str, ...]:
    """The compliance values the installed botocore model knows (the exporter's state set)."""
    return model_enum("ConformancePackComplianceType")


def test_packs_by_compliance_counts_every_value_the_model_knows():
    panel = panel_titled("Packs by compliance")
    values = compliance_values()
    exact: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    for target in panel["targets"]:
        [(_, matchers)] = selectors(target["expr"])
        [(operator, value)] = [(op, v) for label, op, v in matchers if label == "compliance"]
        (exact if operator == "=" else other).append((operator, value))
    assert sorted(value for _, value in exact) == sorted(values)
    assert [(operator, set(value.split("|"))) for operator, value in other] == [("!~", set(values))]
    [non_compliant] = [
        o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "B"
    ]
    assert 'compliance="NON_COMPLIANT"' in panel["targets"][1]["expr"]
    [links] = [p["value"] for p in non_compliant["properties"] if p["id"] == "links"]
    assert [link["url"] for link in links] == [
        RUNBOOK_URL_PREFIX + "conformancepacknewlynoncompliant"
    ]


def test_compliance_score_is_coloured_by_threshold():
    """Red below 80 %, orange below 95 %, green from 95 %, in the table and the time series."""
    steps = [("red", None), ("orange", 0.8), ("green", 0.95)]
    score = override_properties(panel_titled("Compliance by pack"), "Score")
    assert score["custom.cellOptions"]["type"] == "color-background"
    assert score["unit"] == "percentunit"
    assert [(s["color"], s["value"]) for s in score["thresholds"]["steps"]] == steps
    over_time = panel_titled("Compliance score over time")["fieldConfig"]["defaults"]
    assert over_time["unit"] == "percentunit"
    assert [s["value"] for s in over_time["thresholds"]["steps"]] == [None, 0.8, 0.95]


def test_compliance_is_coloured_by_value():
    compliance = override_properties(panel_titled("Compliance by pack"), "Compliance")
    assert compliance["custom.cellOptions"]["type"] == "color-background"
    [by_value] = [m for m in compliance["mappings"] if m["type"] == "value"]
    colours = {value: result["color"] for value, result in by_value["options"].items()}
    assert set(colours) == set(compliance_values())
    assert (colours["COMPLIANT"], colours["NON_COMPLIANT"]) == ("green", "red")


def test_non_compliant_rules_table_shows_only_non_compliant_rules():
    """Resource counts exist for every counted rule: each query keeps the NON_COMPLIANT ones."""
    panel = panel_titled("Non-compliant rules")
    for target in panel["targets"]:
        assert 'compliance="NON_COMPLIANT"} == 1' in target["expr"], target["refId"]
    used = {metric for t in panel["targets"] for metric, _ in selectors(t["expr"])}
    assert {
        "aws_config_conformance_pack_rule_noncompliant_resources",
        "aws_config_conformance_pack_rule_noncompliant_resources_cap_exceeded",
    } <= used


def test_compliance_age_turns_red_where_the_stale_alert_fires():
    [rule] = [rule for rule in ALERTS if rule["alert"] == "ConformancePackExporterComplianceStale"]
    [threshold] = re.findall(r"time\(\) - \S+\s*>\s*(\d+)", rule["expr"])
    defaults = panel_titled("Oldest compliance data")["fieldConfig"]["defaults"]
    red = [s["value"] for s in defaults["thresholds"]["steps"] if s["color"] == "red"]
    assert red == [int(threshold)]


def fixed_matchers(expr: str) -> set[tuple[str, str, str, str]]:
    """(metric, label, operator, value) of every matcher of `expr` that no variable sets."""
    return {
        (metric, label, operator, value)
        for metric, matchers in selectors(expr)
        for label, operator, value in matchers
        if "$" not in value
    }


def runbook_links(panel: Mapping[str, Any]) -> dict[str, str]:
    """The alert whose runbook each query of a stat panel links to, by refId (lower case)."""
    linked: dict[str, str] = {}
    for override in panel["fieldConfig"]["overrides"]:
        for prop in override["properties"]:
            if prop["id"] == "links":
                [link] = prop["value"]
                anchor = link["url"].removeprefix(RUNBOOK_URL_PREFIX)
                linked[override["matcher"]["options"]] = anchor
    return linked


def test_pipeline_problems_count_what_their_alerts_judge():
    """Each value selects its alert's series with the alert's own fixed matchers and links to
    its runbook; together they cover every pipeline alert but the aggregator's (below)."""
    alerts = {rule["alert"].lower(): rule for rule in ALERTS}
    panel = panel_titled("Config pipeline problems")
    linked = runbook_links(panel)
    assert set(linked) == {target["refId"] for target in panel["targets"]}
    for target in panel["targets"]:
        alert = alerts[linked[target["refId"]]]
        used = {metric for metric, _ in selectors(target["expr"])}
        assert used == {metric for metric, _ in selectors(alert["expr"])}, alert["alert"]
        assert fixed_matchers(target["expr"]) == fixed_matchers(alert["expr"]), alert["alert"]
    pipeline_alerts = {name for name in alerts if name.startswith("awsconfig")}
    aggregator_alert = "awsconfigaggregatorsourcefailing"
    assert set(linked.values()) == pipeline_alerts - {aggregator_alert}


def test_aggregator_sources_by_status_counts_every_value_the_model_knows():
    """One count per status, one for any other; those the alert judges link to its runbook."""
    panel = panel_titled("Aggregator sources by status")
    values = model_enum("AggregatedSourceStatusType")
    exact: dict[str, str] = {}
    other: list[tuple[str, set[str]]] = []
    for target in panel["targets"]:
        [(_, matchers)] = selectors(target["expr"])
        [(operator, value)] = [(op, v) for label, op, v in matchers if label == "status"]
        if operator == "=":
            exact[value] = target["refId"]
        else:
            other.append((operator, set(value.split("|"))))
    assert sorted(exact) == sorted(values)
    assert other == [("!~", set(values))]
    [rule] = [rule for rule in ALERTS if rule["alert"] == "AWSConfigAggregatorSourceFailing"]
    [(_, _, _, judged)] = [m for m in fixed_matchers(rule["expr"]) if m[1] == "status"]
    linked = runbook_links(panel)
    assert set(linked) == {exact[value] for value in judged.split("|")}
    assert set(linked.values()) == {rule["alert"].lower()}


@pytest.mark.parametrize(
    ("title", "column", "shape", "failure"),
    [
        ("Configuration recorders", "Last status", "RecorderStatus", "Failure"),
        ("Delivery channels", "Last status", "DeliveryStatus", "Failure"),
        ("Aggregator sources", "Status", "AggregatedSourceStatusType", "FAILED"),
    ],
)
def test_pipeline_states_are_coloured_by_value(title, column, shape, failure):
    """Every value the model knows has a colour, only the failure is red, and a value AWS adds
    later still shows (any other value, purple)."""
    properties = override_properties(panel_titled(title), column)
    assert properties["custom.cellOptions"]["type"] == "color-background"
    [by_value] = [m for m in properties["mappings"] if m["type"] == "value"]
    [other] = [m for m in properties["mappings"] if m["type"] == "regex"]
    colours = {value: result["color"] for value, result in by_value["options"].items()}
    assert set(colours) == set(model_enum(shape))
    assert [value for value, colour in colours.items() if colour == "red"] == [failure]
    assert (other["options"]["pattern"], other["options"]["result"]["color"]) == (".+", "purple")


def test_rule_evaluation_by_pack_shows_every_evaluation():
    """One column per evaluation the exporter counts; those the alert judges are coloured."""
    panel = panel_titled("Rule evaluation by pack")
    columns = panel["transformations"][-1]["options"]["renameByName"]
    shown: dict[str, str] = {}
    for target in panel["targets"]:
        [matchers] = {
            tuple(m) for metric, m in selectors(target["expr"]) if metric != metrics.ACCOUNT_INFO
        }
        [(operator, value)] = [(op, v) for label, op, v in matchers if label == "evaluation"]
        assert operator == "=", target["refId"]
        shown[value] = columns[f"Value #{target['refId']}"]
    assert set(shown) == set(metrics.EVALUATIONS)
    [rule] = [r for r in ALERTS if r["alert"] == "AWSConfigConformancePackRulesNotEvaluating"]
    [(_, _, _, judged)] = [m for m in fixed_matchers(rule["expr"]) if m[1] == "evaluation"]
    for evaluation in judged.split("|"):
        steps = override_properties(panel, shown[evaluation])["thresholds"]["steps"]
        assert [step["value"] for step in steps if step["color"] != "text"] == [1], evaluation


def test_remediation_states_are_coloured_by_the_alert_they_raise():
    """Every remediation state the model knows but UNKNOWN has a colour; FAILED, what
    ConformancePackRemediationFailing fires on, is red."""
    [rule] = [rule for rule in ALERTS if rule["alert"] == "ConformancePackRemediationFailing"]
    [(_, _, _, failed)] = [m for m in fixed_matchers(rule["expr"]) if m[1] == "state"]
    panel = panel_titled("Resources by remediation state")
    colours = {
        override["matcher"]["options"]: override["properties"][0]["value"]["fixedColor"]
        for override in panel["fieldConfig"]["overrides"]
    }
    assert set(colours) == set(model_enum("RemediationExecutionState")) - {"UNKNOWN"}
    assert colours[failed] == "red"


def test_rule_remediations_turn_red_on_the_first_failure():
    steps = override_properties(panel_titled("Rule remediations"), "Failed")["thresholds"]
    assert [step["value"] for step in steps["steps"] if step["color"] == "red"] == [1]


def test_docs_describe_every_panel_and_variable():
    docs = DOCS.read_text(encoding="utf-8")
    for panel in data_panels(DASHBOARD):
        assert f"**{panel['title']}**" in docs, f"docs/dashboard.md lacks {panel['title']!r}"
    for name in variables(DASHBOARD):
        assert f"`{name}`" in docs, f"docs/dashboard.md lacks variable {name!r}"


# --------------------------------------------------------------------------- provisioning
def test_datasource_provisioning():
    config = yaml.safe_load(DATASOURCE_PROVISIONING.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    [datasource] = config["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["access"] == "proxy"
    assert datasource["isDefault"] is True
    scrape_interval = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))["global"]
    assert datasource["jsonData"]["timeInterval"] == scrape_interval["scrape_interval"]


def test_dashboard_provisioning():
    config = yaml.safe_load(DASHBOARD_PROVISIONING.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == DASHBOARDS_PATH
    assert provider["allowUiUpdates"] is False
    docs = DOCS.read_text(encoding="utf-8")
    assert f"{DASHBOARDS_PATH}/{DASHBOARD_FILE.name}" in docs
