"""exporter/metrics.py: the metric contract, pinned by golden exposition files written by the
encoders `/metrics` serves, from recorded AWS answers through a real scrape.

Regenerate after a deliberate change with `UPDATE_GOLDEN=1 python -m pytest tests/test_metrics.py`
and review the diff: any change there is a change to the contract.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.stub import Stubber
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from exporter import __version__
from exporter.aws.targets import Target
from exporter.collectors.status import StatusCollector
from exporter.config import (
    AccountConfig,
    AggregatorConfig,
    ComplianceConfig,
    Config,
    PipelineConfig,
)
from exporter.deadline import Deadline
from exporter.exposition import encode_openmetrics, encode_text
from exporter.metrics import (
    BUILD_INFO,
    LAST_SUCCESS,
    SCRAPE_DURATION,
    SCRAPE_SUCCESS,
    account_info_family,
    api_requests_family,
    build_info_family,
    reload_families,
)
from tests.conftest import (
    ACCOUNT,
    MODEL_STATES,
    Families,
    exposition,
    make_account,
    make_scraper,
    pack_families,
    pack_status,
    parse_exposition,
    wait_for,
)

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
TIMESTAMP_FIELDS = ("LastUpdateRequestedTime", "LastUpdateCompletedTime")
STATE = "aws_config_conformance_pack_state"
# Values that differ on every run or machine; the golden files hold a placeholder.
VARYING = re.compile(rf"^((?:{SCRAPE_DURATION}|{LAST_SUCCESS})\{{.*\}}) \S+$", re.MULTILINE)
ORGANIZATION_PACK = {
    "OrganizationConformancePackName": "org-baseline",
    "Status": "UPDATE_FAILED",
    "ErrorCode": "ConformancePackFailure",
    "ErrorMessage": "1 member account failed",
    "LastUpdateTime": datetime.fromtimestamp(1_700_002_000, timezone.utc),
}
ORGANIZATION_MEMBER = {
    "AccountId": "210987654321",
    "ConformancePackName": "OrgConformsPack-org-baseline-abc",
    "Status": "UPDATE_FAILED",
    "ErrorCode": "AccessDenied",
    "ErrorMessage": "Missing role",
    "LastUpdateTime": datetime.fromtimestamp(1_700_002_100, timezone.utc),
}


def recorded_pages(name: str) -> list[dict[str, Any]]:
    """Wire-format pages as botocore would parse them: epoch numbers become datetimes."""
    pages: list[dict[str, Any]] = json.loads((HERE / "fixtures" / "recorded" / name).read_text())
    for page in pages:
        for detail in page["ConformancePackStatusDetails"]:
            for field in TIMESTAMP_FIELDS:
                if field in detail:
                    detail[field] = datetime.fromtimestamp(detail[field], timezone.utc)
    return pages


@pytest.fixture
def states() -> tuple[str, ...]:
    session = boto3.Session(
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret", region_name="us-east-1"
    )
    model = session.client("config", region_name="us-east-1").meta.service_model
    return StatusCollector(Config(), model).states


def stub_status(stub: Stubber, pages: list[dict[str, Any]]) -> None:
    """Recorded status pages of us-east-1: both the status read and the compliance read list
    the packs with them."""
    stub.add_response("describe_conformance_pack_status", pages[0], {"Limit": 20})
    stub.add_response(
        "describe_conformance_pack_status", pages[1], {"Limit": 20, "NextToken": "page-2"}
    )


def stub_compliance(stub: Stubber, pages: list[dict[str, Any]]) -> None:
    """Recorded compliance answers for the us-east-1 packs: the listing, a score with more
    decimals than a float divides exactly, verdicts and rules of every listed pack (two not
    scored yet), counts, and the remediations of two rules (one automatic and failing, with
    a state the model does not know; one manual)."""
    updated = datetime.fromtimestamp(1_700_003_000, timezone.utc)
    stub_status(stub, pages)
    stub.add_response(
        "list_conformance_pack_compliance_scores",
        {
            "ConformancePackComplianceScores": [
                {"ConformancePackName": "cis-level1", "Score": "87.04", "LastUpdatedTime": updated},
                {
                    "ConformancePackName": "pci-dss",
                    "Score": "INSUFFICIENT_DATA",
                    "LastUpdatedTime": updated,
                },
            ]
        },
        {"Limit": 20},
    )
    stub.add_response(
        "get_conformance_pack_compliance_summary",
        {
            "ConformancePackComplianceSummaryList": [
                {"ConformancePackName": name, "ConformancePackComplianceStatus": verdict}
                for name, verdict in (
                    ("cis-level1", "NON_COMPLIANT"),
                    ("pci-dss", "INSUFFICIENT_DATA"),
                    ("security-hub", "COMPLIANT"),
                    ("tomorrow", "INSUFFICIENT_DATA"),
                )
            ]
        },
        {"ConformancePackNames": ["cis-level1", "pci-dss", "security-hub", "tomorrow"]},
    )
    for pack, rules in (
        (
            "cis-level1",
            (
                ("iam-root-access-key-check", "COMPLIANT"),
                ("s3-bucket-public-read-prohibited", "NON_COMPLIANT"),
            ),
        ),
        ("pci-dss", (("restricted-ssh", "INSUFFICIENT_DATA"),)),
        # Listed, but not scored yet: a verdict and rules all the same.
        ("security-hub", (("securityhub-enabled", "COMPLIANT"),)),
        ("tomorrow", ()),
    ):
        stub.add_response(
            "describe_conformance_pack_compliance",
            {
                "ConformancePackName": pack,
                "ConformancePackRuleComplianceList": [
                    {"ConfigRuleName": name, "ComplianceType": value, "Controls": []}
                    for name, value in rules
                ],
            },
            {"ConformancePackName": pack, "Limit": 1000},
        )
    stub.add_response(
        "describe_compliance_by_config_rule",
        {
            "ComplianceByConfigRules": [
                {
                    "ConfigRuleName": "s3-bucket-public-read-prohibited",
                    "Compliance": {
                        "ComplianceType": "NON_COMPLIANT",
                        "ComplianceContributorCount": {"CappedCount": 100, "CapExceeded": True},
                    },
                }
            ]
        },
        {
            "ConfigRuleNames": ["s3-bucket-public-read-prohibited"],
            "ComplianceTypes": ["NON_COMPLIANT"],
        },
    )
    stub_remediation(stub)


def stub_remediation(stub: Stubber) -> None:
    """The remediation reads of the four rules the compliance read listed."""
    remediations = (
        ("iam-root-access-key-check", "AWSConfigRemediation-DeleteUnusedIAMUser", False),
        ("s3-bucket-public-read-prohibited", "AWS-DisableS3BucketPublicReadWrite", True),
    )
    stub.add_response(
        "describe_remediation_configurations",
        {
            "RemediationConfigurations": [
                {
                    "ConfigRuleName": rule,
                    "TargetType": "SSM_DOCUMENT",
                    "TargetId": target,
                    "Automatic": automatic,
                    "MaximumAutomaticAttempts": 5,
                    "RetryAttemptSeconds": 60,
                }
                for rule, target, automatic in remediations
            ]
        },
        {
            "ConfigRuleNames": [
                "iam-root-access-key-check",
                "restricted-ssh",
                "s3-bucket-public-read-prohibited",
                "securityhub-enabled",
            ]
        },
    )
    for (rule, _, _), states in zip(
        remediations, (("SUCCEEDED",), ("FAILED", "FAILED", "SUCCEEDED", "CANCELLED")), strict=True
    ):
        stub.add_response(
            "describe_remediation_execution_status",
            {
                "RemediationExecutionStatuses": [
                    {
                        "ResourceKey": {"resourceType": "AWS::S3::Bucket", "resourceId": f"b-{n}"},
                        "State": state,
                        "InvocationTime": datetime.fromtimestamp(1_700_003_100, timezone.utc),
                    }
                    for n, state in enumerate(states)
                ]
            },
            {"ConfigRuleName": rule, "Limit": 100},
        )


def stub_pipeline(stub: Stubber) -> None:
    """Recorded pipeline answers for us-east-1: a customer managed recorder and a stopped
    service-linked one, a channel whose history delivery fails, and how the rules the
    compliance read listed evaluate (one fails, one has not started)."""

    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(1_700_004_000 + seconds, timezone.utc)

    recorders = (
        ("default", None, True, "Success"),
        ("AWSConfigurationRecorderForSecurityHub", "securityhub.amazonaws.com", False, "Failure"),
    )
    summaries = []
    for name, principal, _, _ in recorders:
        arn = f"arn:aws:config:us-east-1:{ACCOUNT}:configuration-recorder/{name}/abcdef"
        summary = {"arn": arn, "name": name, "recordingScope": "INTERNAL" if principal else "PAID"}
        summaries.append(summary | ({"servicePrincipal": principal} if principal else {}))
    stub.add_response(
        "list_configuration_recorders",
        {"ConfigurationRecorderSummaries": summaries},
        {"MaxResults": 20},
    )
    for summary, (name, _, recording, last) in zip(summaries, recorders, strict=True):
        status = {
            "arn": summary["arn"],
            "name": name,
            "recording": recording,
            "lastStatus": last,
            "lastStatusChangeTime": at(0),
        }
        stub.add_response(
            "describe_configuration_recorder_status",
            {"ConfigurationRecordersStatus": [status]},
            {"Arn": summary["arn"]},
        )
    stub.add_response(
        "describe_delivery_channel_status",
        {
            "DeliveryChannelsStatus": [
                {
                    "name": "default",
                    "configHistoryDeliveryInfo": {
                        "lastStatus": "Failure",
                        "lastErrorCode": "AccessDenied",
                        "lastSuccessfulTime": at(-7200),
                    },
                    "configSnapshotDeliveryInfo": {
                        "lastStatus": "Success",
                        "lastSuccessfulTime": at(-600),
                    },
                    "configStreamDeliveryInfo": {"lastStatus": "Not_Applicable"},
                }
            ]
        },
        {},
    )
    ok = {"FirstEvaluationStarted": True, "LastSuccessfulEvaluationTime": at(-60)}
    evaluations = [
        {"ConfigRuleName": "iam-root-access-key-check", **ok},
        {"ConfigRuleName": "restricted-ssh", "FirstEvaluationStarted": False},
        {
            "ConfigRuleName": "s3-bucket-public-read-prohibited",
            **ok,
            "LastFailedEvaluationTime": at(-30),
            "LastErrorMessage": "not a label",
        },
        {"ConfigRuleName": "securityhub-enabled", **ok},
    ]
    stub.add_response(
        "describe_config_rule_evaluation_status",
        {"ConfigRulesEvaluationStatus": evaluations},
        {"ConfigRuleNames": [e["ConfigRuleName"] for e in evaluations], "Limit": 50},
    )


def stub_aggregator(stub: Stubber) -> None:
    """A recorded aggregator read through us-east-1: no rows beyond the direct reads' (those
    families are pinned above), and two sources of an organisation, one outdated."""
    stub.add_response(
        "describe_aggregate_compliance_by_conformance_packs",
        {"AggregateComplianceByConformancePacks": []},
        {"ConfigurationAggregatorName": "org", "Limit": 100},
    )
    stub.add_response(
        "describe_configuration_aggregator_sources_status",
        {
            "AggregatedSourceStatusList": [
                {
                    "SourceId": "o-a1b2c3d4e5",
                    "SourceType": "ORGANIZATION",
                    "AwsRegion": region,
                    "LastUpdateStatus": status,
                    "LastUpdateTime": datetime.fromtimestamp(updated, timezone.utc),
                    "LastErrorMessage": "not a label",
                }
                for region, status, updated in (
                    ("eu-west-1", "OUTDATED", 1_700_000_000),
                    ("us-east-1", "SUCCEEDED", 1_700_004_000),
                )
            ]
        },
        {"ConfigurationAggregatorName": "org", "Limit": 100},
    )


def served(scraper: Any, collector: str, targets: int = 2) -> bool:
    """Whether `collector`'s background reads of its targets are served."""
    families = scraper.collect(Deadline.after(10), only={collector})
    success = next(family for family in families if family.name == SCRAPE_SUCCESS)
    return len(success.samples) == targets


