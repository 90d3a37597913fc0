"""Recorders and delivery channels as scenarios build them: the model's names and enums, AWS's
one-per-region rules, and recorder timelines resolved against the simulator's clock."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.simulator import (
    DEFAULT_ACCOUNT,
    Delivery,
    RecorderChange,
    SimulatedDeliveryChannel,
    SimulatedRecorder,
)
from exporter.simulator.pipeline import Pipeline
from tests.simulator.conftest import NOW


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SimulatedRecorder(last_status="Broken"), "not a RecorderStatus"),
        (lambda: SimulatedRecorder(recording_scope="FREE"), "not a RecordingScope"),
        (lambda: SimulatedRecorder(""), "not a RecorderName"),
        (lambda: SimulatedRecorder(service_principal="a b"), "not a ServicePrincipal"),
        (lambda: RecorderChange(10, last_status="FAILURE"), "not a RecorderStatus"),
        (lambda: Delivery("Not_applicable"), "not a DeliveryStatus"),
        (lambda: SimulatedDeliveryChannel(""), "not a ChannelName"),
    ],
)
def test_values_off_the_model_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("recorders", "channels"),
    [
        ([SimulatedRecorder("a"), SimulatedRecorder("b")], []),
        ([SimulatedRecorder("a", service_principal="x.amazonaws.com")] * 2, []),
        ([], [SimulatedDeliveryChannel("a"), SimulatedDeliveryChannel("b")]),
    ],
)
def test_more_than_aws_allows_per_region_is_refused(recorders: Any, channels: Any) -> None:
    with pytest.raises(ValueError, match=DEFAULT_ACCOUNT):
        Pipeline(DEFAULT_ACCOUNT, "us-east-1", recorders, channels)


def test_a_recorder_without_times_started_with_the_simulator_and_restarts_on_its_timeline():
    recorder = SimulatedRecorder(
        recording=False,
        timeline=(RecorderChange(30, recording=True), RecorderChange(10, last_status="Pending")),
    )

    before = recorder.effective(NOW, NOW + 5)
    pending = recorder.effective(NOW, NOW + 10)
    restarted = recorder.effective(NOW, NOW + 31)

    assert (before.recording, before.started_at, before.stopped_at) == (False, NOW, NOW)
    assert before.status_changed_at == NOW
    assert (pending.last_status, pending.status_changed_at) == ("Pending", NOW + 10)
    assert (restarted.recording, restarted.started_at, restarted.stopped_at) == (
        True,
        NOW + 30,
        NOW,
    )
    assert restarted.status_changed_at == NOW + 10
    assert SimulatedRecorder(service_principal="x.amazonaws.com").scope == "INTERNAL"
    assert SimulatedRecorder().scope == "PAID"
