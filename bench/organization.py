"""One refresh of a whole organisation's pack compliance, two ways: every (account, region)
read directly through an assumed role, or one aggregator read from the management account.

Prints a line per way and the ratio of their costs; it is not a test. The exporter's own
`Scraper` runs in this process with one collector: the compliance collector over every target
on the exporter's default concurrency (direct), or the aggregator collector over the management
account's target in the first region (aggregator; it also reads its sources' status, which
says how fresh their data is). Both read every time (interval 0) and each
scrape waits for its reads, so one scrape is one whole refresh. The simulator runs in a child
process, so its CPU is not counted here, and it counts the calls it answers. Every account,
the management account too, is a role assumed through the simulator's STS; the roles are
assumed by the first refresh of each way, which is left out of the medians.

Both ways must serve the same pack verdicts and rule counts: the bench says which series
differ and exits 1 if any do, since the figures compare only what both can serve.

    python bench/organization.py [--accounts 300] [--regions 2] [--packs 5] [--rules 4]
                                 [--rounds 3] [--latency 0.04] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import botocore.session
from prometheus_client.core import Metric
from prometheus_client.samples import Sample

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import scrape_latency
import targets
from simulated import Calls, Simulator, simulator_process

from exporter.aws.credentials import Sessions
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import build_targets
from exporter.collection import Collector
from exporter.collectors import IAM_ACTIONS
from exporter.collectors.aggregator import AggregatorCollector
from exporter.collectors.compliance import ComplianceCollector
from exporter.config import AccountConfig, AggregatorConfig, ComplianceConfig, Config
from exporter.deadline import Deadline
from exporter.metrics import COMPLIANCE, RULE_COMPLIANCE, RULES
from exporter.scrape import Scraper
from exporter.simulator import (
    Scenario,
    SimulatedAggregator,
    SimulatedPack,
    SimulatedRule,
)
from exporter.simulator.compliance import estimated_score

ENV = scrape_latency.ENV
# targets.py's two regions first, then scrape_latency.py's others, for --regions past 2.
REGIONS = (
    *targets.REGIONS,
    *(region for region in scrape_latency.REGIONS if region not in targets.REGIONS),
)
AGGREGATOR = "organization"
ASSUME_ROLE = "AssumeRole"
# Every operation either way may call, in the order a refresh calls them; "other" is the rest.
OPERATIONS = (
    "ListConformancePackComplianceScores",
    "GetConformancePackComplianceSummary",
    "DescribeConformancePackCompliance",
    "DescribeComplianceByConfigRule",
    "DescribeAggregateComplianceByConformancePacks",
    "DescribeConfigurationAggregatorSourcesStatus",
    "DescribeConformancePackStatus",
    "GetCallerIdentity",
    ASSUME_ROLE,
)
COMPARED = (COMPLIANCE, RULES)  # the families both ways serve
Series = frozenset[tuple[str, tuple[tuple[str, str], ...], float]]


def account_ids(count: int) -> list[str]:
    """`count` member account ids; the first is the management account."""
    return [f"{100000000000 + index:012d}" for index in range(count)]


def pack_rules(verdict: int, count: int) -> tuple[SimulatedRule, ...]:
    """`count` rules of one of four mixes: all compliant, one failing, one without data yet,
    or none evaluated yet, so verdicts and rule counts of every kind are compared."""
    compliance = ["COMPLIANT"] * count
    if verdict == 1:
        compliance[-1] = "NON_COMPLIANT"
    elif verdict == 2:
        compliance[-1] = "INSUFFICIENT_DATA"
    elif verdict == 3:
        compliance = ["INSUFFICIENT_DATA"] * count
    return tuple(
        SimulatedRule(f"org-rule-{index:02d}", value, 3 if value == "NON_COMPLIANT" else 0)
        for index, value in enumerate(compliance)
    )


def scored_pack(index: int, rules: tuple[SimulatedRule, ...], at: float) -> SimulatedPack:
    """Pack `index`, deployed a day before `at` and scored ten minutes before it: a pack
    without a score is left out of direct reads (they start from the scores) but not of an
    aggregator's rows, so every pack here has one."""
    return SimulatedPack(
        f"org-pack-{index:03d}",
        "CREATE_COMPLETE",
        requested_at=at - 86400 - index,
        completed_at=at - 86400 - index + 180,
        rules=rules,
        score=estimated_score(rules),
        scored_at=at - 600,
    )


