"""Remediations of simulated rules: the SSM document AWS runs to fix a non-compliant resource,
and the latest execution per resource, so the remediation operations can report fixes that
work, wait and fail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from exporter.simulator.service_model import conforms, enum_values


@dataclass(frozen=True)
class RemediationExecution:
    """The latest remediation of one resource; `state` is a RemediationExecutionState and
    `error` the message of the failed step (FAILED only)."""

    resource_id: str
    state: str = "SUCCEEDED"
    error: str = ""

    def __post_init__(self) -> None:
        states = enum_values("RemediationExecutionState")
        if self.state not in states:
            raise ValueError(
                f"execution {self.resource_id!r}: {self.state!r} is not one of {states}"
            )
        if bool(self.error) != (self.state == "FAILED"):
            raise ValueError(f"execution {self.resource_id!r}: an error goes with FAILED only")


@dataclass(frozen=True)
class SimulatedRemediation:
    """A rule's remediation configuration (an SSM document run on each non-compliant
    resource of `resource_type`, by AWS itself when `automatic`) and its executions."""

    target_id: str
    automatic: bool = True
    resource_type: str = "AWS::S3::Bucket"
    executions: tuple[RemediationExecution, ...] = ()
    maximum_attempts: int = 5
    retry_seconds: int = 60

    def __post_init__(self) -> None:
        if not conforms("StringWithCharLimit256", self.target_id):
            raise ValueError(f"remediation target id {self.target_id!r} is not a valid TargetId")
        if not conforms("ResourceType", self.resource_type):
            raise ValueError(f"remediation resource type {self.resource_type!r} is unknown")
        seen = Counter(execution.resource_id for execution in self.executions)
        twice = sorted(resource for resource, count in seen.items() if count > 1)
        if twice:
            raise ValueError(f"AWS keeps one execution per resource; repeated: {twice}")
