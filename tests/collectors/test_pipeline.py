"""exporter/collectors/pipeline.py and pipeline_samples.py with botocore's Stubber (which checks
every request and answer against the model): recorder pages, service-linked recorders by ARN, a
region without recorders, every evaluation, unknown values, rule chunks, denied calls, the
interval, the rule names shared with the compliance collector, and each rule_series mode.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from exporter.aws.accounts import Account
from exporter.aws.targets import Target
from exporter.collectors.compliance import ComplianceCollector
from exporter.collectors.pipeline import PipelineCollector, fetch_pipeline
from exporter.collectors.pipeline_samples import (
    Pipeline,
    PipelineValues,
    evaluation_of,
    pipeline_samples,
)
from exporter.config import ComplianceConfig, Config, PipelineConfig
from exporter.deadline import Deadline
from exporter.metrics import (
    COMPLIANCE,
    DELIVERY_STATUS,
    DELIVERY_SUCCESS,
    PIPELINE_HELP,
    RECORDER_INFO,
    RECORDER_RECORDING,
    RECORDER_STATUS,
    RECORDER_STATUS_CHANGE,
    RULE_EVALUATION_FAILING,
    RULE_EVALUATION_FAMILIES,
    RULE_EVALUATION_SUCCESS,
    RULES_EVALUATION,
    SCRAPE_SUCCESS,
    STATE,
)
from exporter.pack_rules import PackRules
from tests.collectors.test_compliance import (
    rule as compliance_rule,
)
from tests.collectors.test_compliance import (
    stub_listed,
    stub_rules,
    stub_scores,
    stub_summary,
)
from tests.collectors.test_status import stub_pages
from tests.conftest import (
    ACCOUNT,
    make_account,
    make_scraper,
    pack_status,
    scrape_samples,
    wait_for,
)

REGION = "us-east-1"
LIST = "list_configuration_recorders"
STATUS = "describe_configuration_recorder_status"
DELIVERY = "describe_delivery_channel_status"
EVALUATION = "describe_config_rule_evaluation_status"
T0 = 1_700_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, timezone.utc)


@pytest.fixture
def account() -> Account:
    account = make_account((REGION,))
    account.account_id = ACCOUNT
    return account


@pytest.fixture
def stub(account: Account) -> Iterator[Stubber]:
    with Stubber(account.clients[REGION]) as stubber:
        yield stubber


@pytest.fixture
def values(account: Account) -> PipelineValues:
    return PipelineValues.of(account.clients[REGION].meta.service_model)


def arn(name: str) -> str:
    return f"arn:aws:config:{REGION}:{ACCOUNT}:configuration-recorder/{name}/abc"


def summary(name: str, principal: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "arn": arn(name),
        "name": name,
        "recordingScope": "INTERNAL" if principal else "PAID",
    }
    if principal:
        found["servicePrincipal"] = principal
    return found


def recorder_status(name: str, recording: bool = True, last: str = "Success") -> dict[str, Any]:
    return {
        "arn": arn(name),
        "name": name,
        "recording": recording,
        "lastStatus": last,
        "lastStatusChangeTime": at(5),
        "lastErrorMessage": "never a label",
    }


def stub_recorders(stub: Stubber, summaries: list[dict[str, Any]]) -> int:
    """The listing's pages (20 a page) and one status call per recorder, by ARN; the calls."""
    pages = [summaries[i : i + 20] for i in range(0, len(summaries), 20)] or [[]]
    for index, page in enumerate(pages):
        expected: dict[str, Any] = {"MaxResults": 20}
        response: dict[str, Any] = {"ConfigurationRecorderSummaries": page}
        if index:
            expected["NextToken"] = f"recorders-{index}"
        if index + 1 < len(pages):
            response["NextToken"] = f"recorders-{index + 1}"
        stub.add_response(LIST, response, expected)
    for found in summaries:
        stub.add_response(
            STATUS,
            {"ConfigurationRecordersStatus": [recorder_status(found["name"])]},
            {"Arn": found["arn"]},
        )
    return len(pages) + len(summaries)


def channel(name: str = "default", history: str = "Success") -> dict[str, Any]:
    return {
        "name": name,
        "configHistoryDeliveryInfo": {
            "lastStatus": history,
            "lastAttemptTime": at(60),
            "lastSuccessfulTime": at(30),
        },
        "configSnapshotDeliveryInfo": {"lastStatus": "Success", "lastAttemptTime": at(60)},
        "configStreamDeliveryInfo": {"lastStatus": "Not_Applicable"},
    }