def organization_scenario(
    accounts: Sequence[str], regions: Sequence[str], pack_count: int, rule_count: int
) -> Scenario:
    """`pack_count` scored packs of `rule_count` rules in every (account, region), their
    verdicts mixed across the organisation, and one aggregator in the management account's
    first region whose sources are every (account, region)."""
    at = time.time()
    variants = {
        (index, verdict): scored_pack(index, pack_rules(verdict, rule_count), at)
        for index in range(pack_count)
        for verdict in range(4)
    }
    sources = [(account, region) for account in accounts for region in regions]
    packs = {
        (account, region): [variants[(index, (number + index) % 4)] for index in range(pack_count)]
        for number, (account, region) in enumerate(sources)
    }
    return Scenario(
        packs=packs,
        default_account=accounts[0],
        aggregators={(accounts[0], regions[0]): [SimulatedAggregator(AGGREGATOR, tuple(sources))]},
    )


def waited_for(collector: Collector) -> Collector:
    """`collector` with its reads waited for by the scrape that starts them, so one scrape is
    one whole refresh; the exporter serves a background read at the next scrape instead."""
    collector.policy = dataclasses.replace(collector.policy, background=False)
    return collector


def scraper_for(url: str, config: Config, direct: bool) -> Scraper:
    """The exporter's scrape of `config`'s targets with one collector: compliance (direct) or
    aggregator, on fresh sessions, so the first refresh assumes every role."""
    core = botocore.session.get_session()
    core.set_credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
    sessions = Sessions(core, endpoint_url=url)
    counter = ApiCallCounter()
    chosen = build_targets(config, sessions, counter, IAM_ACTIONS, ())
    model = sessions.base.get_service_model("config")
    kind = ComplianceCollector if direct else AggregatorCollector
    collector = waited_for(kind(config, model))
    return Scraper([collector], chosen, counter, concurrency=config.concurrency)


def direct_config(accounts: Sequence[str], regions: Sequence[str]) -> Config:
    """Every account through its role in every region, compliance read every time."""
    return Config(
        regions=tuple(regions),
        accounts=tuple(AccountConfig(role_arn=f"arn:aws:iam::{a}:role/reader") for a in accounts),
        compliance=ComplianceConfig(interval_seconds=0),
    )


def aggregator_config(management: str, region: str) -> Config:
    """The management account through its role in the aggregator's region; compliance off,
    so no row is skipped as read directly."""
    return Config(
        regions=(region,),
        accounts=(AccountConfig(role_arn=f"arn:aws:iam::{management}:role/reader"),),
        compliance=ComplianceConfig(enabled=False, interval_seconds=0),
        aggregators=(AggregatorConfig(AGGREGATOR, region),),
    )


@dataclasses.dataclass(frozen=True)
class Refresh:
    """One measured refresh of the organisation and what it served."""

    calls: Calls
    seconds: float
    cpu: float
    simulator_cpu: float
    families: dict[str, Metric]

    @property
    def total_calls(self) -> int:
        """Calls the simulator answered, AssumeRole left out (it is counted apart)."""
        return sum(n for operation, n in self.calls.items() if operation != ASSUME_ROLE)

    def samples(self, name: str) -> list[Sample]:
        """Family `name`'s samples; none if it was not served."""
        family = self.families.get(name)
        return family.samples if family else []

    def series(self) -> Series:
        """The compared families' samples: name, labels and value."""
        return frozenset(
            (sample.name, tuple(sorted(sample.labels.items())), sample.value)
            for name in COMPARED
            for sample in self.samples(name)
        )

    def count(self, name: str, *labels: str) -> int:
        """Distinct values of `labels` among family `name`'s samples."""
        return len(
            {tuple(sample.labels[label] for label in labels) for sample in self.samples(name)}
        )


def refresh(scraper: Scraper, simulator: Simulator) -> Refresh:
    """One scrape, as the exporter's compliance interval allows a refresh to take."""
    _, simulator_before = simulator.tally()
    deadline = Deadline.after(ComplianceConfig().interval_seconds)
    started, cpu_before = time.perf_counter(), time.process_time()
    families = scraper.collect(deadline)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    tallied, simulator_after = simulator.tally()
    calls = {operation: count for operation, count in tallied.items() if count}
    served = {family.name: family for family in families if family.samples}
    return Refresh(calls, seconds, cpu, simulator_after - simulator_before, served)


