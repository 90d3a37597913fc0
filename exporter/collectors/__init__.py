"""The collectors: each turns one target's AWS answers into samples. Adding one means a module
here, its families in exporter/metrics.py, and a line in COLLECTORS.
"""

from __future__ import annotations

from typing import Any

from exporter.aws import organizations
from exporter.collection import Collector
from exporter.collectors.aggregator import AggregatorCollector
from exporter.collectors.compliance import ComplianceCollector
from exporter.collectors.organization import OrganizationCollector
from exporter.collectors.pipeline import PipelineCollector
from exporter.collectors.status import StatusCollector
from exporter.config import Config
from exporter.discovery import AccountDiscovery
from exporter.pack_rules import PackRules

# The compliance collector comes before the aggregator one: the families they share keep its
# place and HELP in the exposition.
COLLECTORS = (
    StatusCollector,
    OrganizationCollector,
    ComplianceCollector,
    AggregatorCollector,
    PipelineCollector,
)

# Every AWS operation the exporter may call, as IAM actions: clients refuse any other, and
# the policies under deploy/iam/ are checked against this set. Account discovery lists the
# organisation's accounts.
IAM_ACTIONS = frozenset(
    {"sts:AssumeRole", "sts:GetCallerIdentity"}.union(
        organizations.IAM_ACTIONS, *(c.IAM_ACTIONS for c in COLLECTORS)
    )
)


# Every name `/metrics?collect[]=` accepts, whether or not the configuration turns it on.
COLLECTOR_NAMES = (*(c.name for c in COLLECTORS), AccountDiscovery.name)


def build_collectors(config: Config, service_model: Any) -> list[Collector]:
    """The collectors `config` switches on, in exposition order. The compliance collector
    records each target's rule names in one `PackRules`, which the pipeline collector reads."""
    pack_rules = PackRules()
    built = (collector.from_config(config, service_model, pack_rules) for collector in COLLECTORS)
    return [collector for collector in built if collector is not None]
