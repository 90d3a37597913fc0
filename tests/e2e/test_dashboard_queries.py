"""Every PromQL expression of the Grafana dashboard, run against a real Prometheus that
scrapes the exporter reading the demo estate, with the variables substituted as Grafana would.

The exporter is started from a configuration file on a simulator serving the demo's estate
(the one `--demo` serves) given an aggregator, since the demo has none, so the aggregator
panels are proven too; its pipeline is read every PIPELINE_INTERVAL seconds, so the demo's
recorder that stops shows while the tests run. The demo account is named in the
configuration; the aggregator's other source account is read too, without a name (and
without packs), so the account names are proven both ways.

No Grafana is involved: what Grafana adds (variable interpolation, table merging) is
reproduced here from the dashboard JSON, and the PromQL is Prometheus' own answer.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from exporter.simulator import DEMO_REGIONS, ConfigSimulator, pack_ids
from exporter.simulator.demo import FAILING_EVALUATION_PACK, RECORDER_STOPS_AFTER
from tests.conftest import ACCOUNT, ExporterProcess, aws_env
from tests.e2e.conftest import JOB, PrometheusServer
from tests.test_dashboard import (
    ACCOUNT_INFO_JOIN,
    AGGREGATOR_SOURCES,
    DEMO_AGGREGATOR,
    ORGANIZATION_ERROR,
    OTHER_SOURCE_ACCOUNT,
    demo_with_aggregator,
    grafana_regex,
    label_values_as_promql,
    load_dashboard,
    panel_targets,
    parse_label_values,
    query_result_options,
    query_variables,
    render,
    variable_query,
)

pytestmark = pytest.mark.e2e

DASHBOARD = load_dashboard()
TARGETS = panel_targets(DASHBOARD)
WAIT_SECONDS = 60
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
# Queries without data in the one-each scenario only: it selects eu-west-1's failed pack,
# the demo's one rule failing to evaluate is in FAILING_EVALUATION_PACK, in us-east-1, and
# the failed pack has no remediation.
REMEDIATION_QUERIES = {
    ("Resources by remediation state", "A"),
    ("Rule remediations", "A"),
    ("Rule remediations", "B"),
    ("Rule remediations", "C"),
}
EMPTY_FOR_ONE_PACK = {
    ("Rules failing to evaluate", "A"),
    ("Rules failing to evaluate", "B"),
    *REMEDIATION_QUERIES,
}
# Organization packs are read in us-east-1 only (the first target), and member pack names
# (OrgConformsPack-…) are none of the packs a scenario picks.
MEMBER_QUERIES = {
    ("Member accounts by state", "A"),
    ("Failed organization pack members", "A"),
    ("Failed organization pack members", "B"),
}
ORGANIZATION_QUERIES = {
    ("Organization conformance packs", "A"),
    ("Organization conformance packs", "B"),
}
EMPTY_WHEN_PACKS_PICKED = {
    "one-each": EMPTY_FOR_ONE_PACK | MEMBER_QUERIES | ORGANIZATION_QUERIES,
    "several": MEMBER_QUERIES,
}
# Seconds between two pipeline reads: short enough to see the demo's recorder stop
# RECORDER_STOPS_AFTER seconds in, long enough not to read ~1,000 rules' evaluation a second.
PIPELINE_INTERVAL = 10
EXPORTER_CONFIG = f"""\
regions: [{", ".join(DEMO_REGIONS)}]
accounts:
  - {{name: demo}}
  - {{role_arn: "arn:aws:iam::{OTHER_SOURCE_ACCOUNT}:role/reader"}}
pipeline: {{interval_seconds: {PIPELINE_INTERVAL}}}
compliance: {{remediation: true}}
organization_conformance_packs: true
aggregators:
  - name: {DEMO_AGGREGATOR.name}
    region: {DEMO_AGGREGATOR.region}
