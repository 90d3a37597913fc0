"""The aggregators the configuration names, read and checked: each one is read through an
account the exporter reads, in a region it reads that account in.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.config_accounts import NAME_PATTERN
from exporter.config_types import (
    AccountConfig,
    AggregatorConfig,
    Config,
    Readers,
    model_name,
    read_mapping,
)
from exporter.regions import REGION_PATTERN, region_problem
from exporter.strict_yaml import ConfigNode


def _model_name_reader(shape: str, what: str) -> Callable[[ConfigNode], str]:
    """The reader of a name the model's `shape` constrains."""

    def read(node: ConfigNode) -> str:
        pattern, max_length = model_name(shape)
        return node.string(pattern, what, max_length)

    return read


def aggregator_readers(allow_unknown_regions: bool) -> Readers:
    """How an aggregator's keys are read; its region is checked like every other one."""

    def region(node: ConfigNode) -> str:
        name = node.string(REGION_PATTERN, "region")
        problem = region_problem(name, allow_unknown=allow_unknown_regions)
        if problem is not None:
            raise node.error(problem)
        return name

    return {
        "name": _model_name_reader("ConfigurationAggregatorName", "aggregator name"),
        "region": region,
        "account": lambda node: node.string(NAME_PATTERN, "account name or id"),
    }


def read_aggregators(node: ConfigNode, readers: Readers) -> tuple[AggregatorConfig, ...]:
    """The aggregators list; whether the exporter reads their accounts is checked afterwards."""
    aggregators = []
    for item in node.sequence("aggregators"):
        values = read_mapping(item, readers)
        for required in ("name", "region"):
            if required not in values:
                raise item.missing(required, "missing: an aggregator needs a name and a region")
        aggregators.append(AggregatorConfig(**values))
    return tuple(aggregators)


def _aggregator_account(config: Config, aggregator: AggregatorConfig) -> AccountConfig | None:
    """The configured account an aggregator is read with: named, or the first; None if none."""
    if not aggregator.account:
        return config.base_account or config.accounts[0]
    named = [a for a in config.accounts if aggregator.account in (a.name, a.account_id)]
    return named[0] if named else None


def check_aggregators(root: ConfigNode, config: Config) -> None:
    """Every aggregator is read through a target: an account the exporter reads, in a region
    it reads that account in. Aggregators are few: their nodes are looked up again here."""
    if not config.aggregators:
        return
    items = root.mapping(None)["aggregators"].sequence("aggregators")
    seen: dict[tuple[str, str, str], str] = {}
    for item, aggregator in zip(items, config.aggregators, strict=True):
        nodes = item.mapping(None)
        account = _aggregator_account(config, aggregator)
        if account is None:
            known = [a.name or a.account_id for a in config.accounts if a.name or a.account_id]
            raise nodes["account"].error(
                f"no account in `accounts` is named {aggregator.account!r} or has that id"
                f" in its role ARN (known: {', '.join(known) or 'none'})"
            )
        label = account.name or account.account_id
        who = f"account {label!r}" if label else "the default credentials' account"
        regions = account.regions or config.regions
        if not regions:
            raise nodes["region"].error(
                f"{who} is read in the SDK's region, unknown until start; list its regions"
                " in `regions`"
            )
        if aggregator.region not in regions:
            where = "the top-level `regions`"
            if account.regions:
                where = "its `regions`" if config.accounts else "`organization_accounts.regions`"
            raise nodes["region"].error(
                f"{who} is not read in region {aggregator.region!r}; add the region to {where}"
            )
        key = (aggregator.name, label, aggregator.region)
        if key in seen:
            raise item.error(f"the same aggregator as {seen[key]}")
        seen[key] = item.key
