"""Checks of the shipped alert rules, their promtool unit tests, the runbook and example configs.

Also checks the rules deploy/generate_rules.py writes for another job name and runbook URL:
they pass promtool, the unit tests rewritten for that job pass on them, and nothing of the
default job or runbook host is left.

Runs promtool and amtool (Debian packages `prometheus` and `prometheus-alertmanager`, or the
binaries named by $PROMTOOL / $AMTOOL). A missing binary fails the test: these checks guard
the alerting contract and must never be skipped silently. No exporter is needed.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_tool

REPO = Path(__file__).resolve().parent.parent
RULES_FILE = REPO / "alerts" / "conformance-pack-exporter.rules.yml"
RULE_TESTS_DIR = REPO / "alerts" / "tests"
RUNBOOK = REPO / "docs" / "runbook.md"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
GENERATOR = REPO / "deploy" / "generate_rules.py"

JOB = "conformance-pack-exporter"
# How the shipped rules and their tests select the job (and how a site copy must not).
JOB_MATCHER = f'job="{JOB}"'
RUNBOOK_URL_PREFIX = (
    "https://github.com/conformance-pack-exporter/conformance-pack-exporter"
    "/blob/main/docs/runbook.md#"
)
SEVERITIES = ("critical", "warning")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
# Labels that identify what an alert is about; when an alert carries one, its summary or
# description must show it.
IDENTIFYING_LABELS = (
    "conformance_pack",
    "account_id",
    "region",
    "state",
    "reason",
    "outcome",
    "collector",
    "compliance",
    "recorder",
    "delivery_channel",
    "delivery",
    "evaluation",
    "aggregator",
    "source_type",
    "status",
)
# An alert rule's `for:` line, as a test rewrites it to shorten waits.
FOR_LINE = re.compile(r"^(?P<indent>\s+)for:\s*\S+\s*$", re.MULTILINE)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, failing with its path when it is unreadable."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        pytest.fail(f"cannot load {shown}: {error}")


def alert_rules() -> list[dict[str, Any]]:
    """Return every alerting rule of the shipped rule file, in file order."""
    groups = load_yaml(RULES_FILE)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def rule_test_files() -> list[Path]:
    """Return the promtool unit-test files under alerts/tests."""
    return sorted(RULE_TESTS_DIR.glob("*.yml"))


def alert_rule_tests() -> list[dict[str, Any]]:
    """Return every `alert_rule_test` case of every promtool test file."""
    cases: list[dict[str, Any]] = []
    for path in rule_test_files():
        for test in load_yaml(path)["tests"]:
            cases.extend(test.get("alert_rule_test") or [])
    return cases


def rewrite_for_durations(rules_text: str, duration: str) -> tuple[str, int]:
    """Set every `for:` of a rule file's text to `duration`; return the text and the count.

    Used to shorten waits in a temporary copy of the rules (end-to-end tests).
    """
    return FOR_LINE.subn(lambda match: f"{match['indent']}for: {duration}", rules_text)


def github_anchors(markdown: str) -> set[str]:
    """Return the anchors GitHub generates for the headings of a Markdown document."""
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


def find_tool(name: str, env_var: str) -> str:
    """Locate a Prometheus tool, failing (never skipping) when it is not installed."""
    path = os.environ.get(env_var) or shutil.which(name)
    if not path:
        pytest.fail(
            f"{name} not found: install it (Debian: apt-get install "
            f"{'prometheus' if name == 'promtool' else 'prometheus-alertmanager'}) "
            f"or set ${env_var} to its path"
        )
    return path


def promtool() -> str:
    """Path of promtool; called inside each test so that a missing binary is a FAILED test."""
    return find_tool("promtool", "PROMTOOL")


def amtool() -> str:
    """Path of amtool; called inside each test so that a missing binary is a FAILED test."""
    return find_tool("amtool", "AMTOOL")


ALERTS = alert_rules()
ALERT_IDS = [rule["alert"] for rule in ALERTS]


def test_promtool_check_rules():
    run_tool(promtool(), "check", "rules", RULES_FILE)


def test_rule_test_files_exist():
    assert rule_test_files(), f"no promtool test files in {RULE_TESTS_DIR.relative_to(REPO)}"


@pytest.mark.parametrize("test_file", rule_test_files(), ids=lambda path: path.name)
def test_promtool_test_rules(test_file):
    run_tool(promtool(), "test", "rules", test_file)


def test_promtool_check_prometheus_config():
    run_tool(promtool(), "check", "config", PROMETHEUS_CONFIG)


def test_prometheus_config_loads_the_shipped_rules():
    config = load_yaml(PROMETHEUS_CONFIG)
    rule_files = [(PROMETHEUS_CONFIG.parent / path).resolve() for path in config["rule_files"]]
    assert rule_files == [RULES_FILE]
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    assert job["static_configs"][0]["targets"] == ["localhost:9869"]
    assert job["metrics_path"] == "/metrics"
    assert job["scrape_timeout"] == "30s", "the rules and runbook assume a 30s scrape timeout"
    alertmanagers = config["alerting"]["alertmanagers"]
    assert alertmanagers[0]["static_configs"][0]["targets"] == ["localhost:9093"]


def test_amtool_check_alertmanager_config():
    run_tool(amtool(), "check-config", ALERTMANAGER_CONFIG)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_alertmanager_routes_by_severity(severity):
    run_tool(
        amtool(),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={severity}",
        f"severity={severity}",
        "alertname=ConformancePackFailed",
    )


def test_rule_file_has_alerts():
    assert ALERTS, f"no alerting rules in {RULES_FILE.relative_to(REPO)}"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_has_severity_and_annotations(rule):
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    for name in REQUIRED_ANNOTATIONS:
        assert str(annotations.get(name, "")).strip(), f"missing annotation {name}"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_runbook_url_points_at_a_runbook_heading(rule):
    url = rule["annotations"]["runbook_url"]
    assert url.startswith(RUNBOOK_URL_PREFIX)
    anchor = url.removeprefix(RUNBOOK_URL_PREFIX)
    assert anchor in github_anchors(RUNBOOK.read_text(encoding="utf-8")), (
        f"docs/runbook.md has no heading for #{anchor}"
    )


def test_each_alert_has_its_own_runbook_anchor():
    urls = Counter(rule["annotations"]["runbook_url"] for rule in ALERTS)
    assert [url for url, count in urls.items() if count > 1] == []


def test_alert_names_are_unique():
    assert [name for name, count in Counter(ALERT_IDS).items() if count > 1] == []


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_has_a_firing_test_case(rule):
    firing = [
        case
        for case in alert_rule_tests()
        if case["alertname"] == rule["alert"] and case.get("exp_alerts")
    ]
    assert firing, f"no promtool test case expects {rule['alert']} to fire"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_has_a_silent_test_case(rule):
    silent = [
        case
        for case in alert_rule_tests()
        if case["alertname"] == rule["alert"] and not case.get("exp_alerts")
    ]
    assert silent, f"no promtool test case expects {rule['alert']} to stay silent"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_annotations_name_what_the_alert_is_about(rule):
    """Every identifying label a firing test case shows must appear in the annotations."""
    text = rule["annotations"]["summary"] + rule["annotations"]["description"]
    labels = {
        label
        for case in alert_rule_tests()
        if case["alertname"] == rule["alert"]
        for expected in case.get("exp_alerts") or []
        for label in expected.get("exp_labels", {})
    }
    missing = [
        label
        for label in IDENTIFYING_LABELS
        if label in labels and not re.search(rf"\$labels\.{label}\b", text)
    ]
    assert missing == []


# An account a description shows, by its id: `account <id>`, from the alert's labels or a
# query's; each is followed by the account's name where aws_config_account_info has one.
ACCOUNT_MENTION = re.compile(
    r"account \{\{ (?:(?P<label>\$labels\.\w+|\.Labels\.account_id) \}\}"
    r"|with \$labels\.account_id \}\}\{\{ \. \}\})"
)
NAME_LOOKUP = (
    "{{{{ with printf `aws_config_account_info{{account_id=%q}}` {} | query }}}} "
    '({{{{ . | first | label "account_name" }}}}){{{{ end }}}}'
)
ACCOUNT_NAMED = re.compile(r"account \d{12} \([^)]")


def names_accounts(rule: dict[str, Any]) -> bool:
    return bool(ACCOUNT_MENTION.search(rule["annotations"]["description"]))


@pytest.mark.parametrize(
    "rule", [r for r in ALERTS if names_accounts(r)], ids=lambda rule: str(rule["alert"])
)
def test_descriptions_name_each_account_they_show(rule):
    """After each account id, its name where the info series exists: the lookup is an
    annotation's query, never a join in `expr`, so a name appearing changes no alert's labels.
    The promtool tests show the alert both ways."""
    description = rule["annotations"]["description"]
    for mention in ACCOUNT_MENTION.finditer(description):
        after = description[mention.end() :]
        assert after.startswith(NAME_LOOKUP.format(mention["label"] or ".")), mention[0]
    assert "aws_config_account_info" not in rule["expr"]
    shown = [
        bool(ACCOUNT_NAMED.search(expected["exp_annotations"]["description"]))
        for case in alert_rule_tests()
        if case["alertname"] == rule["alert"]
        for expected in case.get("exp_alerts") or []
    ]
    assert set(shown) == {True, False}, "a case with the account's name and one without"


def test_failed_alert_reports_the_status_reason():
    [rule] = [rule for rule in ALERTS if rule["alert"] == "ConformancePackFailed"]
    assert "aws_config_conformance_pack_status_reason_info" in rule["expr"]
    assert "$labels.reason" in rule["annotations"]["description"]


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_waits_with_an_explicit_for(rule):
    assert rule.get("for"), f"{rule['alert']} has no `for:`; tests shorten waits through it"


def test_for_durations_can_be_rewritten_in_a_copy(tmp_path):
    rules_text, count = rewrite_for_durations(RULES_FILE.read_text(encoding="utf-8"), "1s")
    assert count == len(ALERTS), "every alert needs exactly one `for:` line, and nothing else"
    copy = tmp_path / RULES_FILE.name
    copy.write_text(rules_text, encoding="utf-8")
    run_tool(promtool(), "check", "rules", copy)
    groups = load_yaml(copy)["groups"]
    rewritten = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert {rule["for"] for rule in rewritten} == {"1s"}


# ---------------------------------------------------------------------------------------
# A copy of the rules for another site: deploy/generate_rules.py --job --runbook-url


@dataclass(frozen=True)
class Site:
    """A job name and runbook page to generate rules for; the job's PromQL form written by hand."""

    job: str
    job_promql: str
    runbook_url: str