"""
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
        "conformance_pack": f"({FAILED_PACK}|{IN_PROGRESS_PACK}|{FAILING_EVALUATION_PACK})",
    },
}


def values_for(scenario: str) -> dict[str, str]:
    """Every variable's value for a scenario; scrape_timeout keeps its default."""
    textbox = {v["name"]: str(v["query"]) for v in DASHBOARD["templating"]["list"]}
    return {"scrape_timeout": textbox["scrape_timeout"], **SCENARIOS[scenario]}


def target_expr(title: str, ref_id: str, scenario: str = "all") -> str:
    [expr] = [t["expr"] for p, t in TARGETS if p["title"] == title and t["refId"] == ref_id]
    return render(expr, values_for(scenario))


@pytest.fixture(scope="module")
def exporter_on_demo_estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The exporter, started from EXPORTER_CONFIG, reading the demo estate given an aggregator;
    yields its base URL. The estate's clock (the recorder that stops) starts here."""
    config = tmp_path_factory.mktemp("exporter") / "exporter.yml"
    config.write_text(EXPORTER_CONFIG)
    with ConfigSimulator(demo_with_aggregator(time.time())) as simulator:
        exporter = ExporterProcess(
            ["--web.listen-address=127.0.0.1:0", f"--config.file={config}"],
            aws_env(simulator.url),
        )
        try:
            exporter.wait_until_listening()
            yield exporter.url
        finally:
            exporter.stop()


@pytest.fixture
def prometheus(
    exporter_on_demo_estate: str, prometheus_factory: Callable[..., PrometheusServer]
) -> PrometheusServer:
    """Prometheus scraping the exporter, once every pack has been scraped."""
    server = prometheus_factory([exporter_on_demo_estate])
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
        where_empty = EMPTY_IN_DEMO | EMPTY_WHEN_PACKS_PICKED.get(scenario, set())
        expect_data = (panel["title"], target["refId"]) not in where_empty
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
    """Each variable lists the demo's values, given its parents' values (chained); the
    accounts by name where they have one, by id where not, each once, the id the value."""
    expected = {
        "job": {JOB},
        "region": set(DEMO_REGIONS),
    }
    for scenario in SCENARIOS:
        values = values_for(scenario)
        for variable in query_variables(DASHBOARD):
            query = render(variable_query(variable), values)
            if variable["name"] == "account_id":
                result = prometheus.query(label_values_as_promql(query))
                options = query_result_options(result, grafana_regex(variable["regex"]))
                assert sorted(options) == [
                    (OTHER_SOURCE_ACCOUNT, OTHER_SOURCE_ACCOUNT),
                    (ACCOUNT, "demo"),
                ], scenario
                continue
            selector, label = parse_label_values(query)
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


def by_labels(result: list[dict[str, Any]], *names: str) -> dict[tuple[str, ...], float]:
    """The value of each series of `result`, keyed by the given label values."""
    return {
        tuple(series["metric"].get(name, "") for name in names): value(series) for series in result
    }


