"""One compliance refresh at 1, 10 and 100 targets: its AWS calls against the fewest the API
allows, its wall time and its CPU.

Prints a table; it is not a test. The exporter's own code runs in this process: the compliance
collector reads every target on a thread pool, as a scrape fans out. The simulator runs in a
child process, so its CPU is not counted here, and it counts the calls it answers. Each target
is an (account, region) pair whose account is a role assumed through the simulator's STS.

    python bench/compliance.py [--targets 1,10,100] [--packs 50] [--rules 100] [--rounds 3]
                               [--budget 20] [--latency 0.04] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_latency import ENV
from simulated import OTHER, Calls, Simulator, simulator_process
from targets import REGIONS, accounts_for

from exporter.aws.credentials import Sessions
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.pages import input_max
from exporter.aws.targets import Target, build_targets
from exporter.collectors import IAM_ACTIONS
from exporter.collectors.compliance import ComplianceCollector, ComplianceLimits
from exporter.config import AccountConfig, ComplianceConfig, Config
from exporter.deadline import Deadline
from exporter.simulator import Scenario, generated_scenario, pack_ids

# The four operations, with their column titles, in the order a refresh calls them.
OPERATIONS = (
    ("ListConformancePackComplianceScores", "scores"),
    ("GetConformancePackComplianceSummary", "summaries"),
    ("DescribeConformancePackCompliance", "rules"),
    ("DescribeComplianceByConfigRule", "counts"),
)


def fewest_calls(scenario: Scenario, targets: Sequence[Target], counted: bool) -> Calls:
    """The calls the API needs at the least to refresh `targets`, from what the scenario
    serves rather than from what the collector does."""
    fewest = dict.fromkeys((operation for operation, _ in OPERATIONS), 0)
    for target in targets:
        model = target.client.meta.service_model
        limits = ComplianceLimits.of(model)
        rules_per_page = input_max(model, "DescribeConformancePackCompliance", "Limit")
        account = target.account.account_id or ""
        listed = scenario.packs[(account, target.region)]
        scored = [pack for pack in listed if pack.score is not None]
        if listed:
            fewest["ListConformancePackComplianceScores"] += max(
                1, math.ceil(len(scored) / limits.scores_per_page)
            )
        fewest["GetConformancePackComplianceSummary"] += math.ceil(
            len(listed) / limits.names_per_summary
        )
        fewest["DescribeConformancePackCompliance"] += sum(
            max(1, math.ceil(len(pack.rules) / rules_per_page)) for pack in listed
        )
        if counted:
            failing = sum(
                rule.compliance == "NON_COMPLIANT"
                and len(pack_ids(account, target.region, pack.name).rule_name(rule.name))
                <= limits.longest_counted_rule
                for pack in listed
                for rule in pack.rules
            )
            fewest["DescribeComplianceByConfigRule"] += math.ceil(failing / limits.rules_per_count)
    return fewest


def build(url: str, count: int) -> tuple[Config, list[Target]]:
    """About `count` targets as the exporter builds them, on fake keys the simulator takes."""
    accounts = accounts_for(count)
    config = Config(
        regions=REGIONS[:1] if count == 1 else REGIONS,
        accounts=tuple(AccountConfig(role_arn=f"arn:aws:iam::{a}:role/reader") for a in accounts),
    )
    core = botocore.session.get_session()
    core.set_credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
    sessions = Sessions(core, endpoint_url=url)
    return config, build_targets(config, sessions, ApiCallCounter(), IAM_ACTIONS, ())


def collector_for(
    config: Config, targets: Sequence[Target], counted: bool, packs: tuple[str, ...] = ()
) -> ComplianceCollector:
    """The compliance collector as the exporter builds it from `config`, with or without
    resource counts, over every pack or only `packs`."""
    return ComplianceCollector(
        dataclasses.replace(
            config,
            conformance_packs=packs,
            compliance=ComplianceConfig(noncompliant_resources=counted),
        ),
        targets[0].client.meta.service_model,
    )


@dataclasses.dataclass
class Refresh:
    """One measured refresh of every target."""

    calls: Calls
    seconds: float
    cpu: float
    simulator_cpu: float


def refresh(
    pool: ThreadPoolExecutor,
    collector: ComplianceCollector,
    targets: Sequence[Target],
    simulator: Simulator,
) -> Refresh:
    """Every target read once, as a scrape starts background reads: each under a deadline of
    the compliance interval."""
    _, simulator_before = simulator.tally()
    deadline = Deadline.after(ComplianceConfig().interval_seconds)
    started, cpu_before = time.perf_counter(), time.process_time()
    list(pool.map(lambda target: collector.read(target, deadline), targets))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    calls, simulator_after = simulator.tally()
    calls.pop(OTHER)  # AssumeRole: not a compliance call
    return Refresh(calls, seconds, cpu, simulator_after - simulator_before)


def rounds_within(most: int, budget: float, measure: Callable[[], Refresh]) -> list[Refresh]:
    """Up to `most` refreshes, but no more than the mean so far says fit in `budget` seconds:
    at 100 targets one refresh costs tens of seconds of CPU."""
    runs = [measure()]
    while len(runs) < most:
        if statistics.fmean(run.seconds for run in runs) * (len(runs) + 1) > budget:
            break
        runs.append(measure())
    return runs


def spread(values: Sequence[float]) -> str:
    """Median (min-max) of seconds, in milliseconds."""
    low, high = min(values) * 1000, max(values) * 1000
    return f"{statistics.median(values) * 1000:.0f} ({low:.0f}-{high:.0f})"


HEADER = (
    f"{'targets':>7}{'resources':>10}"
    + "".join(f"{title:>12}" for _, title in OPERATIONS)
    + f"{'fewest':>7}{'rounds':>7}{'floor ms':>9}{'wall ms':>22}{'CPU ms':>22}"
    + f"{'CPU/pack ms':>12}{'sim CPU ms':>11}"
)


def row(counted: bool, runs: Sequence[Refresh], fewest: Calls, floor: float, packs: int) -> str:
    """One line of the table: calls per refresh as made/fewest, times as median (min-max)."""
    calls = "".join(
        f"{f'{statistics.median(run.calls[op] for run in runs):.0f}/{fewest[op]}':>12}"
        for op, _ in OPERATIONS
    )
    exact = all(run.calls == fewest for run in runs)
    cpu_per_pack = statistics.median(run.cpu for run in runs) / packs
    simulator_cpu = statistics.median(run.simulator_cpu for run in runs)
    return (
        f"{'on' if counted else 'off':>10}{calls}{'yes' if exact else 'NO':>7}{len(runs):>7}"
        f"{floor * 1000:>9.0f}{spread([run.seconds for run in runs]):>22}"
        f"{spread([run.cpu for run in runs]):>22}{cpu_per_pack * 1000:>12.2f}"
        f"{simulator_cpu * 1000:>11.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1,10,100", help="comma-separated target counts")
    parser.add_argument("--packs", type=int, default=50, help="packs per target")
    parser.add_argument("--rules", type=int, default=100, help="rules per pack")
    parser.add_argument("--rounds", type=int, default=3, help="most refreshes per row")
    parser.add_argument(
        "--budget", type=float, default=20, help="seconds of refreshes per row, past the first"
    )
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--quick", action="store_true", help="1 and 10 targets, 2 rounds")
    args = parser.parse_args()
    sizes = [1, 10] if args.quick else [int(n) for n in args.targets.split(",")]
    most = 2 if args.quick else args.rounds
    os.environ.update(ENV)  # no profile, metadata service or real keys can leak in

    scenario = generated_scenario(
        args.packs, REGIONS, accounts_for(max(sizes)), rules_per_pack=args.rules
    )
    print(
        f"simulator latency {args.latency * 1000:.0f} ms in its own process; {args.packs} packs"
        f" of {args.rules} rules per target; {os.cpu_count()} CPUs. Calls per refresh as"
        " made/fewest; floor = the fewest calls' latency alone; ms as median (min-max)"
    )
    print(HEADER)
    with simulator_process(
        scenario, args.latency, [operation for operation, _ in OPERATIONS]
    ) as simulator:
        for size in sizes:
            config, targets = build(simulator.url, size)
            workers = min(config.concurrency, len(targets))
            packs = scenario.packs[(targets[0].account.account_id or "", targets[0].region)]
            with ThreadPoolExecutor(max_workers=workers) as pool:
                # Assume the roles, open the connections and load every operation's model.
                warm_up = collector_for(config, targets, True, (packs[0].name,))
                refresh(pool, warm_up, targets, simulator)
                for counted in (False, True):
                    collector = collector_for(config, targets, counted)
                    measure = functools.partial(refresh, pool, collector, targets, simulator)
                    runs = rounds_within(most, args.budget, measure)
                    fewest = fewest_calls(scenario, targets, counted)
                    waves = math.ceil(len(targets) / workers)
                    floor = waves * sum(fewest.values()) / len(targets) * args.latency
                    line = row(counted, runs, fewest, floor, len(targets) * args.packs)
                    print(f"{len(targets):>7}{line}", flush=True)


if __name__ == "__main__":
    main()