def spread(values: Sequence[float]) -> str:
    """Median (min-max) of seconds."""
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def line(name: str, first: Refresh, runs: Sequence[Refresh]) -> str:
    """One way's figures: calls per refresh by operation, times as median (min-max)."""
    calls = runs[-1].calls
    by_operation = ", ".join(f"{op} {n}" for op, n in calls.items() if op != ASSUME_ROLE)
    repeated = "" if all(run.calls == calls for run in runs) else " (varied between rounds)"
    packs = runs[-1].count(COMPLIANCE, "account_id", "region", "conformance_pack")
    rules = runs[-1].count(
        RULE_COMPLIANCE, "account_id", "region", "conformance_pack", "config_rule"
    )
    return (
        f"{name}: {runs[-1].total_calls} calls ({by_operation}){repeated},"
        f" {first.calls.get(ASSUME_ROLE, 0)} AssumeRole on the first refresh;"
        f" wall {spread([run.seconds for run in runs])}, first {first.seconds:.2f} s;"
        f" CPU {spread([run.cpu for run in runs])},"
        f" simulator CPU {statistics.median(run.simulator_cpu for run in runs):.2f} s;"
        f" {packs} pack series, {rules} rule series"
    )


def exposition(sample: tuple[str, tuple[tuple[str, str], ...], float]) -> str:
    """One compared sample as the exposition writes it."""
    name, labels, value = sample
    pairs = ",".join(f'{label}="{text}"' for label, text in labels)
    return f"{name}{{{pairs}}} {value}"


def differences(direct: Refresh, aggregated: Refresh) -> list[str]:
    """The compared samples one way serves and the other does not, a few of each."""
    found = []
    for way, only in (
        ("direct only", direct.series() - aggregated.series()),
        ("aggregator only", aggregated.series() - direct.series()),
    ):
        if only:
            found.append(f"{way}: {len(only)} samples, e.g.")
            found += [f"  {exposition(sample)}" for sample in sorted(only)[:3]]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300, help="accounts in the organisation")
    parser.add_argument("--regions", type=int, default=2, help=f"regions, at most {len(REGIONS)}")
    parser.add_argument("--packs", type=int, default=5, help="packs per (account, region)")
    parser.add_argument("--rules", type=int, default=4, help="rules per pack")
    parser.add_argument("--rounds", type=int, default=3, help="measured refreshes per way")
    parser.add_argument(
        "--latency", type=float, default=0.04, help="seconds the simulator waits before answering"
    )
    parser.add_argument("--quick", action="store_true", help="20 accounts, 1 round")
    args = parser.parse_args()
    if not 1 <= args.regions <= len(REGIONS):
        parser.error(f"--regions must be between 1 and {len(REGIONS)}")
    if min(args.accounts, args.packs, args.rules, args.rounds) < 1:
        parser.error("--accounts, --packs, --rules and --rounds must be at least 1")
    accounts = account_ids(20 if args.quick else args.accounts)
    rounds = 1 if args.quick else args.rounds
    regions = REGIONS[: args.regions]
    os.environ.update(ENV)  # no profile, metadata service or real keys can leak in

    scenario = organization_scenario(accounts, regions, args.packs, args.rules)
    configs = {
        "direct": direct_config(accounts, regions),
        "aggregator": aggregator_config(accounts[0], regions[0]),
    }
    print(
        f"simulator latency {args.latency * 1000:.0f} ms in its own process;"
        f" {len(accounts)} accounts x {len(regions)} regions x {args.packs} packs of"
        f" {args.rules} rules; concurrency {configs['direct'].concurrency}; {os.cpu_count()} CPUs;"
        f" calls per refresh, seconds as median (min-max) of {rounds}",
        flush=True,
    )
    measured: dict[str, list[Refresh]] = {}
    with simulator_process(scenario, args.latency, OPERATIONS) as simulator:
        for name, config in configs.items():
            scraper = scraper_for(simulator.url, config, direct=name == "direct")
            try:
                first = refresh(scraper, simulator)
                measured[name] = [refresh(scraper, simulator) for _ in range(rounds)]
            finally:
                scraper.close()
            print(line(f"{name:>10}", first, measured[name]), flush=True)
    direct, aggregated = measured["direct"][-1], measured["aggregator"][-1]
    found = differences(direct, aggregated)
    if found:
        sys.exit("\n  ".join(["NOT the same series, so the figures do not compare:", *found]))
    print(f"same series both ways: {len(direct.series())} samples of {' and '.join(COMPARED)}")
    seconds = {
        name: statistics.median(run.seconds for run in runs) for name, runs in measured.items()
    }
    cpu = {name: statistics.median(run.cpu for run in runs) for name, runs in measured.items()}
    print(
        f"direct/aggregator: calls {direct.total_calls / aggregated.total_calls:.1f}x,"
        f" wall {seconds['direct'] / seconds['aggregator']:.1f}x,"
        f" CPU {cpu['direct'] / cpu['aggregator']:.1f}x"
    )


if __name__ == "__main__":
    main()