SITES = {
    # Quotes and a backslash (PromQL escapes), ': ' and ' #' (which end a plain YAML scalar),
    # an apostrophe (which ends a single-quoted one) and a non-ASCII letter.
    "awkward-job": Site(
        job='team "a" \\ aws: #1/it\'s-é',
        job_promql='"team \\"a\\" \\\\ aws: #1/it\'s-é"',
        runbook_url="https://wiki.example.com/display/OPS/AWS+Config+runbook?src=alerts&v=2",
    ),
    # The Prometheus Operator's PodMonitor job name: the default job inside a longer one.
    "operator-job": Site(
        job=f"monitoring/{JOB}",
        job_promql=f'"monitoring/{JOB}"',
        runbook_url="https://git.example.com/ops/cpe/-/blob/main/docs/runbook.md",
    ),
}
# The site whose copy runs the promtool unit tests (the slowest check, so only once).
UNIT_TEST_SITE = "awkward-job"


@pytest.fixture(scope="module")
def site_copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run the generator as a user does, once per site; the output directory of each."""
    directories = {}
    for name, site in SITES.items():
        directory = tmp_path_factory.mktemp(name) / "rules"
        run_tool(
            sys.executable,
            GENERATOR,
            "--job",
            site.job,
            "--runbook-url",
            site.runbook_url,
            "--out-dir",
            directory,
        )
        directories[name] = directory
    return directories


def site_texts(directory: Path) -> dict[str, str]:
    """The files the generator wrote, by name: the rule file and the PrometheusRule."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in directory.iterdir()}
    assert sorted(texts) == [RULES_FILE.name, "prometheusrule.yaml"]
    return texts


