"""``python -m exporter.simulator``: serve the demo or a generated scenario until stopped, for
the demo, for benchmarks that want the simulator in its own process, and for rehearsing a
failure (`--fault`) and checking the calls the docs promise (`--calls`) by hand."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType

from exporter.simulator.demo import DEMO_REGIONS, demo_scenario
from exporter.simulator.faults import FAULT_KINDS, Fault, parse_fault
from exporter.simulator.scenario import DEFAULT_ACCOUNT, generated_scenario
from exporter.simulator.server import ConfigSimulator


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a scenario until SIGTERM or SIGINT, for the demo and out-of-process benchmarks."""
    parser = argparse.ArgumentParser(
        prog="python -m exporter.simulator",
        description="Serve simulated AWS Config and STS APIs on loopback.",
    )
    parser.add_argument(
        "--listen", default="127.0.0.1:0", help="HOST:PORT to bind; port 0 picks a free one"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--packs", type=int, help="serve N generated healthy packs instead of the demo scenario"
    )
    parser.add_argument(
        "--rules", type=int, default=0, help="rules in each generated pack (with --packs)"
    )
    parser.add_argument(
        "--regions", default=",".join(DEMO_REGIONS), help="comma-separated regions for --packs"
    )
    parser.add_argument(
        "--accounts", default=DEFAULT_ACCOUNT, help="comma-separated accounts for --packs"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[,FIELD=VALUE...]",
        help=(
            f"misbehave on matching requests; KIND is one of {', '.join(FAULT_KINDS)}; fields: "
            "region, account, service, operation, count, seconds, chunk_size, partial "
            "(repeatable; the first matching fault applies)"
        ),
    )
    parser.add_argument(
        "--calls",
        action="store_true",
        help="on exit, print the calls received: 'service operation region account count' lines",
    )
    args = parser.parse_args(argv)
    faults: list[Fault] = []
    for spec in args.fault:
        try:
            faults.append(parse_fault(spec))
        except ValueError as error:
            parser.error(f"--fault {spec}: {error}")
    host, _, port = str(args.listen).rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen must be HOST:PORT, got {args.listen!r}")
    if args.latency < 0:
        parser.error("--latency must not be negative")
    now = time.time()
    if args.packs is None:
        scenario = demo_scenario(now)
    else:
        regions = [region for region in args.regions.split(",") if region]
        accounts = [account for account in args.accounts.split(",") if account]
        try:
            scenario = generated_scenario(args.packs, regions, accounts, now, args.rules)
        except ValueError as error:
            parser.error(str(error))

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with ConfigSimulator(scenario, host=host, port=int(port)) as simulator:
        simulator.latency = args.latency
        for fault in faults:
            simulator.add_fault(fault)
        print(f"listening on {simulator.url}", flush=True)
        stopping.wait()
        if args.calls:
            for call, count in simulator.call_counts().items():
                print(*call, count, flush=True)
    return 0