def stub_delivery(stub: Stubber, channels: list[dict[str, Any]]) -> None:
    stub.add_response(DELIVERY, {"DeliveryChannelsStatus": channels}, {})


def evaluation(name: str, state: str = "ok") -> dict[str, Any]:
    """A ConfigRuleEvaluationStatus: ok, failing_evaluation, failing_invocation, never_succeeded
    or not_started."""
    status: dict[str, Any] = {"ConfigRuleName": name, "FirstEvaluationStarted": True}
    if state == "ok":
        status |= {"LastSuccessfulInvocationTime": at(10), "LastSuccessfulEvaluationTime": at(10)}
        status |= {"LastFailedEvaluationTime": at(1)}  # an older failure, since recovered
    elif state == "failing_evaluation":
        status |= {"LastSuccessfulInvocationTime": at(20), "LastSuccessfulEvaluationTime": at(10)}
        status |= {"LastFailedEvaluationTime": at(20), "LastErrorMessage": "never a label"}
    elif state == "failing_invocation":
        status |= {"LastSuccessfulInvocationTime": at(10), "LastSuccessfulEvaluationTime": at(10)}
        status |= {"LastFailedInvocationTime": at(20), "LastErrorCode": "AccessDenied"}
    elif state == "never_succeeded":
        status |= {"LastFailedInvocationTime": at(20)}
    else:
        status["FirstEvaluationStarted"] = False
    return status


def stub_evaluations(stub: Stubber, statuses: list[dict[str, Any]]) -> int:
    """One call per 25 names, in name order, at the model's Limit; the calls."""
    ordered = sorted(statuses, key=lambda status: status["ConfigRuleName"])
    for start in range(0, len(ordered), 25):
        chunk = ordered[start : start + 25]
        stub.add_response(
            EVALUATION,
            {"ConfigRulesEvaluationStatus": chunk},
            {"ConfigRuleNames": [status["ConfigRuleName"] for status in chunk], "Limit": 50},
        )
    return math.ceil(len(ordered) / 25)


def fetch(account: Account, rules: dict[str, list[str]] | None) -> Pipeline:
    return fetch_pipeline(account.clients[REGION], rules, (), Deadline.after(10))


def by(samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[key] for key in keys): s.value for s in samples.get(name, [])}


def test_every_recorder_is_listed_page_by_page_and_asked_about_by_arn(
    account, stub, values
) -> None:
    summaries = [summary(f"recorder-{index:02d}") for index in range(24)]
    summaries.append(summary("AWSConfigurationRecorderForSecurityHub", "securityhub.amazonaws.com"))
    calls = stub_recorders(stub, summaries)
    stub_delivery(stub, [])

    found = fetch(account, {})
    samples = pipeline_samples(ACCOUNT, REGION, found, values)

    stub.assert_no_pending_responses()
    assert calls == 2 + 25
    assert len(samples[RECORDER_RECORDING]) == 25
    info = {s.labels["recorder"]: s.labels for s in samples[RECORDER_INFO]}
    linked = info["AWSConfigurationRecorderForSecurityHub"]
    assert (linked["service_principal"], linked["recording_scope"]) == (
        "securityhub.amazonaws.com",
        "INTERNAL",
    )
    assert linked["arn"] == arn("AWSConfigurationRecorderForSecurityHub")
    assert (info["recorder-00"]["service_principal"], info["recorder-00"]["recording_scope"]) == (
        "",
        "PAID",
    )
    assert by(samples, RECORDER_STATUS_CHANGE, "recorder")[("recorder-03",)] == T0 + 5


def test_a_region_without_recorders_serves_no_recorder_series(account, stub, values) -> None:
    stub_recorders(stub, [])
    stub_delivery(stub, [])

    samples = pipeline_samples(ACCOUNT, REGION, fetch(account, {}), values)

    stub.assert_no_pending_responses()
    for name in (RECORDER_RECORDING, RECORDER_STATUS, RECORDER_STATUS_CHANGE, RECORDER_INFO):
        assert samples.get(name, []) == []