def test_recorder_and_delivery_panels_match_the_demo_estate(prometheus):
    """Every recorder of the demo, customer managed or service-linked, with its status; every
    delivery of its channels with theirs; nothing counted as a problem but a stopped recorder."""
    scenario = demo_with_aggregator(time.time())
    recorders = [
        (region, recorder)
        for (_, region), found in scenario.recorders.items()
        for recorder in found
    ]
    owners = by_labels(
        prometheus.query(target_expr("Configuration recorders", "C")),
        "region",
        "recorder",
        "owner",
        "service_principal",
    )
    assert set(owners) == {
        (
            region,
            recorder.name,
            "service-linked" if recorder.service_linked else "customer managed",
            recorder.service_principal or "",
        )
        for region, recorder in recorders
    }
    statuses = labels(prometheus.query(target_expr("Configuration recorders", "B")))
    assert {(row["region"], row["recorder"], row["status"]) for row in statuses} == {
        (region, recorder.name, recorder.last_status) for region, recorder in recorders
    }
    changed = prometheus.query(target_expr("Configuration recorders", "D"))
    assert len(changed) == len(recorders)
    assert all(0 < value(series) <= time.time() * 1000 for series in changed)

    kinds = {"config_history": "history", "config_snapshot": "snapshot", "config_stream": "stream"}
    deliveries = {
        (region, channel.name, delivery, getattr(channel, kind).status)
        for (_, region), channels in scenario.delivery_channels.items()
        for channel in channels
        for delivery, kind in kinds.items()
    }
    rows = labels(prometheus.query(target_expr("Delivery channels", "A")))
    assert {(r["region"], r["delivery_channel"], r["delivery"], r["status"]) for r in rows} == (
        deliveries
    )
    # AWS reports a last successful time for history and snapshot deliveries only.
    succeeded = {
        (region, name, delivery)
        for region, name, delivery, _ in deliveries
        if delivery != "config_stream"
    }
    for ref_id in ("B", "C"):
        found = by_labels(
            prometheus.query(target_expr("Delivery channels", ref_id)),
            "region",
            "delivery_channel",
            "delivery",
        )
        assert set(found) == succeeded, ref_id
    ages = prometheus.query(target_expr("Delivery channels", "C"))
    assert all(value(series) >= 0 for series in ages)

    for ref_id in "BC":
        [problems] = prometheus.query(target_expr("Config pipeline problems", ref_id))
        assert value(problems) == 0, ref_id
    [failed_reads] = prometheus.query(target_expr("Failed pipeline reads", "A"))
    assert value(failed_reads) == 0


def test_rule_evaluation_panels_show_the_demo_rule_failing_to_evaluate(prometheus):
    """The demo's one rule failing to evaluate: counted for its pack only, listed with its
    last successful evaluation, and one of the rules the compliance read gives that pack."""
    failing = by_labels(
        prometheus.query(target_expr("Rule evaluation by pack", "A")), "region", "conformance_pack"
    )
    assert len(failing) == DEMO_PACK_COUNT
    assert {pack for pack, count in failing.items() if count > 0} == {
        (DEMO_REGIONS[0], FAILING_EVALUATION_PACK)
    }
    assert failing[DEMO_REGIONS[0], FAILING_EVALUATION_PACK] == 1
    not_started = prometheus.query(target_expr("Rule evaluation by pack", "B"))
    assert [value(series) for series in not_started] == [0] * DEMO_PACK_COUNT
    [packs] = prometheus.query(target_expr("Config pipeline problems", "D"))
    assert value(packs) == 1

    [rule] = labels(prometheus.query(target_expr("Rules failing to evaluate", "A")))
    assert (rule["region"], rule["conformance_pack"]) == (DEMO_REGIONS[0], FAILING_EVALUATION_PACK)
    pack_rules = prometheus.query(
        f"group by (config_rule) (aws_config_conformance_pack_rule_compliance{{"
        f'region="{DEMO_REGIONS[0]}", conformance_pack="{FAILING_EVALUATION_PACK}"}})'
    )
    assert rule["config_rule"] in {series["metric"]["config_rule"] for series in pack_rules}
    [last_success] = prometheus.query(target_expr("Rules failing to evaluate", "B"))
    assert last_success["metric"]["config_rule"] == rule["config_rule"]
    assert 0 < value(last_success) <= time.time() * 1000


def test_aggregator_panels_show_every_source_by_status(prometheus):
    """The aggregator given to the demo: each source with its status and last update, under
    the source's account and region, and the counts by status add up to them."""
    expected = {
        (account, region, source.status) for (account, region), source in AGGREGATOR_SOURCES.items()
    }
    rows = labels(prometheus.query(target_expr("Aggregator sources", "A")))
    assert {(r["account_id"], r["region"], r["status"]) for r in rows} == expected
    assert {(r["aggregator"], r["source_type"]) for r in rows} == {
        (DEMO_AGGREGATOR.name, "ACCOUNT")
    }
    updated = prometheus.query(target_expr("Aggregator sources", "B"))
    assert len(updated) == len(expected)
    counts = {
        ref_id: value(prometheus.query(target_expr("Aggregator sources by status", ref_id))[0])
        for ref_id in "ABCD"
    }
    statuses = [status for _, _, status in expected]
    assert counts == {
        "A": statuses.count("SUCCEEDED"),
        "B": statuses.count("FAILED"),
        "C": statuses.count("OUTDATED"),
        "D": 0,
    }
    # One account and region selected: only its source.
    [row] = labels(prometheus.query(target_expr("Aggregator sources", "A", "one-each")))
    assert (row["account_id"], row["region"]) == (ACCOUNT, SCENARIOS["one-each"]["region"])