def recorded_scrape() -> list[Any]:
    """One scrape of every collector over recorded answers: us-east-1 reads, eu-west-1 fails.
    The account is named in the configuration, and Organizations names it and one not read."""
    account = make_account(("us-east-1", "eu-west-1"), account=AccountConfig(name="production"))
    account.account_id = ACCOUNT
    east, west = (account.clients[region] for region in ("us-east-1", "eu-west-1"))
    pages = recorded_pages("us-east-1.json")
    scraper = make_scraper(
        [Target(account, "us-east-1"), Target(account, "eu-west-1")],
        concurrency=1,  # one worker: the stubbed answers are consumed in a known order
        min_interval_seconds=3600,  # later scrapes serve the first reads, reading nothing
        organization_conformance_packs=True,
        compliance=ComplianceConfig(noncompliant_resources=True, remediation=True),
        pipeline=PipelineConfig(),
        aggregators=(AggregatorConfig("org", "us-east-1"),),
    )
    scraper.set_listed_names(lambda: {ACCOUNT: "Production account", "999999999999": "Other"})
    with Stubber(east) as east_stub, Stubber(west) as west_stub:
        stub_status(east_stub, pages)
        west_stub.add_client_error(
            "describe_conformance_pack_status", "AccessDeniedException", http_status_code=400
        )
        east_stub.add_response(
            "describe_organization_conformance_pack_statuses",
            {"OrganizationConformancePackStatuses": [ORGANIZATION_PACK]},
            {"Limit": 100},
        )
        east_stub.add_response(
            "get_organization_conformance_pack_detailed_status",
            {"OrganizationConformancePackDetailedStatuses": [ORGANIZATION_MEMBER]},
            {"OrganizationConformancePackName": "org-baseline", "Limit": 100},
        )
        stub_compliance(east_stub, pages)
        west_stub.add_client_error(
            "describe_conformance_pack_status", "AccessDeniedException", http_status_code=400
        )
        stub_pipeline(east_stub)
        stub_aggregator(east_stub)
        west_stub.add_client_error(
            "list_configuration_recorders", "AccessDeniedException", http_status_code=400
        )
        # The collectors share each region's client, and Stubber answers in the order it was
        # given: each collector reads alone first, then one scrape serves what they read.
        scraper.collect(Deadline.after(10), only={"status"})
        # The background collectors, one at a time: the pipeline reads after compliance,
        # taking the rule names it recorded.
        background = (("organization", 1), ("compliance", 2), ("pipeline", 2), ("aggregator", 1))
        for collector, targets in background:
            wait_for(
                functools.partial(served, scraper, collector, targets),
                10,
                f"the {collector} reads",
                interval=0.01,
            )
        families = scraper.collect(Deadline.after(10))
        east_stub.assert_no_pending_responses()
        west_stub.assert_no_pending_responses()
    scraper.close()
    return [family for family in families if family.name != BUILD_INFO]