def test_a_recorder_deleted_after_the_listing_keeps_only_its_info(account, stub, values) -> None:
    stub.add_response(
        LIST, {"ConfigurationRecorderSummaries": [summary("gone")]}, {"MaxResults": 20}
    )
    stub.add_client_error(
        STATUS, "NoSuchConfigurationRecorderException", expected_params={"Arn": arn("gone")}
    )
    stub_delivery(stub, [])

    samples = pipeline_samples(ACCOUNT, REGION, fetch(account, {}), values)

    assert [s.labels["recorder"] for s in samples[RECORDER_INFO]] == ["gone"]
    assert samples.get(RECORDER_RECORDING, []) == []


def test_statuses_are_state_sets_over_the_model_and_unknown_ones_pass_through(values) -> None:
    found = Pipeline(
        recorders=[summary("default"), summary("moto")],
        recorder_statuses={
            arn("default"): recorder_status("default", recording=False, last="Failure"),
            arn("moto"): recorder_status("moto", last="PENDING"),  # moto's spelling
        },
        channels=[channel(history="Paused")],
    )

    samples = pipeline_samples(ACCOUNT, REGION, found, values)

    assert values.recorder_statuses == ("Pending", "Success", "Failure", "NotApplicable")
    recorders = by(samples, RECORDER_STATUS, "recorder", "status")
    assert {k: v for k, v in recorders.items() if k[0] == "default"} == {
        ("default", status): float(status == "Failure") for status in values.recorder_statuses
    }
    assert recorders[("moto", "PENDING")] == 1.0
    assert sum(v for k, v in recorders.items() if k[0] == "moto") == 1.0
    assert by(samples, RECORDER_RECORDING, "recorder") == {("default",): 0.0, ("moto",): 1.0}
    deliveries = by(samples, DELIVERY_STATUS, "delivery", "status")
    assert deliveries[("config_history", "Paused")] == 1.0
    assert deliveries[("config_snapshot", "Success")] == 1.0
    assert deliveries[("config_stream", "Not_Applicable")] == 1.0
    assert len(deliveries) == 3 * len(values.delivery_statuses) + 1
    assert by(samples, DELIVERY_SUCCESS, "delivery") == {("config_history",): T0 + 30}
    every_label = [str(s.labels) for found in samples.values() for s in found]
    assert not any("never a label" in labels for labels in every_label)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("ok", "ok"),
        ("failing_evaluation", "failing"),
        ("failing_invocation", "failing"),
        ("never_succeeded", "failing"),
        ("not_started", "not_started"),
    ],
)
def test_each_evaluation(state: str, expected: str) -> None:
    assert evaluation_of(evaluation("r", state)) == expected


def test_every_evaluation_value_is_counted_zero_included(values) -> None:
    states = ("ok", "failing_evaluation", "failing_invocation", "not_started")
    found = Pipeline(
        pack_rules={"mixed": [f"r-{s}" for s in states] + ["r-deleted"], "clean": ["r-ok"]},
        evaluations={f"r-{s}": evaluation(f"r-{s}", s) for s in states},
    )

    samples = pipeline_samples(ACCOUNT, REGION, found, values)

    assert by(samples, RULES_EVALUATION, "conformance_pack", "evaluation") == {
        ("mixed", "ok"): 1,
        ("mixed", "failing"): 2,
        ("mixed", "not_started"): 1,
        ("clean", "ok"): 1,
        ("clean", "failing"): 0,
        ("clean", "not_started"): 0,
    }
    failing = by(samples, RULE_EVALUATION_FAILING, "conformance_pack", "config_rule")
    assert failing == {
        ("clean", "r-ok"): 0.0,
        ("mixed", "r-failing_evaluation"): 1.0,
        ("mixed", "r-failing_invocation"): 1.0,
        ("mixed", "r-not_started"): 0.0,
        ("mixed", "r-ok"): 0.0,
    }
    successes = by(samples, RULE_EVALUATION_SUCCESS, "conformance_pack", "config_rule")
    assert ("mixed", "r-not_started") not in successes  # absent until a first success
    assert successes[("mixed", "r-ok")] == T0 + 10


def test_more_than_25_rules_are_asked_25_at_a_time(account, stub, values) -> None:
    rules = {f"pack-{p}": [f"pack-{p}-rule-{r:02d}" for r in range(20)] for p in range(3)}
    stub_recorders(stub, [])
    stub_delivery(stub, [])
    calls = stub_evaluations(stub, [evaluation(name) for names in rules.values() for name in names])

    samples = pipeline_samples(ACCOUNT, REGION, fetch(account, rules), values)

    stub.assert_no_pending_responses()
    assert calls == 3  # 60 rules
    counts = by(samples, RULES_EVALUATION, "conformance_pack", "evaluation")
    assert {pack: counts[(pack, "ok")] for pack in rules} == dict.fromkeys(rules, 20)


