"""The configuration's frozen dataclasses and what every part of its reader shares, kept apart
so that config.py and the account and aggregator readers import them without a cycle.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import botocore.session

from exporter.strict_yaml import ConfigNode


@dataclass(frozen=True)
class AccountConfig:
    """One account to read: a role to assume, a named profile, or (neither) the default chain."""

    name: str = ""
    role_arn: str = ""
    external_id: str = ""
    session_name: str = "conformance-pack-exporter"
    duration_seconds: int = 3600
    profile: str = ""
    regions: tuple[str, ...] = ()

    @property
    def account_id(self) -> str:
        """The id in the role ARN; '' when it has to be learned."""
        return self.role_arn.split(":")[4] if self.role_arn else ""


# Which per-rule series are served: the series of every rule grow with the rules (up to
# 1,000 a region), so large estates can keep only the failing ones, or none.
RuleSeries = Literal["all", "noncompliant", "none"]
RULE_SERIES: tuple[RuleSeries, ...] = get_args(RuleSeries)


@dataclass(frozen=True)
class ComplianceConfig:
    """Per-rule compliance: on by default, re-read from AWS at most every `interval_seconds`.

    The compliance calls cost more than the status ones, so by default they are not repeated
    on every scrape (0 does repeat them); the resource counts cost one more call per 25
    non-compliant rules and a series per rule, so they are opt-in. `rule_series` sets the
    per-rule series of both compliance and the pipeline (`none` drops the resource counts
    too); the per-pack counts and verdicts stay in every mode. `remediation` reads the rules'
    remediations too: a call per 25 rules and one per rule with a remediation, so opt-in.
    """

    enabled: bool = True
    interval_seconds: float = 300.0
    noncompliant_resources: bool = False
    rule_series: RuleSeries = "all"
    remediation: bool = False


@dataclass(frozen=True)
class PipelineConfig:
    """The Config pipeline under the packs (recorders, delivery, rule evaluation): on by
    default, read at most every `interval_seconds` like compliance, since it changes as slowly.

    Its per-rule series follow `compliance.rule_series`.
    """

    enabled: bool = True
    interval_seconds: float = 300.0


@dataclass(frozen=True)
class AggregatorConfig:
    """An AWS Config aggregator whose organisation-wide pack compliance is exported.

    It is read with the exporter's own client of `account` (a configured account's name or
    id; '' for the first account) in `region`, so no credentials exist only for it.
    """

    name: str
    region: str
    account: str = ""


@dataclass(frozen=True)
class OrganizationAccountsConfig:
    """The accounts of an AWS Organization, listed with the base credentials and each read
    through the same role; `regions` empty means the top-level ones."""

    role_name: str
    external_id: str = ""
    session_name: str = "conformance-pack-exporter"
    duration_seconds: int = 3600
    regions: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    refresh_interval_seconds: float = 3600.0

    def member(self, account_id: str, partition: str) -> AccountConfig:
        """How a discovered member account is read: through the role, in the given regions."""
        return AccountConfig(
            role_arn=f"arn:{partition}:iam::{account_id}:role/{self.role_name}",
            external_id=self.external_id,
            session_name=self.session_name,
            duration_seconds=self.duration_seconds,
            regions=self.regions,
        )


@dataclass(frozen=True)
class Config:
    """Everything the exporter can be told; the defaults are safe for a 10 s scrape timeout."""

    regions: tuple[str, ...] = ()
    allow_unknown_regions: bool = False  # for a region newer than the installed botocore
    accounts: tuple[AccountConfig, ...] = ()
    # Floods of unauthenticated /metrics or /probe requests read AWS once per target per 5 s.
    min_interval_seconds: float = 5.0
    organization_conformance_packs: bool = False
    # Organization pack deployments change over minutes and a read costs a call per pack.
    organization_interval_seconds: float = 300.0
    conformance_packs: tuple[str, ...] = ()
    export_status_reason: bool = True
    concurrency: int = 64
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    total_max_attempts: int = 3
    default_scrape_timeout_seconds: float = 10.0
    scrape_timeout_offset_seconds: float = 0.5
    compliance: ComplianceConfig = dataclasses.field(default_factory=ComplianceConfig)
    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    aggregators: tuple[AggregatorConfig, ...] = ()
    organization_accounts: OrganizationAccountsConfig | None = None

    @property
    def base_account(self) -> AccountConfig | None:
        """The default credentials' account when no `accounts` are listed; None when they are.

        With discovery on, it is read in the discovery regions: it is one of the
        organisation's accounts, read with its own credentials rather than a role into itself.
        """
        if self.accounts:
            return None
        discovery = self.organization_accounts
        return AccountConfig(regions=discovery.regions if discovery else ())


@functools.cache
def model_name(shape: str) -> tuple[re.Pattern[str], int]:
    """A name's pattern and longest length in AWS Config's model, as the installed botocore
    has it: the API's own limits, so a name AWS would refuse fails at start instead."""
    model = botocore.session.get_session().get_service_model("config")
    metadata = model.shape_for(shape).metadata
    return re.compile(metadata["pattern"], re.ASCII), int(metadata["max"])


# How each key is read, in the order the unknown-key message lists them.
Readers = Mapping[str, Callable[[ConfigNode], Any]]


def read_mapping(
    node: ConfigNode, readers: Readers, *, null_is_empty: bool = False
) -> dict[str, Any]:
    """A mapping's values, each through its key's reader; unknown keys are errors."""
    values = node.mapping(tuple(readers), null_is_empty=null_is_empty)
    return {name: readers[name](value) for name, value in values.items()}
