"""Every PromQL expression of the Grafana dashboard, run against a real Prometheus that
scrapes the exporter in demo mode, with the variables substituted as Grafana would.

No Grafana is involved: what Grafana adds (variable interpolation, table merging) is
reproduced here from the dashboard JSON, and the PromQL is Prometheus' own answer.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.conftest import ACCOUNT
from tests.e2e.conftest import JOB, PrometheusServer
from tests.test_dashboard import (
    load_dashboard,
    panel_targets,
    parse_label_values,
    query_variables,
    render,
    variable_query,
)

pytestmark = pytest.mark.e2e

DASHBOARD = load_dashboard()
TARGETS = panel_targets(DASHBOARD)
WAIT_SECONDS = 60
DEMO_REGIONS = {"us-east-1", "eu-west-1"}
DEMO_PACK_COUNT = 13
FAILED_PACK = "Operational-Best-Practices-for-Well-Architected-Security"
FAILED_REASON = "The following resource(s) failed to delete"
IN_PROGRESS_PACK = "Operational-Best-Practices-for-NIST-800-53-rev5"
# (panel title, refId) of queries the demo gives no data: it makes no failing AWS call.
EMPTY_IN_DEMO = {
    ("AWS API errors and throttling (share of calls)", "A"),
    # Resource counts need `noncompliant_resources: true`; the demo runs with the default.
    ("Non-compliant rules", "B"),
    ("Non-compliant rules", "C"),
}
REASON_METRIC = "aws_config_conformance_pack_status_reason_info"
INFO_METRIC = "aws_config_conformance_pack_info"

# Variable values as Grafana interpolates them into a Prometheus query: All is the
# variable's allValue, or for `job` (no allValue) a regex of every value found.
SCENARIOS: dict[str, dict[str, str]] = {
    "all": {
        "job": f"({JOB})",
        "account_id": ".*",
        "region": ".*",
        "conformance_pack": ".*",
    },
    "one-each": {
        "job": JOB,
        "account_id": ACCOUNT,
        "region": "eu-west-1",
        "conformance_pack": FAILED_PACK,
    },
    "several": {
        "job": f"({JOB})",
        "account_id": f"({ACCOUNT})",
        "region": "(us-east-1|eu-west-1)",
        "conformance_pack": f"({FAILED_PACK}|{IN_PROGRESS_PACK})",
    },
}


def values_for(scenario: str) -> dict[str, str]:
    """Every variable's value for a scenario; scrape_timeout keeps its default."""
    textbox = {v["name"]: str(v["query"]) for v in DASHBOARD["templating"]["list"]}
    return {"scrape_timeout": textbox["scrape_timeout"], **SCENARIOS[scenario]}


def target_expr(title: str, ref_id: str, scenario: str = "all") -> str:
    [expr] = [t["expr"] for p, t in TARGETS if p["title"] == title and t["refId"] == ref_id]
    return render(expr, values_for(scenario))


@pytest.fixture
def prometheus(
    exporter_demo: str, prometheus_factory: Callable[..., PrometheusServer]
) -> PrometheusServer:
    """Prometheus scraping the demo exporter, once every pack has been scraped."""
    server = prometheus_factory([exporter_demo])
    packs = server.wait_until(
        f"count(group by (account_id, region, conformance_pack) ({INFO_METRIC})) "
        f"== {DEMO_PACK_COUNT}",
        timeout=WAIT_SECONDS,
    )
    assert packs
    return server


