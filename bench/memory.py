"""Resident memory by targets and series, a sizing formula, and memory while accounts churn.

Prints figures; it is not a test. Each account is a role the exporter assumes through the
simulator's STS, as in an AWS Organization; compliance and the pipeline are on, as by
default. The simulator runs in its own process. Three exporter processes are measured once
their series stop growing: 1 account and `--accounts` accounts with `--packs` packs, and
`--accounts` accounts with `--fewer-packs` packs (same targets, fewer series), which give
the sizing formula (series included) and the fit that takes series apart:

    RSS = base + per_target x targets
    RSS = base + per_target x targets + per_series x series

Then, in this process (the simulator still in its own), account discovery refreshes
`--refreshes` times, each listing a different half of `--accounts` accounts, every target read
between refreshes; RSS every 5 refreshes shows whether dropped accounts' state is let go.

    python bench/memory.py [--accounts 100] [--packs 20] [--fewer-packs 5] [--refreshes 50]
    python bench/memory.py --quick
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scrape_latency import ENV, process, simulator_command
from targets import REGIONS, accounts_for, exporter, resident_mb

SETTLE_SECONDS = 120.0  # how long to wait for the background reads to fill every series


def series_count(text: str) -> int:
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def settled(simulator_url: str, accounts: Sequence[str]) -> tuple[int, int, float]:
    """(targets, series, RSS MB) of an exporter reading `accounts` once its series stop
    growing: two scrapes in a row with the same count, after the first."""
    with exporter(simulator_url, accounts, REGIONS, None) as running:
        counts = [series_count(running.scrape())]
        give_up = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < give_up and (len(counts) < 3 or counts[-1] != counts[-2]):
            time.sleep(0.5)  # the background reads have no event to await from outside
            counts.append(series_count(running.scrape()))
        gc_text = running.scrape()  # one more, so the scrape path's memory is in the figure
        return len(accounts) * len(REGIONS), series_count(gc_text), resident_mb(running.pid)


def sizing(simulator_url: str, fewer_url: str, accounts: int) -> None:
    """Prints RSS at 1 and `accounts` accounts, the per-target figure and the formula
    docs/operations.md sizes with (base + per target, series included), then the fit that
    takes series apart, which runs disagree on once series cost little."""
    many = accounts_for(accounts * len(REGIONS))
    t1, s1, r1 = settled(simulator_url, many[:1])
    tn, sn, rn = settled(simulator_url, many)
    _, sf, rf = settled(fewer_url, many)
    per_target = (rn - r1) / (tn - t1)
    per_series = (rn - rf) / (sn - sf) if sn != sf else 0.0
    per_target_only = ((rn - r1) - per_series * (sn - s1)) / (tn - t1)
    base = r1 - per_target_only * t1 - per_series * s1
    print(f"1 account x {len(REGIONS)} regions: {t1} targets, {s1} series, RSS {r1:.1f} MB")
    print(
        f"{accounts} accounts x {len(REGIONS)} regions: {tn} targets, {sn} series, RSS {rn:.1f} MB"
    )
    print(f"RSS per extra target, series included: {per_target:.3f} MB")
    print(f"same targets, fewer packs: {sf} series, RSS {rf:.1f} MB")
    sized_base = r1 - per_target * t1
    print(f"sizing, targets like these: RSS MB = {sized_base:.1f} + {per_target:.3f} x targets")
    print(
        f"fit with series apart: RSS MB = {base:.1f} + {per_target_only:.4f} x targets"
        f" + {per_series * 1000:.4f} x thousand series"
    )


def read_every_target(plan: Any, give_up: float) -> None:
    """Scrape until every (collector, target) has a good reading: the RSS figures then hold
    every target's readings, and the reads of the accounts dropped before are done."""
    from tests.conftest import every_target_read

    while not every_target_read(plan):
        if time.monotonic() > give_up:
            raise RuntimeError("the targets were not all read within the time allowed")
        time.sleep(0.2)  # background reads report through the next scrape, not an event


def churn(simulator_url: str, pool: Sequence[str], refreshes: int) -> None:
    """Prints RSS every 5 refreshes of account discovery, each listing a different half of
    `pool`, every target read after each; built as the exporter builds it (`plan.prepare`),
    so dropped accounts are forgotten as in production."""
    from botocore.stub import Stubber

    from exporter.allocator import tune_allocator
    from exporter.config import Config, OrganizationAccountsConfig
    from exporter.plan import prepare
    from tests.conftest import fake_credentials_sessions

    config = Config(
        regions=REGIONS,
        min_interval_seconds=0,
        organization_accounts=OrganizationAccountsConfig("reader"),
    )
    plan = prepare(config, fake_credentials_sessions(simulator_url), REGIONS)
    discovery = plan.built.discovery
    assert discovery is not None
    tune_allocator()  # as the exporter's start does (this process has threads already)
    listing = Stubber(discovery.organizations)  # the simulator has no Organizations
    listing.activate()
    half = len(pool) // 2
    figures = []
    for refresh in range(1, refreshes + 1):
        start = refresh % 2 * half + refresh // 2 % half
        listed = [*pool, *pool][start : start + half]
        accounts = [{"Id": account_id, "State": "ACTIVE"} for account_id in listed]
        listing.add_response("list_accounts", {"Accounts": accounts})
        if not discovery.refresh():
            raise RuntimeError("account discovery failed")
        read_every_target(plan, time.monotonic() + SETTLE_SECONDS)
        if refresh % 5 == 0:
            gc.collect()
            figures.append(f"{refresh}={resident_mb(os.getpid()):.1f}")
    plan.scraper.close()
    print(
        f"churn: {refreshes} refreshes, each listing {half} of {len(pool)} accounts"
        f" x {len(REGIONS)} regions; RSS MB at refresh {' '.join(figures)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--packs", type=int, default=20)
    parser.add_argument("--fewer-packs", type=int, default=5)
    parser.add_argument("--refreshes", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="10 accounts, 4 and 1 packs")
    args = parser.parse_args()
    if args.quick:
        args.accounts, args.packs, args.fewer_packs, args.refreshes = 10, 4, 1, 10
    pool = accounts_for(args.accounts * len(REGIONS))
    churned = accounts_for(args.accounts * len(REGIONS) * 2)[args.accounts :]
    command = simulator_command(0.0, args.packs, REGIONS, [*pool, *churned])
    fewer = simulator_command(0.0, args.fewer_packs, REGIONS, pool)
    with (
        process(command, ENV, r"listening on (\S+)") as (_, match),
        process(fewer, ENV, r"listening on (\S+)") as (_, fewer_match),
    ):
        print(
            f"{args.packs} packs per target ({args.fewer_packs} for the fewer), compliance and"
            " pipeline on, roles assumed through the simulator in its own process"
        )
        sizing(match[1], fewer_match[1], args.accounts)
        churn(match[1], churned, args.refreshes)


if __name__ == "__main__":
    main()
