"""Aggregators: every pack's compliance across an organisation, from AWS Config aggregators.

An aggregator already holds the compliance of every account and region of an organisation, so
one paginated call (100 packs a page) replaces the per-target compliance reads where the
exporter has no role to assume. Rows become the compliance collector's verdict and rule-count
families, labelled with the row's own account and region, so dashboards and alerts work
unchanged. An account and region the compliance collector reads directly is taken from that
read only: its rows are skipped here, so no series is ever served twice.

Example exposition::

    aws_config_conformance_pack_compliance{account_id="210987654321",region="eu-west-1",
        conformance_pack="security",compliance="NON_COMPLIANT"} 1.0
    aws_config_conformance_pack_rules{account_id="210987654321",region="eu-west-1",
        conformance_pack="security",compliance="INSUFFICIENT_DATA"} 2.0
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import botocore.exceptions
from prometheus_client.samples import Sample

from exporter.aws.errors import UnknownAccountIdError, error_code
from exporter.aws.pages import read_all_pages
from exporter.aws.targets import Target
from exporter.collection import ReadPolicy
from exporter.collectors import aggregator_sources
from exporter.config import AggregatorConfig, Config
from exporter.deadline import Deadline
from exporter.metrics import COMPLIANCE, COMPLIANCE_HELP, RULES, SOURCE_HELP, one_hot
from exporter.pack_rules import PackRules

OPERATION = "describe_aggregate_compliance_by_conformance_packs"
RESULT_KEY = "AggregateComplianceByConformancePacks"
PAGE_SIZE = 100  # the operation's maximum
FAMILIES = (COMPLIANCE, RULES)
DENIED = frozenset({"AccessDenied", "AccessDeniedException"})

log = logging.getLogger(__name__)


def fetch_aggregate_compliance(
    client: Any, aggregator: str, deadline: Deadline
) -> list[dict[str, Any]]:
    """Every row the aggregator holds: one per (account, region, pack) of the organisation."""
    return read_all_pages(
        client, OPERATION, RESULT_KEY, PAGE_SIZE, deadline, ConfigurationAggregatorName=aggregator
    )


def rule_counts(compliance: Mapping[str, Any]) -> dict[str, int]:
    """The pack's rules per compliance value; AWS counts two values, the third is the rest."""
    compliant = int(compliance.get("CompliantRuleCount", 0))
    non_compliant = int(compliance.get("NonCompliantRuleCount", 0))
    rest = int(compliance["TotalRuleCount"]) - compliant - non_compliant
    return {
        "COMPLIANT": compliant,
        "NON_COMPLIANT": non_compliant,
        "INSUFFICIENT_DATA": max(rest, 0),
    }


def aggregate_samples(
    rows: Iterable[Mapping[str, Any]],
    values: Sequence[str],
    skipped: Collection[tuple[str, str]] = (),
    pack_names: Collection[str] = (),
) -> dict[str, list[Sample]]:
    """Samples for the aggregator rows, but for the (account id, region) pairs `skipped`.

    `values` are the model's compliance types; `pack_names`, when given, the packs to keep.
    A pack reported twice (two aggregators of one organisation) is taken from its first row.
    """
    kept: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for row in rows:
        target = (row.get("AccountId", ""), row.get("AwsRegion", ""))
        pack = row.get("ConformancePackName", "")
        wanted = not pack_names or pack in pack_names
        if all((*target, pack)) and wanted and target not in skipped:
            kept.setdefault((*target, pack), row)
    samples: dict[str, list[Sample]] = {name: [] for name in FAMILIES}
    for (account_id, region, pack), row in sorted(kept.items(), key=lambda item: item[0]):
        labels = {"account_id": account_id, "region": region, "conformance_pack": pack}
        compliance = row.get("Compliance", {})
        if "ComplianceType" in compliance:
            samples[COMPLIANCE] += one_hot(
                COMPLIANCE, labels, "compliance", compliance["ComplianceType"], values
            )
        if "TotalRuleCount" in compliance:
            counts = rule_counts(compliance)
            for value in [*values, *sorted(set(counts) - set(values))]:
                count = float(counts.get(value, 0))
                samples[RULES].append(Sample(RULES, {**labels, "compliance": value}, count))
    return samples


