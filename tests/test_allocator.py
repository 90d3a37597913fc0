"""exporter/allocator.py: glibc told to give memory back, unless the operator said otherwise."""

from __future__ import annotations

import logging

import pytest

from exporter.allocator import SETTINGS, tune_allocator
from tests.conftest import aws_env


def test_every_setting_is_applied_on_glibc(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter.allocator")

    applied = tune_allocator({})

    assert applied == {variable: value for variable, (_, value) in SETTINGS.items()}
    [record] = caplog.records
    assert vars(record)["applied"] == "MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072"


@pytest.mark.parametrize("variable", sorted(SETTINGS))
def test_an_operator_s_own_setting_wins(variable: str) -> None:
    applied = tune_allocator({variable: "4"})

    assert variable not in applied
    assert len(applied) == len(SETTINGS) - 1


@pytest.mark.integration
def test_the_exporter_tunes_its_allocator_at_start(exporter_factory) -> None:
    """On the process users run: the one setting the environment does not give is applied."""
    env = {**aws_env(), "MALLOC_ARENA_MAX": "4"}

    process = exporter_factory(["--demo", "--log.level=debug"], env)

    found = process.wait_for_log(r'msg="allocator settings" applied="([^"]*)"')
    assert found[1] == "MALLOC_MMAP_THRESHOLD_=131072"
