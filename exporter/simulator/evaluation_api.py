"""DescribeConfigRuleEvaluationStatus: when Config last ran each rule of the packs of one (account,
region), and whether that worked, so a pack stuck at INSUFFICIENT_DATA can be told from one whose
rules fail to evaluate."""

from __future__ import annotations

import base64
import hashlib

from exporter.simulator.compliance import SimulatedRule
from exporter.simulator.packs import Shelf, SimulatedPack
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.service_model import Params

OPERATION = "DescribeConfigRuleEvaluationStatus"
# How long after its last success a failing rule failed, when the pack gives no later time.
_RETRY_SECONDS = 60.0
_FAILURES = {
    "failing_evaluation": (
        "LastFailedEvaluationTime",
        "InternalError",
        "Config failed to evaluate the resources in scope of the rule.",
    ),
    "failing_invocation": (
        "LastFailedInvocationTime",
        "AccessDeniedException",
        "Config could not invoke the rule: the role is not authorized to perform the call.",
    ),
}


def evaluation_status(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """The named rules, or every rule of the region's packs, by name, one page at a time."""
    params = Params(OPERATION, payload)
    wanted = shelf.named_rules(params.strings("ConfigRuleNames"))
    places = shelf.rule_places
    query = query_key(OPERATION, shelf.account, shelf.region, wanted)
    names = wanted or shelf.rule_names
    start = after(names, tokens.read(params.string("NextToken"), query))
    page, more = take(names[start:], params.page_size)
    seen: dict[int, SimulatedPack] = {}
    statuses = []
    for name in page:
        pack_position, rule_position = places[name]
        if pack_position not in seen:
            seen[pack_position] = shelf.packs[pack_position].effective(started_at, now)
        pack = seen[pack_position]
        statuses.append(_status(shelf, name, pack, pack.rules[rule_position]))
    result: dict[str, object] = {"ConfigRulesEvaluationStatus": statuses}
    if more:
        result["NextToken"] = tokens.issue(query, page[-1])
    return result


def _status(shelf: Shelf, name: str, pack: SimulatedPack, rule: SimulatedRule) -> dict[str, object]:
    """Rules are activated when their pack is deployed and last ran when it was last scored."""
    activated = pack.requested_at if pack.completed_at is None else pack.completed_at
    last_run = activated if pack.scored_at is None else max(pack.scored_at, activated)
    digest = hashlib.sha256(f"{shelf.account}/{shelf.region}/{name}".encode()).digest()
    rule_id = f"config-rule-{base64.b32encode(digest).decode()[:6].lower()}"
    status: dict[str, object] = {
        "ConfigRuleName": name,
        "ConfigRuleArn": f"arn:aws:config:{shelf.region}:{shelf.account}:config-rule/{rule_id}",
        "ConfigRuleId": rule_id,
        "FirstActivatedTime": round(activated, 3),
        "FirstEvaluationStarted": rule.evaluation != "not_started",
    }
    if rule.evaluation == "ok":
        status["LastSuccessfulInvocationTime"] = round(last_run, 3)
        status["LastSuccessfulEvaluationTime"] = round(last_run, 3)
    elif rule.evaluation in _FAILURES:
        failed_member, code, message = _FAILURES[rule.evaluation]
        failed = max(last_run, activated + _RETRY_SECONDS)
        status["LastSuccessfulInvocationTime"] = round(
            activated if failed_member == "LastFailedInvocationTime" else failed, 3
        )
        status["LastSuccessfulEvaluationTime"] = round(activated, 3)
        status[failed_member] = round(failed, 3)
        status["LastErrorCode"] = code
        status["LastErrorMessage"] = message
    return status