@pytest.mark.parametrize(
    ("golden", "encode"),
    [("recorded.prom", encode_text), ("recorded.openmetrics", encode_openmetrics)],
)
def test_golden_exposition_for_recorded_responses(golden, encode) -> None:
    """Any diff here is a change to the metric contract: a bug, or a reviewed decision."""
    text = VARYING.sub(r"\1 VARIES", encode(recorded_scrape()).decode())
    if os.environ.get("UPDATE_GOLDEN"):
        (GOLDEN / golden).write_text(text)
    assert text == (GOLDEN / golden).read_text()


def test_states_come_from_the_installed_model(states) -> None:
    assert states == MODEL_STATES
    assert len(states) >= 8


@pytest.mark.parametrize("current", MODEL_STATES)
def test_every_state_is_one_hot(current: str, states) -> None:
    results = [(ACCOUNT, "us-east-1", [pack_status("p", current)])]
    samples = parse_exposition(exposition(pack_families(results, True)))

    values = {labels["state"]: value for labels, value in samples[STATE]}
    assert values == {state: float(state == current) for state in states}


def test_unknown_state_is_exported_with_one(states) -> None:
    results = [(ACCOUNT, "us-east-1", [pack_status("p", "NEW_STATE")])]
    samples = parse_exposition(exposition(pack_families(results, True)))

    values = {labels["state"]: value for labels, value in samples[STATE]}
    assert values["NEW_STATE"] == 1.0
    assert sum(values.values()) == 1.0
    assert len(values) == len(states) + 1