def test_the_demo_recorder_that_stops_counts_as_not_recording(prometheus):
    """RECORDER_STOPS_AFTER seconds in, the demo's eu-west-1 recorder stops: its region, where
    packs are deployed, counts as not recording and its recorder shows stopped; us-east-1's
    recorders keep recording."""
    stopped_region, recording_region = DEMO_REGIONS[1], DEMO_REGIONS[0]
    prometheus.wait_until(
        f"({target_expr('Config pipeline problems', 'A')}) == 1",
        timeout=RECORDER_STOPS_AFTER + PIPELINE_INTERVAL + WAIT_SECONDS,
    )
    recording = by_labels(
        prometheus.query(target_expr("Configuration recorders", "A")), "region", "recorder"
    )
    assert {key for key, v in recording.items() if v == 0} == {(stopped_region, "default")}
    assert {region for (region, _), v in recording.items() if v == 1} == {recording_region}
    [one_region] = prometheus.query(target_expr("Config pipeline problems", "A", "one-each"))
    assert (SCENARIOS["one-each"]["region"], value(one_region)) == (stopped_region, 1)
    timeline = by_labels(
        prometheus.query(target_expr("Recording over time", "A")), "region", "recorder"
    )
    assert timeline == recording


def test_organization_panels_match_the_estate(prometheus):
    """Members by state, the failed member with its reason and runbook, each organization
    pack with its state, as the estate has them."""
    packs = demo_with_aggregator(time.time()).organization_packs[(ACCOUNT, DEMO_REGIONS[0])]
    members = [member for pack in packs for member in pack.members]
    by_state = by_labels(prometheus.query(target_expr("Member accounts by state", "A")), "state")
    failed = labels(prometheus.query(target_expr("Failed organization pack members", "A")))
    changed = prometheus.query(target_expr("Failed organization pack members", "B"))
    states = labels(prometheus.query(target_expr("Organization conformance packs", "A")))

    assert by_state == {
        (state,): float(sum(1 for member in members if member.status == state))
        for state in {member.status for member in members}
    }
    [member] = [member for member in members if member.status.endswith("_FAILED")]
    [row] = failed
    assert (row["member_account_id"], row["state"], row["error_code"]) == (
        member.account,
        member.status,
        member.error_code,
    )
    assert row["reason"] == member.error_message
    assert row["runbook"] == "organizationconformancepackmemberfailed"
    # In ms; the estate's clock started with the module's exporter, up to minutes before.
    [changed_ms] = [value(series) for series in changed]
    assert changed_ms == pytest.approx(member.updated_at * 1000, abs=300_000)
    assert {(row["organization_conformance_pack"], row["state"]) for row in states} == {
        (pack.name, pack.status) for pack in packs
    }
    assert {row.get("reason") for row in states if row["state"].endswith("_FAILED")} == {
        ORGANIZATION_ERROR[1]
    }


