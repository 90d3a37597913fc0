"""The compliance operations: each pack's verdict and score, and each rule's compliance with its
count of non-compliant resources, read from the packs of one (account, region)."""

from __future__ import annotations

from exporter.simulator.compliance import Score, pack_compliance, score_text
from exporter.simulator.errors import client_error
from exporter.simulator.packs import Shelf, SimulatedPack, pack_ids
from exporter.simulator.paging import PageTokens, after, query_key, take
from exporter.simulator.service_model import Params

SUMMARY = "GetConformancePackComplianceSummary"
SCORES = "ListConformancePackComplianceScores"
PACK_RULES = "DescribeConformancePackCompliance"
RULES = "DescribeComplianceByConfigRule"
# DescribeComplianceByConfigRule takes no Limit and AWS does not document its page size.
_RULE_PAGE = 25
_CONTRIBUTOR_CAP = 100


def compliance_summary(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """GetConformancePackComplianceSummary: the verdict of each named pack."""
    params = Params(SUMMARY, payload)
    names = sorted(set(params.strings("ConformancePackNames")))
    packs = [_existing_pack(shelf, name) for name in names]
    query = query_key(SUMMARY, shelf.account, shelf.region, names)
    start = after(names, tokens.read(params.string("NextToken"), query))
    page, more = take(packs[start:], params.page_size)
    result: dict[str, object] = {
        "ConformancePackComplianceSummaryList": [
            {
                "ConformancePackName": pack.name,
                "ConformancePackComplianceStatus": pack_compliance(
                    pack.effective(started_at, now).rules
                ),
            }
            for pack in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1].name)
    return result


def compliance_scores(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """ListConformancePackComplianceScores: packs with a score, by name or by score.

    Sorted by score, INSUFFICIENT_DATA comes last ascending and first descending, as AWS says.
    """
    params = Params(SCORES, payload)
    wanted = set(params.strings("Filters", "ConformancePackNames"))
    by_score = params.string("SortBy") == "SCORE"
    descending = params.string("SortOrder") == "DESCENDING"
    scored = [
        (pack, pack.score)
        for pack in (
            stored.effective(started_at, now)
            for stored in shelf.packs
            if not wanted or stored.name in wanted
        )
        if pack.score is not None
    ]
    scored.sort(key=_score_order if by_score else _name_order, reverse=descending)
    query = query_key(SCORES, shelf.account, shelf.region, sorted(wanted), by_score, descending)
    position = tokens.read(params.string("NextToken"), query)
    start = int(position) if position else 0
    page, more = take(scored[start:], params.page_size)
    result: dict[str, object] = {
        "ConformancePackComplianceScores": [
            {
                "Score": score_text(score),
                "ConformancePackName": pack.name,
                "LastUpdatedTime": round(
                    pack.requested_at if pack.scored_at is None else pack.scored_at, 3
                ),
            }
            for pack, score in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, str(start + len(page)))
    return result


def pack_rule_compliance(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """DescribeConformancePackCompliance: the compliance of each rule of one pack."""
    params = Params(PACK_RULES, payload)
    name = params.string("ConformancePackName") or ""
    pack = _existing_pack(shelf, name).effective(started_at, now)
    rule_name = pack_ids(shelf.account, shelf.region, pack.name).rule_name
    rules = sorted(((rule_name(rule.name), rule) for rule in pack.rules), key=lambda it: it[0])
    names = [served for served, _ in rules]
    wanted = set(params.strings("Filters", "ConfigRuleNames"))
    if wanted - set(names):
        raise client_error(
            "NoSuchConfigRuleInConformancePackException",
            f"Config rule(s) {sorted(wanted - set(names))} not found in conformance pack {name}.",
        )
    compliance = params.string("Filters", "ComplianceType")
    query = query_key(PACK_RULES, shelf.account, shelf.region, name, sorted(wanted), compliance)
    start = after(names, tokens.read(params.string("NextToken"), query))
    page, more = take(
        (
            (served, rule)
            for served, rule in rules[start:]
            if (not wanted or served in wanted) and compliance in (None, rule.compliance)
        ),
        params.page_size,
    )
    result: dict[str, object] = {
        "ConformancePackName": pack.name,
        "ConformancePackRuleComplianceList": [
            {"ConfigRuleName": served, "ComplianceType": rule.compliance, "Controls": []}
            for served, rule in page
        ],
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1][0])
    return result


def rule_compliance(
    payload: dict[str, object], shelf: Shelf, tokens: PageTokens, started_at: float, now: float
) -> dict[str, object]:
    """DescribeComplianceByConfigRule: each rule's compliance, with non-compliant resources
    counted up to 100 as AWS caps them. Names are as long as the model's ConfigRuleName allows
    (`Params` refuses longer ones), the same limit pack rules are named within.
    """
    params = Params(RULES, payload)
    wanted = shelf.named_rules(params.strings("ConfigRuleNames"))
    places = shelf.rule_places
    types = set(params.strings("ComplianceTypes"))
    query = query_key(RULES, shelf.account, shelf.region, wanted, sorted(types))
    names = wanted or shelf.rule_names
    start = after(names, tokens.read(params.string("NextToken"), query))
    seen: dict[int, SimulatedPack] = {}

    def judged(name: str) -> tuple[str, str, int]:
        pack_position, rule_position = places[name]
        if pack_position not in seen:
            seen[pack_position] = shelf.packs[pack_position].effective(started_at, now)
        rule = seen[pack_position].rules[rule_position]
        return name, rule.compliance, rule.non_compliant_resources

    page, more = take(
        (verdict for verdict in map(judged, names[start:]) if not types or verdict[1] in types),
        _RULE_PAGE,
    )
    result: dict[str, object] = {
        "ComplianceByConfigRules": [
            {"ConfigRuleName": name, "Compliance": _compliance(compliance, count)}
            for name, compliance, count in page
        ]
    }
    if more:
        result["NextToken"] = tokens.issue(query, page[-1][0])
    return result


def _existing_pack(shelf: Shelf, name: str) -> SimulatedPack:
    pack = shelf.find(name)
    if pack is None:
        raise client_error(
            "NoSuchConformancePackException",
            f"You specified one or more conformance packs that do not exist: {name}.",
        )
    return pack


def _compliance(compliance: str, non_compliant_resources: int) -> dict[str, object]:
    if compliance != "NON_COMPLIANT":
        return {"ComplianceType": compliance}
    return {
        "ComplianceType": compliance,
        "ComplianceContributorCount": {
            "CappedCount": min(non_compliant_resources, _CONTRIBUTOR_CAP),
            "CapExceeded": non_compliant_resources > _CONTRIBUTOR_CAP,
        },
    }


def _name_order(scored: tuple[SimulatedPack, Score]) -> str:
    return scored[0].name


def _score_order(scored: tuple[SimulatedPack, Score]) -> tuple[bool, float, str]:
    pack, score = scored
    return isinstance(score, str), 0.0 if isinstance(score, str) else score, pack.name
