"""The Config pipeline under the packs: whether the configuration recorders record, whether the
delivery channel delivers, and whether each pack's rules evaluate. A pack's verdict is only as
fresh as these; when they stop, compliance silently freezes at its last value.

Read in the background at most every `pipeline.interval_seconds`, with the fewest calls: one
recorder listing (every recorder, customer managed and service-linked, a model's page at a
time), one DescribeConfigurationRecorderStatus per recorder by ARN (without one, AWS answers
for the customer managed recorder only), one DescribeDeliveryChannelStatus, and
ceil(rules/25) DescribeConfigRuleEvaluationStatus calls over the packs' rules. The rule names
come from the compliance collector's last read of the target (exporter/pack_rules.py); where
compliance is off or has not read the target yet, from the pack listing and one
DescribeConformancePackCompliance per pack (more past 1,000 rules). The per-rule families
follow `compliance.rule_series`, even with compliance off: every rule, the failing ones, or none.

Example exposition::

    aws_config_recorder_recording{account_id="123456789012",region="eu-west-1",
        recorder="default"} 1.0
    aws_config_conformance_pack_rules_evaluation{account_id="123456789012",region="eu-west-1",
        conformance_pack="security",evaluation="failing"} 1.0
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.samples import Sample

from exporter.aws.packs import IAM_ACTION as STATUS_IAM_ACTION
from exporter.aws.packs import fetch_pack_rules, fetch_pack_statuses
from exporter.aws.pages import (
    each_or_alone,
    input_max,
    read_all_pages,
    read_token_pages,
    unless_gone,
)
from exporter.aws.targets import Target
from exporter.collection import ReadPolicy
from exporter.collectors.pipeline_samples import Pipeline, PipelineValues, pipeline_samples
from exporter.config import Config
from exporter.deadline import Deadline
from exporter.metrics import PIPELINE_HELP, RULE_EVALUATION_FAMILIES
from exporter.pack_rules import PackRules

NO_SUCH_RECORDER = "NoSuchConfigurationRecorderException"
NO_SUCH_RULE = "NoSuchConfigRuleException"


def _listed_pack_rules(
    client: Any, pack_names: tuple[str, ...], deadline: Deadline
) -> dict[str, list[str]]:
    """Every listed pack's rule names, read as the compliance collector reads them."""
    statuses = fetch_pack_statuses(client, pack_names, deadline)
    names = sorted({str(status["ConformancePackName"]) for status in statuses})
    rules = fetch_pack_rules(client, names, deadline)
    return {name: [str(rule["ConfigRuleName"]) for rule in found] for name, found in rules.items()}


def fetch_pipeline(
    client: Any,
    known_rules: Mapping[str, Sequence[str]] | None,
    pack_names: tuple[str, ...],
    deadline: Deadline,
) -> Pipeline:
    """The target's recorders, delivery channels and rule evaluations, with the fewest calls;
    `known_rules` (pack → rule names) saves listing the packs' rules when given."""
    model = client.meta.service_model
    recorders = read_all_pages(
        client,
        "list_configuration_recorders",
        "ConfigurationRecorderSummaries",
        input_max(model, "ListConfigurationRecorders", "MaxResults"),
        deadline,
    )
    statuses: dict[str, Mapping[str, Any]] = {}
    for recorder in recorders:
        arn = str(recorder["arn"])
        found = unless_gone(
            NO_SUCH_RECORDER,
            functools.partial(
                read_token_pages,
                client,
                "describe_configuration_recorder_status",
                "ConfigurationRecordersStatus",
                deadline,
                Arn=arn,
            ),
        )
        if found:  # one recorder asked, one answer
            statuses[arn] = found[0]
    channels = read_token_pages(
        client, "describe_delivery_channel_status", "DeliveryChannelsStatus", deadline
    )
    pack_rules = (
        _listed_pack_rules(client, pack_names, deadline) if known_rules is None else known_rules
    )
    operation = "DescribeConfigRuleEvaluationStatus"
    page_size = input_max(model, operation, "Limit")
    rows = each_or_alone(
        NO_SUCH_RULE,
        sorted({name for names in pack_rules.values() for name in names}),
        input_max(model, operation, "ConfigRuleNames"),
        lambda chunk: read_all_pages(
            client,
            "describe_config_rule_evaluation_status",
            "ConfigRulesEvaluationStatus",
            page_size,
            deadline,
            ConfigRuleNames=chunk,
        ),
    )
    evaluations = {str(row["ConfigRuleName"]): row for row in rows}
    return Pipeline(recorders, statuses, channels, pack_rules, evaluations)


class PipelineCollector:
    """Every target's recorders, delivery channels and rule evaluation, refreshed in the
    background every `pipeline.interval_seconds`."""

    name = "pipeline"
    IAM_ACTIONS = frozenset(
        {
            "config:ListConfigurationRecorders",
            "config:DescribeConfigurationRecorderStatus",
            "config:DescribeDeliveryChannelStatus",
            "config:DescribeConfigRuleEvaluationStatus",
            STATUS_IAM_ACTION,  # the rule names, where compliance is off
            "config:DescribeConformancePackCompliance",
        }
    )

    def __init__(self, config: Config, service_model: Any, pack_rules: PackRules) -> None:
        self.values = PipelineValues.of(service_model)
        self._pack_names = config.conformance_packs
        self._pack_rules = pack_rules
        self._rule_series = config.compliance.rule_series
        self.help_texts: Mapping[str, str] = {
            name: text
            for name, text in PIPELINE_HELP.items()
            if self._rule_series != "none" or name not in RULE_EVALUATION_FAMILIES
        }
        self.policy = ReadPolicy(config.pipeline.interval_seconds, background=True)

    @classmethod
    def from_config(
        cls, config: Config, service_model: Any, pack_rules: PackRules
    ) -> PipelineCollector | None:
        """On unless `pipeline.enabled` is false; takes rule names from `pack_rules`."""
        return cls(config, service_model, pack_rules) if config.pipeline.enabled else None

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        """Every target."""
        return targets

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        """One target's pipeline as samples."""
        known = self._pack_rules.of(target)
        found = fetch_pipeline(target.client, known, self._pack_names, deadline)
        account_id = target.account.resolve_account_id()
        return pipeline_samples(account_id, target.region, found, self.values, self._rule_series)