def labels(result: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [series["metric"] for series in result]


def value(series: Mapping[str, Any]) -> float:
    return float(series["value"][1])


def test_every_panel_query_runs_and_has_data(prometheus):
    """No query errors; every query the demo has data for returns series, instant and range.

    One Prometheus serves every variable scenario: starting one costs seconds.
    """
    failures: list[str] = []
    for scenario, (panel, target) in itertools.product(SCENARIOS, TARGETS):
        values = values_for(scenario)
        where = f"{panel['title']}/{target['refId']} ({scenario})"
        expr = render(target["expr"], values)
        expect_data = (panel["title"], target["refId"]) not in EMPTY_IN_DEMO
        try:
            if expect_data:
                prometheus.wait_until(expr, timeout=WAIT_SECONDS)
            else:
                prometheus.query(expr)
            if target["range"]:
                end = time.time()
                series = prometheus.query_range(expr, end - 120, end, 5)
                if expect_data and not series:
                    failures.append(f"{where}: no series over the last 2 minutes")
        except AssertionError as error:
            failures.append(f"{where}: {error}")
    assert not failures, "\n".join(failures)


def test_variable_queries_list_the_demo_values(prometheus):
    """Each variable lists the demo's values, given its parents' values (chained)."""
    expected = {
        "job": {JOB},
        "account_id": {ACCOUNT},
        "region": DEMO_REGIONS,
    }
    for scenario in SCENARIOS:
        values = values_for(scenario)
        for variable in query_variables(DASHBOARD):
            selector, label = parse_label_values(render(variable_query(variable), values))
            result = prometheus.query(f"group by ({label}) ({selector})")
            found = {series["metric"][label] for series in result}
            if variable["name"] == "conformance_pack":
                region = SCENARIOS[scenario]["region"]
                packs = prometheus.query(
                    f'group by (conformance_pack) ({INFO_METRIC}{{region=~"{region}"}})'
                )
                assert found == {s["metric"]["conformance_pack"] for s in packs}
                assert found, scenario
            else:
                assert found == expected[variable["name"]], (variable["name"], scenario)


def test_summary_panels_match_the_demo_estate(prometheus):
    """State-group counts add up to every pack; the timeline codes decode to the states."""
    at = time.time()
    counts = {
        ref_id: value(prometheus.query(target_expr("Packs by state group", ref_id), at)[0])
        for ref_id in "ABCD"
    }
    healthy, in_progress, failed, other = (counts[r] for r in "ABCD")
    assert healthy + in_progress + failed + other == DEMO_PACK_COUNT, counts
    assert healthy >= 9, counts
    assert in_progress >= 1, counts
    assert failed >= 1, counts
    assert other == 0, counts
    [failed_collections] = prometheus.query(target_expr("Failed collections", "A"))
    [targets_down] = prometheus.query(target_expr("Exporter targets down", "A"))
    assert value(failed_collections) == 0
    assert value(targets_down) == 0

    [mapping] = next(p for p, _ in TARGETS if p["title"] == "Pack state over time")["fieldConfig"][
        "defaults"
    ]["mappings"]
    series = prometheus.query(target_expr("Pack state over time", "A"))
    assert len(series) == DEMO_PACK_COUNT
    states = {
        (s["metric"]["region"], s["metric"]["conformance_pack"]): mapping["options"][
            str(int(value(s)))
        ]["text"]
        for s in series
    }
    assert states["eu-west-1", FAILED_PACK] == "DELETE_FAILED"
    assert states["us-east-1", IN_PROGRESS_PACK] == "UPDATE_IN_PROGRESS"


def test_pack_tables_match_the_demo_estate(prometheus):
    """One row per pack with state, type, reason and runbook; failing packs on their own."""
    rows = labels(prometheus.query(target_expr("Conformance packs", "A")))
    assert len(rows) == DEMO_PACK_COUNT
    assert len({(r["account_id"], r["region"], r["conformance_pack"]) for r in rows}) == len(rows)
    by_pack = {r["conformance_pack"]: r for r in rows if r["region"] == "eu-west-1"}
    failed = by_pack[FAILED_PACK]
    assert failed["state"] == "DELETE_FAILED"
    assert failed["reason"].startswith(FAILED_REASON)
    assert failed["runbook"] == "conformancepackfailed"
    assert failed["type"] == "CUSTOM"
    for row in rows:
        assert row["type"] in ("CUSTOM", "MANAGED")
        assert ("runbook" in row) == row["state"].endswith("_FAILED"), row
    completed = prometheus.query(target_expr("Conformance packs", "C"))
    assert 0 < len(completed) <= DEMO_PACK_COUNT

    rows = labels(prometheus.query(target_expr("Failing packs", "A")))
    assert rows
    assert all(row["state"].endswith("_FAILED") for row in rows)
    [failed] = [row for row in rows if row["conformance_pack"] == FAILED_PACK]
    assert failed["reason"].startswith(FAILED_REASON)
    assert failed["runbook"] == "conformancepackfailed"
    requested = labels(prometheus.query(target_expr("Failing packs", "B")))
    assert {r["conformance_pack"] for r in requested} == {r["conformance_pack"] for r in rows}


def test_pack_queries_keep_every_pack_when_optional_series_are_absent(prometheus):
    """Status reasons can be disabled; the tables must not lose packs (nor on a missing info).

    Absence is simulated by renaming the optional metric in the query to one never exported.
    """
    for absent in (REASON_METRIC, INFO_METRIC):
        expr = target_expr("Conformance packs", "A")
        missing = re.sub(rf"\b{absent}\b", f"{absent}_absent", expr)
        assert missing != expr
        rows = labels(prometheus.query(missing))
        assert len(rows) == DEMO_PACK_COUNT, absent
        dropped = "reason" if absent == REASON_METRIC else "type"
        assert not [row for row in rows if dropped in row]
    failing = target_expr("Failing packs", "A")
    missing = re.sub(rf"\b{REASON_METRIC}\b", f"{REASON_METRIC}_absent", failing)
    rows = labels(prometheus.query(missing))
    assert FAILED_PACK in {row["conformance_pack"] for row in rows}


def test_table_columns_are_all_named(prometheus):
    """Every label and value column a table query returns is placed, renamed or hidden."""
    for panel in {id(p): p for p, _ in TARGETS if p["type"] == "table"}.values():
        organize = panel["transformations"][-1]["options"]
        known = set(organize["indexByName"]) | set(organize["excludeByName"])
        for target in panel["targets"]:
            for row in labels(prometheus.query(render(target["expr"], values_for("all")))):
                columns = set(row) | {f"Value #{target['refId']}"}
                assert columns <= known, (panel["title"], columns - known)
        assert set(organize["renameByName"]) <= known
