"""Shared by the tests of exporter/aws/: a simulator with 45 packs (three pages) in one region."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exporter.aws.accounts import Account
from exporter.aws.hooks import ApiCallCounter
from exporter.simulator import ConfigSimulator, Scenario, SimulatedPack
from tests import conftest
from tests.conftest import ACCOUNT

OPERATION = "DescribeConformancePackStatus"


@pytest.fixture
def simulator() -> Iterator[ConfigSimulator]:
    packs = [SimulatedPack(f"p-{i:02d}", "CREATE_COMPLETE", requested_at=1.0) for i in range(45)]
    with ConfigSimulator(Scenario({(ACCOUNT, "us-east-1"): packs})) as sim:
        yield sim


def make_account(simulator: ConfigSimulator, counter: ApiCallCounter, **config: Any) -> Account:
    return conftest.make_account(("us-east-1",), simulator.url, counter, **config)