def test_a_rule_deleted_since_listed_is_skipped_alone(account, stub) -> None:
    stub_recorders(stub, [])
    stub_delivery(stub, [])
    stub.add_client_error(
        EVALUATION,
        "NoSuchConfigRuleException",
        expected_params={"ConfigRuleNames": ["gone", "kept"], "Limit": 50},
    )
    stub.add_client_error(
        EVALUATION,
        "NoSuchConfigRuleException",
        expected_params={"ConfigRuleNames": ["gone"], "Limit": 50},
    )
    stub_evaluations(stub, [evaluation("kept")])

    found = fetch(account, {"p": ["gone", "kept"]})

    stub.assert_no_pending_responses()
    assert set(found.evaluations) == {"kept"}


def test_without_a_compliance_read_the_packs_rules_are_listed(account, stub) -> None:
    stub_recorders(stub, [])
    stub_delivery(stub, [])
    stub_listed(stub, ["a", "b"])
    stub_rules(stub, "a", [compliance_rule("a-1"), compliance_rule("a-2")])
    stub_rules(stub, "b", [compliance_rule("b-1")])
    stub_evaluations(stub, [evaluation(name) for name in ("a-1", "a-2", "b-1")])

    found = fetch(account, None)

    stub.assert_no_pending_responses()
    assert found.pack_rules == {"a": ["a-1", "a-2"], "b": ["b-1"]}


def test_the_compliance_read_records_the_rules_the_pipeline_then_uses(account, stub) -> None:
    model = account.clients[REGION].meta.service_model
    pack_rules = PackRules()
    config = Config(compliance=ComplianceConfig(interval_seconds=0))
    compliance = ComplianceCollector(config, model, pack_rules)
    pipeline = PipelineCollector(config, model, pack_rules)
    target = Target(account, REGION)
    stub_listed(stub, ["a"])
    stub_scores(stub, ["a"])
    stub_summary(stub, {"a": "COMPLIANT"})
    stub_rules(stub, "a", [compliance_rule("a-1")])
    stub_recorders(stub, [])
    stub_delivery(stub, [])
    stub_evaluations(stub, [evaluation("a-1", "not_started")])  # no pack listing before it

    compliance.read(target, Deadline.after(10))
    samples = pipeline.read(target, Deadline.after(10))

    stub.assert_no_pending_responses()
    assert pack_rules.of(target) == {"a": ("a-1",)}
    assert by(samples, RULES_EVALUATION, "conformance_pack", "evaluation")[("a", "not_started")]


# The rules' evaluations; per mode, the failing series and the last-success times served.
EVALUATIONS = {"a-ok": "ok", "a-eval": "failing_evaluation", "a-never": "never_succeeded"}
EVALUATIONS["a-new"] = "not_started"
RULE_SERIES = {
    "all": (
        {"a-ok": 0.0, "a-eval": 1.0, "a-never": 1.0, "a-new": 0.0},
        {"a-ok": T0 + 10, "a-eval": T0 + 10},
    ),
    "noncompliant": ({"a-eval": 1.0, "a-never": 1.0}, {"a-eval": T0 + 10}),
    "none": ({}, {}),
}


@pytest.mark.parametrize("mode", list(RULE_SERIES))
def test_the_rule_series_modes_keep_the_pack_counts(account, stub, mode) -> None:
    model = account.clients[REGION].meta.service_model
    # compliance.rule_series applies to the pipeline even with the compliance collector off.
    config = Config(compliance=ComplianceConfig(enabled=False, rule_series=mode))
    collector = PipelineCollector(config, model, PackRules())
    stub_recorders(stub, [])
    stub_delivery(stub, [])
    stub_listed(stub, ["a"])
    stub_rules(stub, "a", [compliance_rule(name) for name in EVALUATIONS])
    stub_evaluations(stub, [evaluation(name, state) for name, state in EVALUATIONS.items()])

    samples = collector.read(Target(account, REGION), Deadline.after(10))

    stub.assert_no_pending_responses()
    failing, succeeded = RULE_SERIES[mode]
    assert by(samples, RULE_EVALUATION_FAILING, "config_rule") == {
        (rule,): value for rule, value in failing.items()
    }
    assert by(samples, RULE_EVALUATION_SUCCESS, "config_rule") == {
        (rule,): value for rule, value in succeeded.items()
    }
    off = set(RULE_EVALUATION_FAMILIES) if mode == "none" else set()
    assert set(collector.help_texts) == set(PIPELINE_HELP) - off
    assert not set(samples) & off
    counts = by(samples, RULES_EVALUATION, "evaluation")
    assert counts == {("ok",): 1, ("failing",): 2, ("not_started",): 1}