def test_optional_fields_missing(states) -> None:
    pack = pack_status("bare", completed=None, pack_type=None, stack=False, reason=None)
    results = [(ACCOUNT, "us-east-1", [pack])]
    samples = parse_exposition(exposition(pack_families(results, True)))

    assert "aws_config_conformance_pack_last_update_completed_timestamp_seconds" not in samples
    assert "aws_config_conformance_pack_status_reason_info" not in samples
    [(info_labels, _)] = samples["aws_config_conformance_pack_info"]
    assert info_labels["stack_arn"] == ""
    assert info_labels["type"] == ""


def test_timestamps_keep_fractions(states) -> None:
    pack = pack_status("p", requested=1_712_345_678.125, completed=1_712_345_999.875)
    samples = parse_exposition(exposition(pack_families([(ACCOUNT, "r", [pack])], True)))
    requested = "aws_config_conformance_pack_last_update_requested_timestamp_seconds"
    completed = "aws_config_conformance_pack_last_update_completed_timestamp_seconds"
    assert samples[requested][0][1] == 1_712_345_678.125
    assert samples[completed][0][1] == 1_712_345_999.875


def test_status_reason_switch_removes_the_family(states) -> None:
    pack = pack_status("p", "CREATE_FAILED", reason="boom")
    results = [(ACCOUNT, "us-east-1", [pack])]

    with_reason = exposition(pack_families(results, True))
    without_reason = exposition(pack_families(results, False))

    assert 'reason="boom"' in with_reason
    assert "status_reason_info" not in without_reason


