"""The metric contract: every family's name, HELP text and labels, in one place.

Collectors build samples under these names (see exporter/collectors/); the scrape layer adds
the self-metrics defined here. Nothing here calls AWS.

Example exposition::

    aws_config_conformance_pack_state{account_id="123456789012",region="eu-west-1",
        conformance_pack="security",state="CREATE_COMPLETE"} 1.0
    aws_config_exporter_scrape_success{account_id="123456789012",collector="status",
        region="eu-west-1"} 1.0
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import boto3
import botocore
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from exporter import __version__

TARGET_LABELS = ("account_id", "region")

# Pack status (collector "status").
STATE = "aws_config_conformance_pack_state"
INFO = "aws_config_conformance_pack_info"
LAST_UPDATE_REQUESTED = "aws_config_conformance_pack_last_update_requested_timestamp_seconds"
LAST_UPDATE_COMPLETED = "aws_config_conformance_pack_last_update_completed_timestamp_seconds"
STATUS_REASON = "aws_config_conformance_pack_status_reason_info"
STATUS_HELP = {
    STATE: "Deployment state of the conformance pack: 1 for the current state, 0 for the others.",
    INFO: "Conformance pack metadata; always 1. Empty stack_arn or type: AWS did not report it.",
    LAST_UPDATE_REQUESTED: (
        "Unix time of the last create, update or delete requested for the conformance pack."
    ),
    LAST_UPDATE_COMPLETED: (
        "Unix time the last requested change completed; absent while AWS reports none."
    ),
    STATUS_REASON: (
        "Why the conformance pack is in its state, verbatim from AWS; present only when non-empty."
    ),
}

# Organization conformance packs (collector "organization").
ORG_STATE = "aws_config_organization_conformance_pack_state"
ORG_LAST_UPDATE = "aws_config_organization_conformance_pack_last_update_timestamp_seconds"
ORG_REASON = "aws_config_organization_conformance_pack_status_reason_info"
MEMBER_STATE = "aws_config_organization_conformance_pack_member_state"
MEMBER_LAST_UPDATE = "aws_config_organization_conformance_pack_member_last_update_timestamp_seconds"
MEMBER_REASON = "aws_config_organization_conformance_pack_member_status_reason_info"
ORGANIZATION_HELP = {
    ORG_STATE: (
        "Deployment state of the organization conformance pack across its member accounts: "
        "1 for the current state, 0 for the others."
    ),
    ORG_LAST_UPDATE: "Unix time of the organization conformance pack's last status change.",
    ORG_REASON: "Why the organization conformance pack failed, verbatim from AWS; 1 when present.",
    MEMBER_STATE: (
        "Deployment state of the organization conformance pack in one member account: "
        "1 for the current state, 0 for the others."
    ),
    MEMBER_LAST_UPDATE: "Unix time of the pack's last status change in the member account.",
    MEMBER_REASON: "Why the pack failed in the member account, verbatim from AWS; 1 when present.",
}

# Compliance of the packs (collector "compliance").
COMPLIANCE = "aws_config_conformance_pack_compliance"
SCORE = "aws_config_conformance_pack_compliance_score_ratio"
SCORE_UPDATED = "aws_config_conformance_pack_compliance_score_last_updated_timestamp_seconds"
RULE_COMPLIANCE = "aws_config_conformance_pack_rule_compliance"
RULES = "aws_config_conformance_pack_rules"
NONCOMPLIANT_RESOURCES = "aws_config_conformance_pack_rule_noncompliant_resources"
CAP_EXCEEDED = "aws_config_conformance_pack_rule_noncompliant_resources_cap_exceeded"
COMPLIANCE_HELP = {
    COMPLIANCE: (
        "AWS's compliance verdict for the conformance pack: 1 for the current value, 0 for "
        "the others."
    ),
    SCORE: (
        "Compliance score of the conformance pack as a ratio (AWS's percentage / 100); "
        "absent while AWS has no score."
    ),
    SCORE_UPDATED: "Unix time AWS last updated the conformance pack's compliance score.",
    RULE_COMPLIANCE: (
        "Compliance of one rule of the conformance pack: 1 for the current value, 0 for the others."
    ),
    RULES: "Number of the conformance pack's rules with each compliance value.",
    NONCOMPLIANT_RESOURCES: (
        "Resources that break the non-compliant rule, as AWS counts them (it stops at 100)."
    ),
    CAP_EXCEEDED: "1 when more resources break the rule than AWS counts, else 0.",
}
RESOURCE_FAMILIES = (NONCOMPLIANT_RESOURCES, CAP_EXCEEDED)

# The Config pipeline under the packs (collector "pipeline").
RECORDER_RECORDING = "aws_config_recorder_recording"
RECORDER_STATUS = "aws_config_recorder_last_status"
RECORDER_STATUS_CHANGE = "aws_config_recorder_last_status_change_timestamp_seconds"
RECORDER_INFO = "aws_config_recorder_info"
DELIVERY_STATUS = "aws_config_delivery_channel_last_status"
DELIVERY_SUCCESS = "aws_config_delivery_channel_last_success_timestamp_seconds"
RULES_EVALUATION = "aws_config_conformance_pack_rules_evaluation"
RULE_EVALUATION_FAILING = "aws_config_conformance_pack_rule_evaluation_failing"
RULE_EVALUATION_SUCCESS = (
    "aws_config_conformance_pack_rule_last_successful_evaluation_timestamp_seconds"
)
# A rule's evaluation, as the rules-evaluation family counts it.
EVALUATIONS = ("ok", "failing", "not_started")
PIPELINE_HELP = {
    RECORDER_RECORDING: "1 if the configuration recorder is recording, else 0.",
    RECORDER_STATUS: (
        "Status of the configuration recorder's last recording attempt: 1 for the current "
        "value, 0 for the others."
    ),
    RECORDER_STATUS_CHANGE: "Unix time the configuration recorder's last status changed.",
    RECORDER_INFO: (
        "Configuration recorder metadata; always 1. Empty service_principal: customer managed."
    ),
    DELIVERY_STATUS: (
        "Status of the delivery channel's last delivery of each kind: 1 for the current value, "
        "0 for the others."
    ),
    DELIVERY_SUCCESS: "Unix time of the delivery channel's last successful delivery of the kind.",
    RULES_EVALUATION: (
        "Number of the conformance pack's rules whose evaluation is ok, failing (the last "
        "failure is newer than the last success) or not_started."
    ),
    RULE_EVALUATION_FAILING: (
        "1 if the rule's last failed invocation or evaluation is newer than its last success."
    ),
    RULE_EVALUATION_SUCCESS: (
        "Unix time of the rule's last successful evaluation; absent until a first one."
    ),
}
RULE_EVALUATION_FAMILIES = (RULE_EVALUATION_FAILING, RULE_EVALUATION_SUCCESS)

# Aggregator sources (collector "aggregator"): account_id and region are the source's.
SOURCE_STATUS = "aws_config_aggregator_source_status"
SOURCE_UPDATE = "aws_config_aggregator_source_last_update_timestamp_seconds"
SOURCE_HELP = {
    SOURCE_STATUS: (
        "Status of the aggregator's last update from the source account and region: 1 for the "
        "current value, 0 for the others."
    ),
    SOURCE_UPDATE: "Unix time of the aggregator's last update from the source account and region.",
}

# The exporter itself.
SCRAPE_SUCCESS = "aws_config_exporter_scrape_success"
SCRAPE_DURATION = "aws_config_exporter_scrape_duration_seconds"
LAST_SUCCESS = "aws_config_exporter_last_success_timestamp_seconds"
API_REQUESTS = "aws_config_exporter_api_requests"
BUILD_INFO = "aws_config_exporter_build_info"
ACCOUNTS = "aws_config_exporter_accounts"
COLLECTOR_LABELS = (*TARGET_LABELS, "collector")
SELF_HELP = {
    SCRAPE_SUCCESS: (
        "1 if the collector's last read of this account and region succeeded, else 0; "
        "for a read served again (min_interval_seconds, compliance interval), that read's."
    ),
    SCRAPE_DURATION: "Seconds the collector's last read of this account and region took.",
    LAST_SUCCESS: (
        "Unix time of the collector's last successful read of this account and region: "
        "how old the data served can be."
    ),
}
API_REQUESTS_HELP = (
    "HTTP requests made to AWS, retries included, by operation and outcome "
    "(success, an AWS error code, timeout, connection_error, invalid_response or other)."
)
ACCOUNTS_HELP = (
    "Accounts the exporter reads, by source: config (listed in the configuration, or the "
    "default credentials' own) or organization (discovered from AWS Organizations)."
)
# The accounts read, by name: per account, not per target (no region).
ACCOUNT_INFO = "aws_config_account_info"
ACCOUNT_INFO_HELP = (
    "Name of an account read; always 1: its configured name, else the one AWS Organizations "
    "lists. Absent for an account with neither, or whose id is not known yet."
)
BUILD_INFO_HELP = "Versions of the exporter and of the libraries that shape its output; always 1."
# The configuration reloads (SIGHUP, POST /-/reload), named as Prometheus and
# blackbox_exporter name theirs.
RELOAD_SUCCESSFUL = "aws_config_exporter_config_last_reload_successful"
RELOAD_SUCCESS_TIME = "aws_config_exporter_config_last_reload_success_timestamp_seconds"
RELOAD_HELP = {
    RELOAD_SUCCESSFUL: (
        "1 if the last reload of the configuration file succeeded (or none was asked for yet), "
        "0 if it failed and the previous configuration still serves."
    ),
    RELOAD_SUCCESS_TIME: "Unix time of the last successful configuration reload, or of the start.",
}


def timestamp(value: datetime | float) -> float:
    """Unix seconds from what botocore parsed (the exporter keeps epoch numbers as floats)."""
    return value.timestamp() if isinstance(value, datetime) else float(value)


def one_hot(
    name: str, labels: Mapping[str, str], label: str, current: str, values: Sequence[str]
) -> list[Sample]:
    """A state set: every known value 0 but the current one; an unknown value still gets 1."""
    samples = [
        Sample(name, {**labels, label: value}, 1.0 if value == current else 0.0) for value in values
    ]
    if current not in values:
        samples.append(Sample(name, {**labels, label: current}, 1.0))
    return samples


def gauge_families(
    help_texts: Mapping[str, str], samples: Mapping[str, Iterable[Sample]]
) -> list[Metric]:
    """Gauge families in `help_texts` order, each with its samples (or none)."""
    families = []
    for name, help_text in help_texts.items():
        family = Metric(name, help_text, "gauge")
        family.samples.extend(samples.get(name, ()))
        families.append(family)
    return families


def api_requests_family(samples: Iterable[tuple[str, str, str, str, int]]) -> Metric:
    """The API-call counter from (account_id, region, operation, outcome, count) rows."""
    family = CounterMetricFamily(
        API_REQUESTS, API_REQUESTS_HELP, labels=(*TARGET_LABELS, "operation", "outcome")
    )
    for account_id, region, operation, outcome, count in samples:
        family.add_metric([account_id, region, operation, outcome], count)
    return family


def accounts_family(counts: Mapping[str, int]) -> Metric:
    """How many accounts are read, per source."""
    family = GaugeMetricFamily(ACCOUNTS, ACCOUNTS_HELP, labels=("source",))
    for source, count in sorted(counts.items()):
        family.add_metric([source], float(count))
    return family


def account_info_family(names: Mapping[str, str]) -> Metric:
    """One series per named account, from account id → name."""
    family = GaugeMetricFamily(
        ACCOUNT_INFO, ACCOUNT_INFO_HELP, labels=("account_id", "account_name")
    )
    for account_id, name in sorted(names.items()):
        family.add_metric([account_id, name], 1.0)
    return family


def reload_families(successful: bool, success_at: float) -> list[Metric]:
    """The last configuration reload's outcome, and when one last succeeded."""
    return gauge_families(
        RELOAD_HELP,
        {
            RELOAD_SUCCESSFUL: [Sample(RELOAD_SUCCESSFUL, {}, float(successful))],
            RELOAD_SUCCESS_TIME: [Sample(RELOAD_SUCCESS_TIME, {}, success_at)],
        },
    )


def build_info_family() -> Metric:
    """Versions that explain behaviour: the state list depends on the botocore model."""
    family = GaugeMetricFamily(
        BUILD_INFO,
        BUILD_INFO_HELP,
        labels=("version", "boto3_version", "botocore_version", "python_version"),
    )
    family.add_metric(
        [__version__, boto3.__version__, botocore.__version__, platform.python_version()], 1.0
    )
    return family