def strings(data: Any) -> Iterator[str]:
    """Every string value in parsed YAML."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)


def rules_of(path: Path) -> list[dict[str, Any]]:
    """Every rule (recording and alerting) of a rule file, in file order."""
    return [rule for group in load_yaml(path)["groups"] for rule in group["rules"]]


def promql_job_matchers(expr: str) -> list[str]:
    """Every matcher on the job label in a PromQL expression, as written."""
    return re.findall(r"""\bjob\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|`[^`]*`)""", expr)


@pytest.mark.parametrize("site_name", SITES)
def test_site_copy_passes_promtool_check_rules(site_copies, site_name):
    directory = site_copies[site_name]
    run_tool(promtool(), "check", "rules", directory / RULES_FILE.name)
    manifest = load_yaml(directory / "prometheusrule.yaml")
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"] == load_yaml(directory / RULES_FILE.name)


@pytest.mark.parametrize("site_name", SITES)
def test_site_copy_differs_only_in_job_matchers_and_runbook_urls(site_copies, site_name):
    site = SITES[site_name]
    expected = load_yaml(RULES_FILE)
    for group in expected["groups"]:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace(JOB_MATCHER, f"job={site.job_promql}")
            if "alert" in rule:
                url = rule["annotations"]["runbook_url"]
                rule["annotations"]["runbook_url"] = url.replace(
                    RUNBOOK_URL_PREFIX, f"{site.runbook_url}#"
                )
    assert load_yaml(site_copies[site_name] / RULES_FILE.name) == expected


@pytest.mark.parametrize("site_name", SITES)
def test_site_copy_keeps_no_default_job_or_runbook_host(site_copies, site_name):
    site = SITES[site_name]
    for name, text in site_texts(site_copies[site_name]).items():
        assert JOB_MATCHER not in text, name
        assert "github.com" not in text, name
    shipped = [
        matcher for rule in rules_of(RULES_FILE) for matcher in promql_job_matchers(rule["expr"])
    ]
    copied = [
        matcher
        for rule in rules_of(site_copies[site_name] / RULES_FILE.name)
        for matcher in promql_job_matchers(rule["expr"])
    ]
    assert shipped, "the shipped rules select on the job somewhere"
    assert copied == [f"job={site.job_promql}"] * len(shipped)


@pytest.mark.parametrize("site_name", SITES)
def test_site_copy_runbook_urls_start_with_the_base_and_keep_their_anchor(site_copies, site_name):
    site = SITES[site_name]
    anchors = {
        rule["alert"]: rule["annotations"]["runbook_url"].removeprefix(RUNBOOK_URL_PREFIX)
        for rule in ALERTS
    }
    urls = {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for rule in rules_of(site_copies[site_name] / RULES_FILE.name)
        if "alert" in rule
    }
    assert urls == {name: f"{site.runbook_url}#{anchor}" for name, anchor in anchors.items()}
    assert all(anchor and "#" not in anchor for anchor in anchors.values())


def retarget_rule_tests(document: dict[str, Any], rules_file: Path, site: Site) -> dict[str, Any]:
    """A promtool test file rewritten for a site copy: its series, expected labels and texts.

    The series and the expected samples select `job` as the shipped tests write it; the
    expected annotations show the job as "job <name>" and the runbook URL with its anchor.
    """

    def series(text: str) -> str:
        return text.replace(JOB_MATCHER, f"job={site.job_promql}")

    def annotation(text: str) -> str:
        return text.replace(RUNBOOK_URL_PREFIX, f"{site.runbook_url}#").replace(
            f"job {JOB}", f"job {site.job}"
        )

    retargeted = copy.deepcopy(document)
    retargeted["rule_files"] = [str(rules_file)]
    for test in retargeted["tests"]:
        for item in test.get("input_series") or []:
            item["series"] = series(item["series"])
        for case in test.get("promql_expr_test") or []:
            case["expr"] = series(case["expr"])
            for sample in case.get("exp_samples") or []:
                sample["labels"] = series(sample["labels"])
        for case in test.get("alert_rule_test") or []:
            for alert in case.get("exp_alerts") or []:
                labels = alert.get("exp_labels") or {}
                if labels.get("job") == JOB:
                    labels["job"] = site.job
                texts = alert.get("exp_annotations") or {}
                for name, text in texts.items():
                    texts[name] = annotation(text)
    return retargeted


@pytest.mark.parametrize("test_file", rule_test_files(), ids=lambda path: path.name)
def test_site_copy_passes_the_rule_unit_tests(site_copies, test_file, tmp_path):
    site = SITES[UNIT_TEST_SITE]
    rules_file = site_copies[UNIT_TEST_SITE] / RULES_FILE.name
    retargeted = retarget_rule_tests(load_yaml(test_file), rules_file, site)
    # Nothing may still expect the default job or runbook: the tests must exercise the copy.
    leftovers = [
        text
        for text in strings(retargeted["tests"])
        if text == JOB or JOB_MATCHER in text or f"job {JOB}" in text or "github.com" in text
    ]
    assert leftovers == []
    copy_file = tmp_path / test_file.name
    copy_file.write_text(
        yaml.safe_dump(retargeted, sort_keys=False, allow_unicode=True, width=1_000_000),
        encoding="utf-8",
    )
    run_tool(promtool(), "test", "rules", copy_file)