def test_remediation_panels_show_the_demo_remediations(prometheus):
    """Every remediation of the demo estate, by state and by rule, with its document and
    whether it is automatic; failures only in the one pack whose remediation fails."""
    estate = demo_with_aggregator(time.time()).packs
    remediated = [
        (region, pack.name, pack_ids(account, region, pack.name).rule_name(rule.name), rule)
        for (account, region), packs in estate.items()
        for pack in packs
        for rule in pack.rules
        if rule.remediation is not None
    ]
    by_state: dict[str, float] = {}
    for *_, rule in remediated:
        assert rule.remediation is not None
        for execution in rule.remediation.executions:
            by_state[execution.state] = by_state.get(execution.state, 0) + 1

    # Compliance is read in the background: wait until both regions' reads are served.
    expr = target_expr("Resources by remediation state", "A")
    prometheus.wait_until(f"sum({expr}) == {sum(by_state.values())}", timeout=WAIT_SECONDS)
    states = by_labels(prometheus.query(expr), "state")
    rules = labels(prometheus.query(target_expr("Rule remediations", "A")))
    failed = by_labels(
        prometheus.query(target_expr("Rule remediations", "B")), "region", "config_rule"
    )
    resources = by_labels(
        prometheus.query(target_expr("Rule remediations", "C")), "region", "config_rule"
    )

    assert {state: count for (state,), count in states.items() if count} == by_state
    assert states[("UNKNOWN",)] == 0
    assert {
        (r["region"], r["conformance_pack"], r["config_rule"], r["target_id"], r["automatic"])
        for r in rules
    } == {
        (region, pack, name, rule.remediation.target_id, str(rule.remediation.automatic).lower())
        for region, pack, name, rule in remediated
        if rule.remediation is not None
    }
    assert {key for key, count in failed.items() if count} == {
        (region, name)
        for region, _, name, rule in remediated
        if rule.remediation is not None
        and any(e.state == "FAILED" for e in rule.remediation.executions)
    }
    assert sum(failed.values()) == by_state["FAILED"]
    assert resources == {
        (region, name): float(len(rule.remediation.executions))
        for region, _, name, rule in remediated
        if rule.remediation is not None
    }


def tables_with_names() -> list[tuple[str, str]]:
    """(title, rows query) of every table whose rows are joined with the account names."""
    return [
        (panel["title"], target["expr"])
        for panel, target in TARGETS
        if ACCOUNT_INFO_JOIN in target["expr"]
    ]


def rows_of(result: list[dict[str, Any]]) -> list[tuple[tuple[str, str], ...]]:
    return sorted(tuple(sorted(series["metric"].items())) for series in result)


def test_tables_name_the_named_accounts_and_keep_every_row(prometheus):
    """Joined with the names, each table has exactly the rows of its query alone, each with
    the account's name where it has one: none lost, none doubled, also when two names are
    served for one account (two exporters naming it differently)."""
    info = 'aws_config_account_info{job=~"$job", account_id=~"$account_id"}'
    two_names = f'({info} or label_replace({info}, "account_name", "Another name", "", ""))'
    tables = tables_with_names()
    assert len(tables) == 12
    named_rows = 0
    for title, expr in tables:
        alone = expr.partition(ACCOUNT_INFO_JOIN)[2]
        for scenario in SCENARIOS:
            values = values_for(scenario)
            expected = rows_of(prometheus.query(render(alone, values)))
            for variant in (expr, expr.replace(info, two_names)):
                found = prometheus.query(render(variant, values))
                names = {s["metric"]["account_id"]: s["metric"].get("account_name") for s in found}
                unnamed = [
                    {k: v for k, v in s["metric"].items() if k != "account_name"} for s in found
                ]
                where = f"{title} ({scenario})"
                assert rows_of([{"metric": m} for m in unnamed]) == expected, where
                assert names.get(OTHER_SOURCE_ACCOUNT) is None, where
                if variant == expr and ACCOUNT in names:
                    assert names[ACCOUNT] == "demo", where
                    named_rows += 1
    assert named_rows > 0
    # The aggregator's source outside the demo account: read, unnamed, its row kept.
    [aggregator] = [expr for title, expr in tables if title == "Aggregator sources"]
    rows = labels(prometheus.query(render(aggregator, values_for("all"))))
    assert {(r["account_id"], r.get("account_name")) for r in rows} == {
        (ACCOUNT, "demo"),
        (OTHER_SOURCE_ACCOUNT, None),
    }
