"""The Config pipeline operations as boto3 sees them over HTTP: recorders (customer managed and
service-linked) and their status, delivery channels, rule evaluation status and aggregator
sources, with the model's page limits, filters, errors and every answer checked against the
model; recorder status cross-checked with moto's server mode."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    INSUFFICIENT_DATA,
    ComplianceChange,
    Delivery,
    RecorderChange,
    Scenario,
    SimulatedAggregator,
    SimulatedDeliveryChannel,
    SimulatedPack,
    SimulatedRecorder,
    SimulatedRule,
    SourceStatus,
    pack_ids,
)
from tests.conftest import moto_recording_recorder
from tests.simulator.conftest import NOW, OTHER_ACCOUNT, FakeClock, error_code, make_client

REGION = "us-east-1"
TARGET = (DEFAULT_ACCOUNT, REGION)
PRINCIPAL = "config-conforms.amazonaws.com"
MODEL = botocore.session.get_session().get_service_model("config")


def model_max(shape: str) -> int:
    return int(MODEL.shape_for(shape).metadata["max"])


def at(value: datetime.datetime) -> float:
    return value.timestamp()


def service_linked(index: int) -> SimulatedRecorder:
    return SimulatedRecorder(
        f"linked-{index:02d}", service_principal=f"svc{index:02d}.amazonaws.com"
    )


def test_list_recorders_pages_by_the_models_max_results_and_filters_scope(session, serve):
    page_size = model_max("MaxResults")
    recorders = [SimulatedRecorder("default"), *map(service_linked, range(2 * page_size + 4))]
    simulator = serve(Scenario(packs={}, recorders={TARGET: recorders}))
    client = make_client(session, simulator)

    pages = list(client.get_paginator("list_configuration_recorders").paginate())
    summaries = [summary for page in pages for summary in page["ConfigurationRecorderSummaries"]]
    paid = client.list_configuration_recorders(
        Filters=[{"filterName": "recordingScope", "filterValue": ["PAID"]}]
    )["ConfigurationRecorderSummaries"]

    assert [len(page["ConfigurationRecorderSummaries"]) for page in pages] == [
        page_size,
        page_size,
        len(recorders) - 2 * page_size,
    ]
    assert sorted(summary["name"] for summary in summaries) == sorted(r.name for r in recorders)
    by_name = {summary["name"]: summary for summary in summaries}
    assert "servicePrincipal" not in by_name["default"]
    assert by_name["default"]["recordingScope"] == "PAID"
    assert by_name["linked-03"]["servicePrincipal"] == "svc03.amazonaws.com"
    assert by_name["linked-03"]["recordingScope"] == "INTERNAL"
    assert by_name["default"]["arn"].startswith(
        f"arn:aws:config:{REGION}:{DEFAULT_ACCOUNT}:configuration-recorder/default/"
    )
    assert len({summary["arn"] for summary in summaries}) == len(recorders)
    assert [summary["name"] for summary in paid] == ["default"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MaxResults": model_max("MaxResults") + 1}, "ValidationException"),
        ({"NextToken": "forged"}, "InvalidNextTokenException"),
    ],
)
def test_list_recorders_refuses_a_page_size_off_the_model_and_a_forged_token(
    session, serve, kwargs, code
):
    simulator = serve(Scenario(packs={}, recorders={TARGET: [SimulatedRecorder()]}))
    with pytest.raises(ClientError) as caught:
        make_client(session, simulator).list_configuration_recorders(**kwargs)
    assert error_code(caught) == code


def test_recorder_status_without_arguments_covers_only_the_customer_managed_recorder(
    session, serve
):
    linked = SimulatedRecorder(
        "AWSConfigurationRecorderForConfigConforms",
        service_principal=PRINCIPAL,
        started_at=NOW - 7200,
    )
    recorders = [SimulatedRecorder("default", started_at=NOW - 3600), linked]
    simulator = serve(Scenario(packs={}, recorders={TARGET: recorders}))
    client = make_client(session, simulator)
    arns = {
        summary["name"]: summary["arn"]
        for summary in client.list_configuration_recorders()["ConfigurationRecorderSummaries"]
    }

    unnamed = client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    by_arn = client.describe_configuration_recorder_status(Arn=arns[linked.name])
    by_principal = client.describe_configuration_recorder_status(ServicePrincipal=PRINCIPAL)
    by_name = client.describe_configuration_recorder_status(ConfigurationRecorderNames=["default"])

    assert [status["name"] for status in unnamed] == ["default"]
    assert unnamed[0]["arn"] == arns["default"]
    assert "servicePrincipal" not in unnamed[0]
    assert by_name["ConfigurationRecordersStatus"] == unnamed
    (linked_status,) = by_arn["ConfigurationRecordersStatus"]
    assert by_principal["ConfigurationRecordersStatus"] == [linked_status]
    assert linked_status["servicePrincipal"] == PRINCIPAL
    assert linked_status["recording"] is True
    assert linked_status["lastStatus"] == "Success"
    assert at(linked_status["lastStartTime"]) == pytest.approx(NOW - 7200)
    assert "lastStopTime" not in linked_status


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"ConfigurationRecorderNames": ["missing"]}, "NoSuchConfigurationRecorderException"),
        (
            {"Arn": "arn:aws:config:us-east-1:1:configuration-recorder/x/y"},
            "NoSuchConfigurationRecorderException",
        ),
        ({"ServicePrincipal": "elsewhere.amazonaws.com"}, "NoSuchConfigurationRecorderException"),
        ({"ConfigurationRecorderNames": ["default", "other"]}, "ValidationException"),
    ],
)
def test_recorder_status_refuses_unknown_recorders_and_more_than_one(session, serve, kwargs, code):
    simulator = serve(Scenario(packs={}, recorders={TARGET: [SimulatedRecorder()]}))
    with pytest.raises(ClientError) as caught:
        make_client(session, simulator).describe_configuration_recorder_status(**kwargs)
    assert error_code(caught) == code


def test_a_region_without_recorder_or_channel_reports_none(session, serve):
    simulator = serve(
        Scenario(packs={TARGET: [SimulatedPack("p", "CREATE_COMPLETE", requested_at=NOW)]})
    )
    client = make_client(session, simulator)

    assert client.list_configuration_recorders()["ConfigurationRecorderSummaries"] == []
    assert client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"] == []
    assert client.describe_delivery_channel_status()["DeliveryChannelsStatus"] == []


def test_a_recorder_stops_and_fails_on_its_timeline_and_tests_can_replace_it(session, serve):
    recorder = SimulatedRecorder(
        "default",
        started_at=NOW - 86400,
        timeline=(
            RecorderChange(60, recording=False),
            RecorderChange(90, last_status="Failure", error_code="AccessDenied", error_message="x"),
        ),
    )
    clock = FakeClock(NOW)
    simulator = serve(Scenario(packs={}, recorders={TARGET: [recorder]}), clock=clock)
    client = make_client(session, simulator)

    def status() -> dict[str, Any]:
        (found,) = client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
        return dict(found)

    clock.now = NOW + 59
    before = status()
    clock.now = NOW + 61
    stopped = status()
    clock.now = NOW + 91
    failed = status()
    simulator.set_recorders(*TARGET, [SimulatedRecorder("default", last_status="Pending")])
    replaced = status()

    assert (before["recording"], before["lastStatus"]) == (True, "Success")
    assert "lastStopTime" not in before
    assert (stopped["recording"], stopped["lastStatus"]) == (False, "Success")
    assert at(stopped["lastStopTime"]) == pytest.approx(NOW + 60)
    assert at(stopped["lastStartTime"]) == pytest.approx(NOW - 86400)
    assert (failed["lastStatus"], failed["lastErrorCode"]) == ("Failure", "AccessDenied")
    assert at(failed["lastStatusChangeTime"]) == pytest.approx(NOW + 90)
    assert "lastErrorCode" not in stopped
    assert replaced["lastStatus"] == "Pending"


def test_delivery_status_reports_each_delivery_and_refuses_unknown_channels(session, serve):
    channel = SimulatedDeliveryChannel(
        "default",
        history=Delivery(
            "Failure",
            attempted_at=NOW - 60,
            succeeded_at=NOW - 7200,
            error_code="AccessDenied",
            error_message="Access Denied",
        ),
        snapshot=Delivery("Failure", attempted_at=NOW - 120),
    )
    simulator = serve(Scenario(packs={}, delivery_channels={TARGET: [channel]}))
    client = make_client(session, simulator)

    (found,) = client.describe_delivery_channel_status()["DeliveryChannelsStatus"]
    named = client.describe_delivery_channel_status(DeliveryChannelNames=["default"])
    with pytest.raises(ClientError) as caught:
        client.describe_delivery_channel_status(DeliveryChannelNames=["missing"])

    history, snapshot = found["configHistoryDeliveryInfo"], found["configSnapshotDeliveryInfo"]
    assert found["name"] == "default"
    assert history["lastStatus"] == "Failure"
    assert (history["lastErrorCode"], history["lastErrorMessage"]) == (
        "AccessDenied",
        "Access Denied",
    )
    assert at(history["lastSuccessfulTime"]) == pytest.approx(NOW - 7200)
    assert at(history["lastAttemptTime"]) == pytest.approx(NOW - 60)
    assert "lastSuccessfulTime" not in snapshot
    assert found["configStreamDeliveryInfo"]["lastStatus"] == "Not_Applicable"
    assert "lastStatusChangeTime" in found["configStreamDeliveryInfo"]
    assert named["DeliveryChannelsStatus"] == [found]
    assert error_code(caught) == "NoSuchDeliveryChannelException"


def evaluation_pack(count: int, **fields: Any) -> SimulatedPack:
    rules = [SimulatedRule(f"rule-{index:03d}") for index in range(count)]
    rules[0] = SimulatedRule("rule-000", evaluation="failing_evaluation")
    rules[1] = SimulatedRule("rule-001", evaluation="failing_invocation")
    rules[2] = SimulatedRule("rule-002", INSUFFICIENT_DATA, evaluation="not_started")
    return SimulatedPack(
        "pack",
        "CREATE_COMPLETE",
        requested_at=NOW - 86400,
        completed_at=NOW - 86000,
        scored_at=NOW - 600,
        rules=tuple(rules),
        **fields,
    )


def served(rule: str) -> str:
    return pack_ids(DEFAULT_ACCOUNT, REGION, "pack").rule_name(rule)


def test_rule_evaluation_status_pages_by_the_models_limit_and_reports_each_state(session, serve):
    page_size = model_max("RuleLimit")
    simulator = serve(Scenario(packs={TARGET: [evaluation_pack(page_size + 10)]}))
    client = make_client(session, simulator)

    pages = list(client.get_paginator("describe_config_rule_evaluation_status").paginate())
    statuses = {
        status["ConfigRuleName"]: status
        for page in pages
        for status in page["ConfigRulesEvaluationStatus"]
    }

    assert [len(page["ConfigRulesEvaluationStatus"]) for page in pages] == [page_size, 10]
    assert set(statuses) == {served(f"rule-{index:03d}") for index in range(page_size + 10)}
    ok, evaluation, invocation, fresh = (
        statuses[served(f"rule-{index:03d}")] for index in (3, 0, 1, 2)
    )
    assert ok["FirstEvaluationStarted"] is True
    assert at(ok["LastSuccessfulEvaluationTime"]) == pytest.approx(NOW - 600)
    assert "LastErrorCode" not in ok
    assert at(evaluation["LastFailedEvaluationTime"]) > at(
        evaluation["LastSuccessfulEvaluationTime"]
    )
    assert evaluation["LastErrorCode"]
    assert at(invocation["LastFailedInvocationTime"]) > at(
        invocation["LastSuccessfulInvocationTime"]
    )
    assert fresh["FirstEvaluationStarted"] is False
    assert not {key for key in fresh if key.startswith("Last")}
    assert at(fresh["FirstActivatedTime"]) == pytest.approx(NOW - 86000)
    assert ok["ConfigRuleArn"].endswith(f":config-rule/{ok['ConfigRuleId']}")
    assert len({status["ConfigRuleId"] for status in statuses.values()}) == len(statuses)


def test_rule_evaluation_status_by_name_and_its_limits(session, serve):
    most = model_max("ConfigRuleNames")
    simulator = serve(Scenario(packs={TARGET: [evaluation_pack(most + 1)]}))
    client = make_client(session, simulator)
    names = [served(f"rule-{index:03d}") for index in range(most + 1)]

    named = client.describe_config_rule_evaluation_status(ConfigRuleNames=names[:most])
    errors = []
    for kwargs in (
        {"ConfigRuleNames": names},
        {"ConfigRuleNames": ["missing-rule"]},
        {"Limit": model_max("RuleLimit") + 1},
        {"NextToken": "forged"},
    ):
        with pytest.raises(ClientError) as caught:
            client.describe_config_rule_evaluation_status(**kwargs)
        errors.append(error_code(caught))

    assert sorted(s["ConfigRuleName"] for s in named["ConfigRulesEvaluationStatus"]) == sorted(
        names[:most]
    )
    assert "NextToken" not in named
    assert errors == [
        "ValidationException",
        "NoSuchConfigRuleException",
        "InvalidLimitException",
        "InvalidNextTokenException",
    ]


def test_a_rule_starts_failing_to_evaluate_on_the_packs_compliance_timeline(session, serve):
    change = ComplianceChange(
        120, None, (SimulatedRule("rule-003", evaluation="failing_evaluation"),)
    )
    clock = FakeClock(NOW)
    simulator = serve(
        Scenario(packs={TARGET: [evaluation_pack(5, compliance_timeline=(change,))]}), clock=clock
    )
    client = make_client(session, simulator)

    def status() -> dict[str, Any]:
        answer = client.describe_config_rule_evaluation_status(ConfigRuleNames=[served("rule-003")])
        return dict(answer["ConfigRulesEvaluationStatus"][0])

    before = status()
    clock.now = NOW + 121
    after = status()

    assert "LastFailedEvaluationTime" not in before
    assert at(after["LastFailedEvaluationTime"]) == pytest.approx(NOW + 120)
    assert at(after["LastFailedEvaluationTime"]) > at(after["LastSuccessfulEvaluationTime"])


def sources(count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{100000000000 + index}", REGION) for index in range(count))


def test_aggregator_sources_page_by_the_models_limit_and_filter_by_status(session, serve):
    page_size = model_max("Limit")
    every = sources(page_size + 30)
    failed = SourceStatus(
        "FAILED", updated_at=NOW - 900, error_code="AccessDenied", error_message="denied"
    )
    aggregator = SimulatedAggregator(
        "org",
        every,
        source_type="ORGANIZATION",
        statuses={every[5]: failed, every[7]: SourceStatus("OUTDATED")},
    )
    simulator = serve(Scenario(packs={}, aggregators={TARGET: [aggregator]}))
    client = make_client(session, simulator)
    paginator = client.get_paginator("describe_configuration_aggregator_sources_status")

    pages = list(paginator.paginate(ConfigurationAggregatorName="org"))
    rows = [row for page in pages for row in page["AggregatedSourceStatusList"]]
    unhealthy = client.describe_configuration_aggregator_sources_status(
        ConfigurationAggregatorName="org", UpdateStatus=["FAILED", "OUTDATED"]
    )["AggregatedSourceStatusList"]

    assert [len(page["AggregatedSourceStatusList"]) for page in pages] == [page_size, 30]
    assert [(row["SourceId"], row["AwsRegion"]) for row in rows] == list(every)
    assert {row["SourceType"] for row in rows} == {"ORGANIZATION"}
    assert [(row["SourceId"], row["LastUpdateStatus"]) for row in unhealthy] == [
        (every[5][0], "FAILED"),
        (every[7][0], "OUTDATED"),
    ]
    assert (unhealthy[0]["LastErrorCode"], unhealthy[0]["LastErrorMessage"]) == (
        "AccessDenied",
        "denied",
    )
    assert at(unhealthy[0]["LastUpdateTime"]) == pytest.approx(NOW - 900)
    assert sum(row["LastUpdateStatus"] == "SUCCEEDED" for row in rows) == len(every) - 2


def test_aggregator_sources_errors_and_a_status_set_while_serving(session, serve):
    simulator = serve(
        Scenario(packs={}, aggregators={TARGET: [SimulatedAggregator("org", sources(3))]})
    )
    client = make_client(session, simulator)
    errors = []
    for kwargs in (
        {"ConfigurationAggregatorName": "missing"},
        {"ConfigurationAggregatorName": "org", "Limit": model_max("Limit") + 1},
        {"ConfigurationAggregatorName": "org", "NextToken": "forged"},
    ):
        with pytest.raises(ClientError) as caught:
            client.describe_configuration_aggregator_sources_status(**kwargs)
        errors.append(error_code(caught))
    simulator.set_aggregators(
        *TARGET,
        [SimulatedAggregator("org", sources(3), statuses={sources(3)[1]: SourceStatus("FAILED")})],
    )
    rows = client.describe_configuration_aggregator_sources_status(
        ConfigurationAggregatorName="org"
    )["AggregatedSourceStatusList"]

    assert errors == [
        "NoSuchConfigurationAggregatorException",
        "InvalidLimitException",
        "InvalidNextTokenException",
    ]
    assert [row["LastUpdateStatus"] for row in rows] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert {row["SourceType"] for row in rows} == {"ACCOUNT"}


def test_pipeline_reads_are_scoped_to_the_callers_account_and_region(session, serve):
    simulator = serve(
        Scenario(
            packs={},
            recorders={(OTHER_ACCOUNT, REGION): [SimulatedRecorder()]},
            delivery_channels={(DEFAULT_ACCOUNT, "eu-west-1"): [SimulatedDeliveryChannel()]},
        )
    )
    client = make_client(session, simulator)

    assert client.list_configuration_recorders()["ConfigurationRecorderSummaries"] == []
    assert client.describe_delivery_channel_status()["DeliveryChannelsStatus"] == []


def test_recorder_status_has_the_shape_moto_gives_for_the_same_recorder(session, serve, moto_url):
    moto = moto_recording_recorder(moto_url, DEFAULT_ACCOUNT)
    simulator = serve(Scenario(packs={}, recorders={TARGET: [SimulatedRecorder("default")]}))
    ours = make_client(session, simulator)

    answers = [
        client.describe_configuration_recorder_status(ConfigurationRecorderNames=["default"])[
            "ConfigurationRecordersStatus"
        ]
        for client in (moto, ours)
    ]
    unnamed = [
        client.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
        for client in (moto, ours)
    ]
    codes = []
    for client in (moto, ours):
        with pytest.raises(ClientError) as caught:
            client.describe_configuration_recorder_status(ConfigurationRecorderNames=["missing"])
        codes.append(error_code(caught))

    (theirs,), (mine,) = answers
    assert set(theirs) <= set(mine)
    assert {key: type(value) for key, value in theirs.items()} == {
        key: type(mine[key]) for key in theirs
    }
    assert (theirs["name"], theirs["recording"]) == (mine["name"], mine["recording"])
    assert [len(found) for found in unnamed] == [1, 1]
    assert codes == ["NoSuchConfigurationRecorderException"] * 2