@pytest.mark.parametrize("denied", [LIST, STATUS, DELIVERY, EVALUATION])
def test_a_denied_call_fails_the_pipeline_read(account, stub, denied) -> None:
    answers = [
        (LIST, {"ConfigurationRecorderSummaries": [summary("default")]}),
        (STATUS, {"ConfigurationRecordersStatus": [recorder_status("default")]}),
        (DELIVERY, {"DeliveryChannelsStatus": [channel()]}),
        (EVALUATION, {"ConfigRulesEvaluationStatus": [evaluation("r")]}),
    ]
    for operation, answer in answers:
        if operation == denied:
            stub.add_client_error(operation, "AccessDeniedException", http_status_code=400)
            break
        stub.add_response(operation, answer)

    with pytest.raises(botocore.exceptions.ClientError, match="AccessDeniedException"):
        fetch(account, {"p": ["r"]})
    stub.assert_no_pending_responses()


def _served(scraper, name: str) -> bool:
    """Whether `name` served a read; the collectors share the Stubber's queue, so each reads
    alone, one after the other."""
    families = scraper.collect(Deadline.after(10), only={name})
    return any(family.name == SCRAPE_SUCCESS and family.samples for family in families)


def test_a_denied_pipeline_leaves_status_and_compliance_alone(account, stub) -> None:
    stub_pages(stub, [pack_status("p")])  # the status read
    stub_listed(stub, ["p"])  # the compliance read
    stub_scores(stub, ["p"])
    stub_summary(stub, {"p": "COMPLIANT"})
    stub_rules(stub, "p", [compliance_rule("r")])
    stub.add_client_error(LIST, "AccessDeniedException", http_status_code=400)
    scraper = make_scraper(
        [Target(account, REGION)],
        concurrency=1,
        min_interval_seconds=3600,
        compliance=ComplianceConfig(interval_seconds=3600),
        pipeline=PipelineConfig(interval_seconds=3600),
    )

    for name in ("status", "compliance", "pipeline"):
        wait_for(functools.partial(_served, scraper, name), 10, f"the {name} read", interval=0.01)
    samples = scrape_samples(scraper)
    scraper.close()

    stub.assert_no_pending_responses()
    success = {labels["collector"]: value for labels, value in samples[SCRAPE_SUCCESS]}
    assert success == {"status": 1.0, "compliance": 1.0, "pipeline": 0.0}
    assert {labels["conformance_pack"] for labels, _ in samples[STATE]} == {"p"}
    assert COMPLIANCE in samples
    assert RULES_EVALUATION not in samples


def test_no_pipeline_call_between_refreshes(account, stub) -> None:
    stub_pages(stub, [pack_status("p")])  # the status read
    stub_recorders(stub, [summary("default")])
    stub_delivery(stub, [channel()])
    stub_listed(stub, ["p"])  # no compliance read: the pipeline lists the rules itself
    stub_rules(stub, "p", [compliance_rule("r")])
    stub_evaluations(stub, [evaluation("r")])
    scraper = make_scraper(
        [Target(account, REGION)],
        concurrency=1,
        min_interval_seconds=3600,
        pipeline=PipelineConfig(interval_seconds=3600),
    )
    scraper.collect(Deadline.after(10), only={"status"})
    first = wait_for(
        lambda: (s := scrape_samples(scraper)).get(RULES_EVALUATION) and s, 10, "pipeline"
    )

    second = scrape_samples(scraper)  # Stubber fails any call it was not given
    scraper.close()

    stub.assert_no_pending_responses()
    for name in (RULES_EVALUATION, RECORDER_RECORDING, DELIVERY_STATUS):
        assert second[name] == first[name]
    success = {labels["collector"]: value for labels, value in second[SCRAPE_SUCCESS]}
    assert success == {"status": 1.0, "pipeline": 1.0}