def test_long_unicode_reason_is_verbatim(states) -> None:
    reason = ('Ünïcødé "quoted" \\ back\nslash ' * 60)[:2000]
    pack = pack_status("p", "CREATE_FAILED", reason=reason)
    samples = parse_exposition(exposition(pack_families([(ACCOUNT, "r", [pack])], True)))
    [(labels, value)] = samples["aws_config_conformance_pack_status_reason_info"]
    assert labels["reason"] == reason
    assert value == 1.0


def test_every_series_carries_account_and_region(states) -> None:
    results = [(ACCOUNT, "us-east-1", [pack_status("p", reason="x")])]
    families = pack_families(results, True)
    families.append(api_requests_family([(ACCOUNT, "us-east-1", "Op", "success", 1)]))
    for name, series in parse_exposition(exposition(families)).items():
        for labels, _ in series:
            assert labels["account_id"] == ACCOUNT, name
            assert labels["region"] == "us-east-1", name


def test_build_info_names_the_versions() -> None:
    samples = parse_exposition(exposition([build_info_family()]))
    [(labels, value)] = samples["aws_config_exporter_build_info"]
    assert labels == {
        "version": __version__,
        "boto3_version": boto3.__version__,
        "botocore_version": botocore.__version__,
        "python_version": platform.python_version(),
    }
    assert value == 1.0


def test_openmetrics_output_is_well_formed(states) -> None:
    results = [(ACCOUNT, "us-east-1", [pack_status("p")])]
    families = pack_families(results, True)
    families.append(api_requests_family([(ACCOUNT, "us-east-1", "Op", "success", 3)]))
    text = generate_openmetrics(Families(families)).decode()

    parsed = {family.name: family for family in parse_openmetrics(text)}
    assert parsed["aws_config_exporter_api_requests"].type == "counter"
    [sample] = parsed["aws_config_exporter_api_requests"].samples
    assert (sample.name, sample.labels["outcome"], sample.value) == (
        "aws_config_exporter_api_requests_total",
        "success",
        3.0,
    )
    assert parsed["aws_config_conformance_pack_info"].type == "gauge"


def test_the_reload_families_as_prometheus_names_its_own() -> None:
    """Written by hand: one series each, no label, as Prometheus' own reload metrics."""
    assert encode_text(reload_families(False, 1_700_000_000.25)).decode() == (
        "# HELP aws_config_exporter_config_last_reload_successful 1 if the last reload of the "
        "configuration file succeeded (or none was asked for yet), 0 if it failed and the "
        "previous configuration still serves.\n"
        "# TYPE aws_config_exporter_config_last_reload_successful gauge\n"
        "aws_config_exporter_config_last_reload_successful 0.0\n"
        "# HELP aws_config_exporter_config_last_reload_success_timestamp_seconds Unix time of "
        "the last successful configuration reload, or of the start.\n"
        "# TYPE aws_config_exporter_config_last_reload_success_timestamp_seconds gauge\n"
        "aws_config_exporter_config_last_reload_success_timestamp_seconds 1.70000000025e+09\n"
    )


def test_the_account_info_family_written_by_hand() -> None:
    """Per account, sorted by id; names verbatim, spaces and quotes included."""
    names = {"222222222222": 'Team "B" sandbox', "111111111111": "audit"}
    assert encode_text([account_info_family(names)]).decode() == (
        "# HELP aws_config_account_info Name of an account read; always 1: its configured name, "
        "else the one AWS Organizations lists. Absent for an account with neither, or whose id "
        "is not known yet.\n"
        "# TYPE aws_config_account_info gauge\n"
        'aws_config_account_info{account_id="111111111111",account_name="audit"} 1.0\n'
        'aws_config_account_info{account_id="222222222222",'
        'account_name="Team \\"B\\" sandbox"} 1.0\n'
    )