def _route(aggregator: AggregatorConfig, targets: Sequence[Target]) -> Target:
    """The target an aggregator is read through: its account's client in its region."""
    for target in targets:
        if aggregator.account:
            same_account = aggregator.account in (target.account.name, target.account.account_id)
        else:
            same_account = target.account is targets[0].account
        if same_account and target.region == aggregator.region:
            return target
    who = f"account {aggregator.account!r}" if aggregator.account else "the first account"
    raise ValueError(
        f"aggregator {aggregator.name!r}: {who} is not read in region {aggregator.region!r}"
    )


class AggregatorCollector:
    """Organisation-wide pack compliance from the configured aggregators, refreshed in the
    background on the compliance interval."""

    name = "aggregator"
    IAM_ACTIONS = frozenset(
        {"config:DescribeAggregateComplianceByConformancePacks", aggregator_sources.IAM_ACTION}
    )

    def __init__(self, config: Config, service_model: Any) -> None:
        self.values = tuple(service_model.shape_for("ConformancePackComplianceType").enum)
        self.source_statuses = tuple(service_model.shape_for("AggregatedSourceStatusType").enum)
        self._aggregators = config.aggregators
        self._pack_names = frozenset(config.conformance_packs)
        self._read_directly = config.compliance.enabled
        self.help_texts: Mapping[str, str] = {
            **{name: COMPLIANCE_HELP[name] for name in FAMILIES},
            **SOURCE_HELP,
        }
        # Two aggregators of one organisation hold the same rows: the scrape serves each once.
        self.policy = ReadPolicy(
            config.compliance.interval_seconds, background=True, overlapping=True
        )
        self._routes: dict[Target, tuple[str, ...]] = {}
        self._direct: tuple[Target, ...] = ()

    @classmethod
    def from_config(
        cls, config: Config, service_model: Any, pack_rules: PackRules
    ) -> AggregatorCollector | None:
        """On when `aggregators` lists any."""
        return cls(config, service_model) if config.aggregators else None

    def targets(self, targets: Sequence[Target]) -> Sequence[Target]:
        """The targets the aggregators are read through, each reading its aggregators in
        configured order. Remembers every target: with compliance on, the compliance collector
        reads each of them directly, and those reads win."""
        routes: dict[Target, list[str]] = {}
        for aggregator in self._aggregators:
            routes.setdefault(_route(aggregator, targets), []).append(aggregator.name)
        self._routes = {target: tuple(names) for target, names in routes.items()}
        self._direct = tuple(targets) if self._read_directly else ()
        return list(self._routes)

    def read(self, target: Target, deadline: Deadline) -> dict[str, list[Sample]]:
        """The target's aggregators' rows as samples, less those of directly read targets,
        and their sources' last updates."""
        skipped = self._directly_read()
        rows = [
            row
            for aggregator in self._routes[target]
            for row in fetch_aggregate_compliance(target.client, aggregator, deadline)
        ]
        sources = [
            (aggregator, source)
            for aggregator in self._routes[target]
            for source in self._sources(target, aggregator, deadline)
        ]
        return {
            **aggregate_samples(rows, self.values, skipped, self._pack_names),
            **aggregator_sources.source_samples(sources, self.source_statuses),
        }

    @staticmethod
    def _sources(target: Target, aggregator: str, deadline: Deadline) -> list[dict[str, Any]]:
        """The aggregator's sources; none when the policy predates that read (access denied),
        so an old policy keeps the aggregated compliance: the denial is logged and counted."""
        try:
            return aggregator_sources.fetch_sources(target.client, aggregator, deadline)
        except botocore.exceptions.ClientError as error:
            if error_code(error) not in DENIED:
                raise
            log.warning(
                "aggregator sources not readable",
                extra={
                    "aggregator": aggregator,
                    "region": target.region,
                    "error_code": error_code(error),
                },
            )
            return []

    def _directly_read(self) -> set[tuple[str, str]]:
        """(account id, region) of every directly read target; learning an id asks STS once
        per account, ever, and most are known from the role ARN or the first read anyway."""
        pairs = set()
        for target in self._direct:
            account_id = target.account.resolve_account_id()
            if not account_id:
                account = target.account.name or "of the default credentials"
                raise UnknownAccountIdError(f"cannot learn the id of account {account}")
            pairs.add((account_id, target.region))
        return pairs
