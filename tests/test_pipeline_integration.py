"""The pipeline collector and the aggregator-source read as a user runs them: the exporter process
started from a config file against the simulator over real HTTP. Every family, a service-linked
recorder, a region without one, the fewest calls, a denied pipeline read that leaves status and
compliance alone, the per-rule series of each `compliance.rule_series` mode; and moto's
recorder status through the same parsing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from exporter.collectors.pipeline_samples import Pipeline, PipelineValues, pipeline_samples
from exporter.metrics import (
    DELIVERY_STATUS,
    DELIVERY_SUCCESS,
    PIPELINE_HELP,
    RECORDER_INFO,
    RECORDER_RECORDING,
    RECORDER_STATUS,
    RECORDER_STATUS_CHANGE,
    RULE_EVALUATION_FAILING,
    RULE_EVALUATION_SUCCESS,
    RULES_EVALUATION,
    SCRAPE_SUCCESS,
    SOURCE_HELP,
    SOURCE_STATUS,
    SOURCE_UPDATE,
    STATE,
)
from exporter.simulator import (
    ConfigSimulator,
    Delivery,
    Fault,
    Scenario,
    SimulatedAggregator,
    SimulatedDeliveryChannel,
    SimulatedPack,
    SimulatedRecorder,
    SimulatedRule,
    SourceStatus,
)
from tests.conftest import (
    ACCOUNT,
    ExporterProcess,
    aws_env,
    moto_recording_recorder,
    parse_exposition,
    wait_for,
)

pytestmark = pytest.mark.integration

NOW = time.time()
EAST, WEST = REGIONS = ("us-east-1", "eu-west-1")  # WEST has packs and no recorder
LINKED = "AWSConfigurationRecorderForSecurityHub"
# 29 + 1 rules a region: two DescribeConfigRuleEvaluationStatus calls of 25 names at most.
BROKEN_RULES = (
    *(SimulatedRule(f"ok-{index:02d}") for index in range(26)),
    SimulatedRule("bad-evaluation", evaluation="failing_evaluation"),
    SimulatedRule("bad-invocation", evaluation="failing_invocation"),
    SimulatedRule("new", "INSUFFICIENT_DATA", evaluation="not_started"),
)
RULE_COUNT = len(BROKEN_RULES) + 1
# 130 sources of one aggregator: two pages of 100; one outdated.
SOURCE_ACCOUNTS = tuple(f"{400000000000 + index}" for index in range(65))
SOURCES = tuple((account, region) for account in SOURCE_ACCOUNTS for region in REGIONS)
OUTDATED = (SOURCE_ACCOUNTS[3], WEST)


def pack(name: str, *rules: SimulatedRule) -> SimulatedPack:
    return SimulatedPack(
        name, "CREATE_COMPLETE", requested_at=NOW - 600, score=50.0, scored_at=NOW, rules=rules
    )


def scenario() -> Scenario:
    packs = [pack("broken", *BROKEN_RULES), pack("clean", SimulatedRule("fine"))]
    return Scenario(
        packs={(ACCOUNT, region): packs for region in REGIONS},
        recorders={
            (ACCOUNT, EAST): [
                SimulatedRecorder("default", started_at=NOW - 3600),
                SimulatedRecorder(
                    LINKED,
                    service_principal="securityhub.amazonaws.com",
                    recording=False,
                    last_status="Failure",
                ),
            ]
        },
        delivery_channels={
            (ACCOUNT, EAST): [
                SimulatedDeliveryChannel(
                    "default",
                    history=Delivery("Failure", succeeded_at=NOW - 7200),
                    snapshot=Delivery(attempted_at=NOW - 60),
                )
            ]
        },
        aggregators={
            (ACCOUNT, EAST): [
                SimulatedAggregator("org", SOURCES, statuses={OUTDATED: SourceStatus("OUTDATED")})
            ]
        },
    )


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    with ConfigSimulator(scenario()) as simulator:
        yield simulator


def start(
    simulator: ConfigSimulator, exporter_factory, tmp_path, extra: str = ""
) -> ExporterProcess:
    config = tmp_path / "config.yml"
    config.write_text(
        f"regions: [{', '.join(REGIONS)}]\n"
        "min_interval_seconds: 0\n"
        "pipeline: {interval_seconds: 300}\n"
        f"aggregators: [{{name: org, region: {EAST}}}]\n{extra}"
    )
    process: ExporterProcess = exporter_factory([f"--config.file={config}"], aws_env(simulator.url))
    return process


def success(samples) -> dict[tuple[str, str], float]:
    return {(lb["collector"], lb["region"]): v for lb, v in samples.get(SCRAPE_SUCCESS, [])}


def scrape_until_read(process: ExporterProcess, collectors: tuple[str, ...]) -> Any:
    """A scrape that serves a read of every region by each of `collectors`."""

    def served() -> Any:
        samples = parse_exposition(process.scrape())
        read = success(samples)
        wanted = [(c, r) for c in collectors for r in REGIONS if c != "aggregator"]
        return all(key in read for key in wanted) and ("aggregator", EAST) in read and samples

    return wait_for(served, 30, f"reads by {collectors}", interval=0.1)


def of(samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(lb[key] for key in keys): v for lb, v in samples.get(name, [])}


@pytest.mark.parametrize("compliance", ["true", "false"])
def test_every_family_with_the_fewest_calls(
    simulator, exporter_factory, tmp_path, compliance
) -> None:
    process = start(
        simulator, exporter_factory, tmp_path, f"compliance: {{enabled: {compliance}}}\n"
    )
    collectors = ("status", "pipeline", "aggregator") + (
        ("compliance",) if compliance == "true" else ()
    )

    samples = scrape_until_read(process, collectors)
    again = parse_exposition(process.scrape())  # within the interval: no pipeline call

    assert set(success(samples).values()) == {1.0}
    assert set(PIPELINE_HELP) | set(SOURCE_HELP) <= set(samples)
    # The service-linked recorder, asked about by ARN, and the customer managed one; WEST has none.
    recording = of(samples, RECORDER_RECORDING, "region", "recorder")
    assert recording == {(EAST, "default"): 1.0, (EAST, LINKED): 0.0}
    info = {lb["recorder"]: lb for lb, _ in samples[RECORDER_INFO]}
    assert (info[LINKED]["service_principal"], info[LINKED]["recording_scope"]) == (
        "securityhub.amazonaws.com",
        "INTERNAL",
    )
    assert info["default"]["service_principal"] == ""
    statuses = of(samples, RECORDER_STATUS, "recorder", "status")
    assert {k[1] for k, v in statuses.items() if v == 1 and k[0] == LINKED} == {"Failure"}
    assert {lb["region"] for lb, _ in samples[RECORDER_STATUS_CHANGE]} == {EAST}
    deliveries = of(samples, DELIVERY_STATUS, "region", "delivery", "status")
    assert {k[1:] for k, v in deliveries.items() if v == 1} == {
        ("config_history", "Failure"),
        ("config_snapshot", "Success"),
        ("config_stream", "Not_Applicable"),
    }
    successes = of(samples, DELIVERY_SUCCESS, "delivery")
    assert successes[("config_history",)] == pytest.approx(NOW - 7200, abs=0.01)
    evaluations = of(samples, RULES_EVALUATION, "region", "conformance_pack", "evaluation")
    for region in REGIONS:
        assert evaluations[(region, "broken", "ok")] == 26
        assert evaluations[(region, "broken", "failing")] == 2
        assert evaluations[(region, "broken", "not_started")] == 1
        assert evaluations[(region, "clean", "failing")] == 0
    failing = {lb["config_rule"] for lb, v in samples[RULE_EVALUATION_FAILING] if v == 1}
    assert {name.rsplit("-conformance-pack-", 1)[0] for name in failing} == {
        "bad-evaluation",
        "bad-invocation",
    }
    assert len(samples[RULE_EVALUATION_FAILING]) == 2 * RULE_COUNT
    assert len(samples[RULE_EVALUATION_SUCCESS]) == 2 * (RULE_COUNT - 1)  # not for "new"
    sources = of(samples, SOURCE_STATUS, "account_id", "region", "status")
    assert len(sources) == len(SOURCES) * 3
    assert {k[:2] for k, v in sources.items() if k[2] == "OUTDATED" and v == 1} == {OUTDATED}
    assert {lb["aggregator"] for lb, _ in samples[SOURCE_UPDATE]} == {"org"}
    assert len(samples[SOURCE_UPDATE]) == len(SOURCES)
    # The call counts, per region, of one read each.
    recorders = {EAST: 2, WEST: 0}
    for region in REGIONS:
        calls = {
            operation: simulator.calls(operation=operation, region=region)
            for operation in (
                "ListConfigurationRecorders",
                "DescribeConfigurationRecorderStatus",
                "DescribeDeliveryChannelStatus",
                "DescribeConfigRuleEvaluationStatus",
            )
        }
        assert calls == {
            "ListConfigurationRecorders": 1,
            "DescribeConfigurationRecorderStatus": recorders[region],
            "DescribeDeliveryChannelStatus": 1,
            "DescribeConfigRuleEvaluationStatus": math.ceil(RULE_COUNT / 25),
        }
        if compliance == "false":  # the pipeline lists each pack's rules itself
            assert simulator.calls("DescribeConformancePackCompliance", region) == 2
    sources_operation = "DescribeConfigurationAggregatorSourcesStatus"
    assert simulator.calls(sources_operation) == math.ceil(len(SOURCES) / 100)
    assert of(again, RULES_EVALUATION, "region", "conformance_pack", "evaluation") == evaluations


@pytest.mark.parametrize("mode", ["all", "noncompliant", "none"])
def test_the_per_rule_series_follow_compliance_rule_series(
    simulator, exporter_factory, tmp_path, mode
) -> None:
    process = start(simulator, exporter_factory, tmp_path, f"compliance: {{rule_series: {mode}}}\n")

    samples = scrape_until_read(process, ("status", "compliance", "pipeline", "aggregator"))
    text = process.scrape()

    def rules(name: str) -> dict[tuple[str, str], float]:
        return {
            (lb["region"], lb["config_rule"].rsplit("-conformance-pack-", 1)[0]): v
            for lb, v in samples.get(name, [])
        }

    failing = {
        (region, rule): 1.0 for region in REGIONS for rule in ("bad-evaluation", "bad-invocation")
    }
    if mode == "all":
        assert {key for key, v in rules(RULE_EVALUATION_FAILING).items() if v} == set(failing)
        assert len(samples[RULE_EVALUATION_FAILING]) == 2 * RULE_COUNT
        assert len(samples[RULE_EVALUATION_SUCCESS]) == 2 * (RULE_COUNT - 1)  # not for "new"
    elif mode == "noncompliant":  # the failing rules alone, with their last success
        assert rules(RULE_EVALUATION_FAILING) == failing
        assert set(rules(RULE_EVALUATION_SUCCESS)) == set(failing)
    else:
        for name in (RULE_EVALUATION_FAILING, RULE_EVALUATION_SUCCESS):
            assert name not in samples
            assert f"# HELP {name} " not in text
    # The counts per pack count every rule in every mode.
    evaluations = of(samples, RULES_EVALUATION, "region", "conformance_pack", "evaluation")
    for region in REGIONS:
        assert evaluations[(region, "broken", "ok")] == 26
        assert evaluations[(region, "broken", "failing")] == 2
        assert evaluations[(region, "broken", "not_started")] == 1


@pytest.mark.parametrize(
    "operation",
    [
        "ListConfigurationRecorders",
        "DescribeConfigurationRecorderStatus",
        "DescribeDeliveryChannelStatus",
        "DescribeConfigRuleEvaluationStatus",
    ],
)
def test_a_denied_pipeline_call_fails_the_pipeline_read_alone(
    simulator, exporter_factory, tmp_path, operation
) -> None:
    simulator.add_fault(Fault(kind="access_denied", operation=operation, region=EAST))
    process = start(simulator, exporter_factory, tmp_path)

    samples = scrape_until_read(process, ("status", "compliance", "pipeline", "aggregator"))

    assert success(samples) == {
        **{(c, r): 1.0 for c in ("status", "compliance") for r in REGIONS},
        ("pipeline", EAST): 0.0,
        ("pipeline", WEST): 1.0,
        ("aggregator", EAST): 1.0,
    }
    assert {lb["region"] for lb, _ in samples[STATE]} == set(REGIONS)
    assert {lb["region"] for lb, _ in samples[RULES_EVALUATION]} == {WEST}
    assert RECORDER_RECORDING not in samples
    process.wait_for_log(rf"collector=pipeline.*region={EAST} error_code=AccessDeniedException")


def test_moto_recorder_status_through_the_same_parsing(moto_url) -> None:
    """moto answers DescribeConfigurationRecorderStatus by name only, and says PENDING, a value
    the model does not know: it must pass through with 1."""
    moto = moto_recording_recorder(moto_url, ACCOUNT)
    [status] = moto.describe_configuration_recorder_status(ConfigurationRecorderNames=["default"])[
        "ConfigurationRecordersStatus"
    ]
    arn = f"arn:aws:config:us-east-1:{ACCOUNT}:configuration-recorder/default/moto"
    model = boto3.client("config", region_name="us-east-1").meta.service_model
    found = Pipeline(recorders=[{"arn": arn, "name": "default"}], recorder_statuses={arn: status})

    samples = pipeline_samples(ACCOUNT, "us-east-1", found, PipelineValues.of(model))

    assert [s.value for s in samples[RECORDER_RECORDING]] == [1.0]
    current = {s.labels["status"]: s.value for s in samples[RECORDER_STATUS]}
    assert current[status["lastStatus"]] == 1.0
    assert sum(current.values()) == 1.0
    assert status["lastStatus"] not in PipelineValues.of(model).recorder_statuses  # PENDING
    assert len(current) == len(PipelineValues.of(model).recorder_statuses) + 1
