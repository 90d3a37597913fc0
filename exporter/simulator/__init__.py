"""AWS Config and STS simulator speaking the real wire protocols on loopback.

The demo mode, the integration tests and the benchmarks need an AWS that is always reachable,
deterministic and able to misbehave on demand. Real boto3 clients talk to it unchanged through
``endpoint_url``, so everything from SigV4 signing to botocore's response parsers is exercised.
Only the CLI's ``--demo``, tests and benchmarks import it.
"""

from exporter.simulator.aggregator import SimulatedAggregator, SourceStatus
from exporter.simulator.cli import main
from exporter.simulator.compliance import (
    EVALUATIONS,
    INSUFFICIENT_DATA,
    ComplianceChange,
    Evaluation,
    Score,
    SimulatedRule,
)
from exporter.simulator.demo import DEMO_REGIONS, demo_scenario
from exporter.simulator.faults import FAULT_KINDS, Fault, FaultKind
from exporter.simulator.organization import MemberPack, OrganizationPack
from exporter.simulator.packs import (
    PackIds,
    PackState,
    PackType,
    SimulatedPack,
    Transition,
    pack_ids,
)
from exporter.simulator.pipeline import (
    Delivery,
    RecorderChange,
    SimulatedDeliveryChannel,
    SimulatedRecorder,
    healthy_pipeline,
)
from exporter.simulator.remediation import RemediationExecution, SimulatedRemediation
from exporter.simulator.scenario import DEFAULT_ACCOUNT, Scenario, generated_scenario
from exporter.simulator.server import ConfigSimulator
from exporter.simulator.sts import AssumeRoleCall

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEMO_REGIONS",
    "EVALUATIONS",
    "FAULT_KINDS",
    "INSUFFICIENT_DATA",
    "AssumeRoleCall",
    "ComplianceChange",
    "ConfigSimulator",
    "Delivery",
    "Evaluation",
    "Fault",
    "FaultKind",
    "MemberPack",
    "OrganizationPack",
    "PackIds",
    "PackState",
    "PackType",
    "RecorderChange",
    "RemediationExecution",
    "Scenario",
    "Score",
    "SimulatedAggregator",
    "SimulatedDeliveryChannel",
    "SimulatedPack",
    "SimulatedRecorder",
    "SimulatedRemediation",
    "SimulatedRule",
    "SourceStatus",
    "Transition",
    "demo_scenario",
    "generated_scenario",
    "healthy_pipeline",
    "main",
    "pack_ids",
]
