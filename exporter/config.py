"""The configuration file: YAML read into frozen dataclasses, validated strictly on load.

Errors name the file, the key and the YAML line so a bad deployment fails at start with one
actionable message instead of a traceback or a silently ignored typo.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.config_accounts import (
    account_readers,
    check_role_chaining,
    read_accounts,
    read_organization_accounts,
)
from exporter.config_aggregators import aggregator_readers, check_aggregators, read_aggregators
from exporter.config_types import RULE_SERIES, Readers, model_name, read_mapping

# The dataclasses are re-exported: callers know them from this module.
from exporter.config_types import AccountConfig as AccountConfig
from exporter.config_types import AggregatorConfig as AggregatorConfig
from exporter.config_types import ComplianceConfig as ComplianceConfig
from exporter.config_types import Config as Config
from exporter.config_types import OrganizationAccountsConfig as OrganizationAccountsConfig
from exporter.config_types import PipelineConfig as PipelineConfig

# REGION_PATTERN is re-exported: the syntax of a region name is checked before its existence.
from exporter.regions import REGION_PATTERN as REGION_PATTERN
from exporter.regions import region_problem

# ConfigError and read_config_text are re-exported: callers know them from this module.
from exporter.strict_yaml import ConfigError as ConfigError
from exporter.strict_yaml import ConfigNode, parse_yaml
from exporter.strict_yaml import read_config_text as read_config_text


def _pack_names(node: ConfigNode) -> tuple[str, ...]:
    """The packs to read: valid ConformancePackNames, at most 1000 of them."""
    pattern, max_length = model_name("ConformancePackName")
    return node.strings(pattern, "conformance pack name", 1000, max_length)


def _regions(allow_unknown: bool) -> Callable[[ConfigNode], tuple[str, ...]]:
    """The reader of a regions list: well-formed names botocore knows, unless told otherwise.

    The line is the unknown name's own; the key is the list's, as for its other item errors.
    """

    def read(node: ConfigNode) -> tuple[str, ...]:
        regions = node.strings(REGION_PATTERN, "region")
        for item, name in zip(node.sequence("regions"), regions, strict=True):
            problem = region_problem(name, allow_unknown=allow_unknown)
            if problem is not None:
                raise node.error(problem, item.node)
        return regions

    return read


_COMPLIANCE: Readers = {
    "enabled": ConfigNode.boolean,
    "interval_seconds": lambda node: node.seconds(0, 86400),
    "noncompliant_resources": ConfigNode.boolean,
    "rule_series": lambda node: node.one_of(RULE_SERIES),
    "remediation": ConfigNode.boolean,
}

_PIPELINE: Readers = {
    "enabled": ConfigNode.boolean,
    "interval_seconds": lambda node: node.seconds(0, 86400),
}


def _config_readers(allow_unknown_regions: bool) -> Readers:
    """How the top-level keys are read; the region check depends on one of them."""
    regions = _regions(allow_unknown_regions)
    accounts = account_readers(regions)
    aggregators = aggregator_readers(allow_unknown_regions)
    return {
        "regions": regions,
        "allow_unknown_regions": ConfigNode.boolean,
        "accounts": lambda node: read_accounts(node, accounts),
        "min_interval_seconds": lambda node: node.seconds(0, 3600),
        "organization_conformance_packs": ConfigNode.boolean,
        "organization_interval_seconds": lambda node: node.seconds(0, 86400),
        "conformance_packs": _pack_names,
        "export_status_reason": ConfigNode.boolean,
        "concurrency": lambda node: node.integer(1, 256),
        "connect_timeout_seconds": lambda node: node.seconds(0.1, 60),
        "read_timeout_seconds": lambda node: node.seconds(0.1, 120),
        "total_max_attempts": lambda node: node.integer(1, 10),
        "default_scrape_timeout_seconds": lambda node: node.seconds(1, 600),
        "scrape_timeout_offset_seconds": lambda node: node.seconds(0, 10),
        "compliance": lambda node: ComplianceConfig(**read_mapping(node, _COMPLIANCE)),
        "pipeline": lambda node: PipelineConfig(**read_mapping(node, _PIPELINE)),
        "aggregators": lambda node: read_aggregators(node, aggregators),
        "organization_accounts": lambda node: read_organization_accounts(node, regions),
    }


def _allows_unknown_regions(root: ConfigNode) -> bool:
    """Whether the file sets allow_unknown_regions: true, wherever the key is in the file.

    A bad value is reported before anything else: the regions it was meant to allow would
    otherwise be blamed. A bad mapping is left for the full read.
    """
    try:
        node = root.mapping(None, null_is_empty=True).get("allow_unknown_regions")
    except ConfigError:
        return False
    return node is not None and node.boolean()


def parse_config(
    text: str, path: str, base_is_role: Callable[[], bool | None] = lambda: None
) -> Config:
    """Parse and validate config text; `path` is only used in error messages.

    `base_is_role` tells whether the exporter's own credentials are a role session (None:
    unknown), for the one check that depends on them.
    """
    root = parse_yaml(text, path)
    readers = _config_readers(_allows_unknown_regions(root))
    config = Config(**read_mapping(root, readers, null_is_empty=True))
    check_aggregators(root, config)
    check_role_chaining(root, config, base_is_role)
    return config


def load_config(path: str, base_is_role: Callable[[], bool | None] = lambda: None) -> Config:
    """Read and validate the config file at `path` (see parse_config)."""
    return parse_config(read_config_text(path), path, base_is_role)
