"""The remediation operations: the remediation configurations of named rules and the latest
execution per resource of one rule's remediation, read from the packs of one (account,
region)."""

from __future__ import annotations

import hashlib
import uuid

from exporter.simulator.compliance import SimulatedRule
from exporter.simulator.errors import client_error
from exporter.simulator.packs import Shelf
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.remediation import RemediationExecution, SimulatedRemediation
from exporter.simulator.service_model import Params

CONFIGURATIONS = "DescribeRemediationConfigurations"
EXECUTIONS = "DescribeRemediationExecutionStatus"
# Conformance packs deploy their remediations through this service.
_CREATED_BY = "config-conforms.amazonaws.com"
# The step each execution state leaves its one step in.
_STEP_STATES = {
    "QUEUED": "PENDING",
    "IN_PROGRESS": "IN_PROGRESS",
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "UNKNOWN": "UNKNOWN",
}
_RUN_SECONDS = 45.0


def remediation_configurations(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """DescribeRemediationConfigurations: the named rules' remediations (at most 25 names, as
    the model says); a rule without one, or no such rule, is left out, as AWS does."""
    params = Params(CONFIGURATIONS, payload)
    configurations = []
    for name in dict.fromkeys(params.strings("ConfigRuleNames")):
        rule = _rule(shelf, name, started_at, now)
        if rule is not None and rule.remediation is not None:
            configurations.append(_configuration(shelf, name, rule.remediation))
    return {"RemediationConfigurations": configurations}


def execution_status(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """DescribeRemediationExecutionStatus: one rule's latest execution per resource, by
    resource id, a page of `Limit` at a time; a rule without a remediation is an error."""
    params = Params(EXECUTIONS, payload)
    name = params.string("ConfigRuleName") or ""
    rule = _rule(shelf, name, started_at, now)
    if rule is None or rule.remediation is None:
        raise client_error(
            "NoSuchRemediationConfigurationException",
            f"No RemediationConfiguration for rule {name} exists.",
        )
    remediation = rule.remediation
    keys = params.get("ResourceKeys")
    wanted = sorted(
        str(key.get("resourceId"))
        for key in (keys if isinstance(keys, list) else [])
        if isinstance(key, dict) and key.get("resourceType") == remediation.resource_type
    )
    executions = sorted(remediation.executions, key=lambda execution: execution.resource_id)
    if keys is not None:
        executions = [execution for execution in executions if execution.resource_id in wanted]
    ids = [execution.resource_id for execution in executions]
    query = query_key(EXECUTIONS, shelf.account, shelf.region, name, wanted)
    start = after(ids, tokens.read(params.string("NextToken"), query))
    page, more = take(executions[start:], params.page_size)
    result: dict[str, object] = {
        "RemediationExecutionStatuses": [
            _status(remediation, execution, started_at) for execution in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1].resource_id)
    return result


def _rule(shelf: Shelf, name: str, started_at: float, now: float) -> SimulatedRule | None:
    """The rule served as `name` as it is at `now`, if there is one."""
    place = shelf.rule_places.get(name)
    if place is None:
        return None
    pack_position, rule_position = place
    return shelf.packs[pack_position].effective(started_at, now).rules[rule_position]


def _configuration(shelf: Shelf, name: str, remediation: SimulatedRemediation) -> dict[str, object]:
    digest = hashlib.sha256(f"{shelf.account}/{shelf.region}/{name}".encode()).digest()
    return {
        "ConfigRuleName": name,
        "TargetType": "SSM_DOCUMENT",
        "TargetId": remediation.target_id,
        "TargetVersion": "1",
        "Parameters": {
            "AutomationAssumeRole": {
                "StaticValue": {
                    "Values": [f"arn:aws:iam::{shelf.account}:role/ConfigRemediationRole"]
                }
            },
            "ResourceId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
        },
        "ResourceType": remediation.resource_type,
        "Automatic": remediation.automatic,
        "MaximumAutomaticAttempts": remediation.maximum_attempts,
        "RetryAttemptSeconds": remediation.retry_seconds,
        "Arn": (
            f"arn:aws:config:{shelf.region}:{shelf.account}:remediation-configuration/{name}/"
            f"{uuid.UUID(bytes=digest[:16], version=4)}"
        ),
        "CreatedByService": _CREATED_BY,
    }


def _status(
    remediation: SimulatedRemediation, execution: RemediationExecution, started_at: float
) -> dict[str, object]:
    """Every execution was invoked when the simulator started; those that ended did so a
    run's length later."""
    step: dict[str, object] = {
        "Name": remediation.target_id,
        "State": _STEP_STATES[execution.state],
    }
    ended = execution.state in ("SUCCEEDED", "FAILED")
    if execution.state != "QUEUED":
        step["StartTime"] = round(started_at, 3)
    if ended:
        step["StopTime"] = round(started_at + _RUN_SECONDS, 3)
    if execution.error:
        step["ErrorMessage"] = execution.error
    return {
        "ResourceKey": {
            "resourceType": remediation.resource_type,
            "resourceId": execution.resource_id,
        },
        "State": execution.state,
        "StepDetails": [step],
        "InvocationTime": round(started_at, 3),
        "LastUpdatedTime": round(started_at + (_RUN_SECONDS if ended else 0.0), 3),
    }
