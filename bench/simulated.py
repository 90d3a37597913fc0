"""The AWS Config simulator in a child process, for the benches: its CPU is not counted in
the bench's own, and it tallies the calls it answers by operation."""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection

from exporter.simulator import ConfigSimulator, Scenario

OTHER = "other"  # the tally of every operation not asked for by name
Calls = dict[str, int]


def serve(
    scenario: Scenario, latency: float, operations: Sequence[str], connection: Connection
) -> None:
    """The simulator's process: sends its URL, then answers each "tally" with the calls it
    counted since the last one (`operations` by name, the rest as OTHER) and its CPU seconds
    so far, until told to stop."""
    with ConfigSimulator(scenario) as simulator:
        simulator.latency = latency
        connection.send(simulator.url)
        while connection.recv() == "tally":
            calls = {operation: simulator.calls(operation=operation) for operation in operations}
            calls[OTHER] = simulator.calls() - sum(calls.values())
            simulator.reset_calls()
            connection.send((calls, time.process_time()))


@dataclasses.dataclass
class Simulator:
    """The simulator process as this one sees it: its URL and a way to read its tallies."""

    url: str
    connection: Connection

    def tally(self) -> tuple[Calls, float]:
        """Calls by operation since the last tally, and the simulator's CPU seconds so far."""
        self.connection.send("tally")
        calls, cpu = self.connection.recv()
        return calls, cpu


@contextmanager
def simulator_process(
    scenario: Scenario, latency: float, operations: Sequence[str]
) -> Iterator[Simulator]:
    """`serve` in a fresh interpreter, stopped on exit."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(
        target=serve, args=(scenario, latency, tuple(operations), theirs), daemon=True
    )
    child.start()
    theirs.close()  # so recv() fails instead of hanging if the child dies
    try:
        yield Simulator(ours.recv(), ours)
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.terminate()
