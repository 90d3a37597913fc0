"""The remediations of a target's pack rules: each rule's remediation configuration and the
latest execution per resource, read only when `compliance.remediation` is on.

Automatic remediations fail silently (an SSM document without the permissions it needs is
retried, then given up), so the compliance read reports them. For R rule names, E of which
have a remediation with X_e executions each: ceil(R/25) configuration calls and
sum(max(1, ceil(X_e/100))) execution-status calls; the sizes are the installed botocore
model's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.aws.errors import InvalidResponseError
from exporter.aws.hooks import deadline_argument
from exporter.aws.pages import input_max, read_all_pages, unless_gone
from exporter.deadline import Deadline

IAM_ACTIONS = frozenset(
    {"config:DescribeRemediationConfigurations", "config:DescribeRemediationExecutionStatus"}
)
CONFIGURATIONS = "DescribeRemediationConfigurations"
EXECUTIONS = "DescribeRemediationExecutionStatus"
# AWS answers a rule whose remediation was deleted since it was listed with this error.
NO_SUCH_REMEDIATION = "NoSuchRemediationConfigurationException"


@dataclass(frozen=True)
class RuleRemediation:
    """One rule's remediation configurations and the latest execution per resource, as
    botocore parsed them."""

    configurations: Sequence[Mapping[str, Any]]
    executions: Sequence[Mapping[str, Any]]


def fetch_configurations(
    client: Any, rule_names: Sequence[str], deadline: Deadline
) -> dict[str, list[dict[str, Any]]]:
    """The remediation configurations of `rule_names` by rule, the model's most names per
    call; rules without one are absent (AWS leaves them out of its answer)."""
    chunk = input_max(client.meta.service_model, CONFIGURATIONS, "ConfigRuleNames")
    names = sorted(set(rule_names))
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(names), chunk):
        page = client.describe_remediation_configurations(
            ConfigRuleNames=names[start : start + chunk], **deadline_argument(deadline)
        )
        if "RemediationConfigurations" not in page:
            raise InvalidResponseError("the response has no RemediationConfigurations")
        for configuration in page["RemediationConfigurations"]:
            found.setdefault(str(configuration["ConfigRuleName"]), []).append(configuration)
    return found


def fetch_remediations(
    client: Any, rule_names: Sequence[str], deadline: Deadline
) -> dict[str, RuleRemediation]:
    """Each rule of `rule_names` that has a remediation, with its executions at the model's
    largest page; a remediation deleted between the two reads has no executions."""
    configurations = fetch_configurations(client, rule_names, deadline)
    page_size = input_max(client.meta.service_model, EXECUTIONS, "Limit")
    return {
        name: RuleRemediation(
            configured,
            unless_gone(
                NO_SUCH_REMEDIATION,
                functools.partial(
                    read_all_pages,
                    client,
                    "describe_remediation_execution_status",
                    "RemediationExecutionStatuses",
                    page_size,
                    deadline,
                    ConfigRuleName=name,
                ),
            ),
        )
        for name, configured in sorted(configurations.items())
    }
