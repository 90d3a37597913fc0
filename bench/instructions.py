"""CPU instructions per AWS call: the exporter's read against a plain boto3 paginator loop.

Prints figures; it is not a test. Wall-clock CPU on a shared machine moves by more than the
few percent a change to the call path is worth, so this counts instructions with valgrind's
callgrind, which gives the same figure run after run. Each workload runs under callgrind with
instrumentation off through start-up, set-up and a warm-up (roles assumed, connections open),
then on for `--calls` calls only; the total divided by the calls is the cost of one call.
Needs valgrind with its headers and a C compiler (a three-line helper switches counting on).

Workloads (one call = one page of `describe_conformance_pack_status`, 5 packs, through
the simulator, single-threaded so the count is deterministic):
- `boto3`: one plain boto3 client per target and `get_paginator(...).paginate(...)` per call,
  the naive way to use boto3 (not a floor: the exporter can and does spend less);
- `exporter read`: `fetch_pack_statuses` on the exporter's own clients (assumed roles, the
  allow-list, deadline and attempt-counting handlers);
- `exporter read+samples`: the status collector's whole read of a target, samples included.

`--baseline REV` also runs the exporter workloads on the `exporter/` package of git revision
REV (extracted to a temporary directory), at the same botocore version, and prints the change.
`--profile` adds where the CPU of one exporter call goes, per phase (cProfile, scaled to the
unprofiled CPU per call).

    python bench/instructions.py [--calls 40] [--targets 10] [--baseline e915c9e] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import functools
import os
import pstats
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_latency import ENV, REPO, process, read_all, simulator_command

REGIONS = ("us-east-1", "eu-west-1")
WORKLOADS = ("boto3", "exporter read", "exporter read+samples")
WARM_UP_ROUNDS = 2


def accounts_for(targets: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range((targets + 1) // len(REGIONS))]


def read_pack_statuses(target: Any, fetch: Callable[..., object]) -> object:
    """The AWS reads of the status collector, on the target's client."""
    from exporter.deadline import Deadline

    return fetch(target.client, (), Deadline.after(60))


def read_with(collector: Any, target: Any) -> object:
    """A collector's whole read of a target, samples included."""
    from exporter.deadline import Deadline

    return collector.read(target, Deadline.after(60))


def workload(kind: str, url: str, targets: int) -> Callable[[int], None]:
    """A function making n calls of `kind`, round-robin over `targets` targets, set up."""
    if kind == "boto3":
        core = botocore.session.get_session()
        core.set_credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
        config = botocore.config.Config(retries={"mode": "standard"})
        clients = [
            core.create_client("config", region_name=region, endpoint_url=url, config=config)
            for _ in accounts_for(targets)
            for region in REGIONS
        ]
        reads: list[Callable[[], object]] = [functools.partial(read_all, c) for c in clients]
    else:
        # Imported here: under --baseline, PYTHONPATH points at another exporter package.
        from exporter.aws.hooks import ApiCallCounter

        try:
            from exporter.aws.credentials import Sessions
        except ImportError:  # before Sessions moved to its own module
            from exporter.aws.accounts import Sessions  # type: ignore[attr-defined]

        try:
            from exporter.aws.targets import build_targets
        except ImportError:  # before build_targets moved to its own module
            from exporter.aws.accounts import build_targets  # type: ignore[attr-defined,no-redef]
        from exporter.aws.packs import fetch_pack_statuses
        from exporter.collectors import IAM_ACTIONS, build_collectors
        from exporter.config import AccountConfig, Config

        accounts = tuple(
            AccountConfig(role_arn=f"arn:aws:iam::{a}:role/reader") for a in accounts_for(targets)
        )
        settings = Config(regions=REGIONS, accounts=accounts)
        found = build_targets(
            settings, Sessions(endpoint_url=url), ApiCallCounter(), IAM_ACTIONS, ()
        )
        if kind == "exporter read":
            reads = [functools.partial(read_pack_statuses, t, fetch_pack_statuses) for t in found]
        else:
            status = build_collectors(settings, found[0].client.meta.service_model)[0]
            reads = [functools.partial(read_with, status, t) for t in found]

    def run(calls: int) -> None:
        for index in range(calls):
            reads[index % len(reads)]()

    run(len(reads) * WARM_UP_ROUNDS)  # assumes roles, opens connections, loads models
    return run


HELPER = """
#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_START_INSTRUMENTATION; }
void stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def callgrind_helper(scratch: str) -> str:
    """A tiny library issuing callgrind's start/stop requests (needs valgrind's headers, cc)."""
    source, library = Path(scratch, "helper.c"), Path(scratch, "helper.so")
    source.write_text(HELPER)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", library, source], check=True)
    return str(library)


def counted(run: Callable[[int], None], calls: int, helper: str) -> None:
    """Run `calls` calls with callgrind counting only them."""
    library = ctypes.CDLL(helper)
    library.start()
    run(calls)
    library.stop()


def per_call(kind: str, url: str, targets: int, calls: int, tree: Path, helper: str) -> float:
    """Instructions callgrind counts for one call of `kind`, after set-up and warm-up."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={scratch}/out",
            sys.executable,
            __file__,
            f"--worker={kind}",
            f"--url={url}",
            f"--targets={targets}",
            f"--calls={calls}",
            f"--helper={helper}",
        ]
        env = {**os.environ, **ENV, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{kind} under callgrind failed:\n{result.stderr[-3000:]}")
        match = re.search(r"Collected : (\d+)", result.stderr)
        if match is None:
            raise RuntimeError(f"no callgrind total in:\n{result.stderr[-3000:]}")
        return int(match[1]) / calls


PHASES = [
    ("HTTP (urllib3, http.client, sockets)", ("urllib3/", "http/client.py", "socket.py", "ssl.py")),
    ("SigV4 signing", ("botocore/auth.py", "botocore/signers.py", "hmac.py")),
    ("credentials (refresh check)", ("botocore/credentials.py", "dateutil/")),
    ("endpoint resolution", ("botocore/regions.py", "botocore/endpoint_provider.py")),
    ("paginator", ("botocore/paginate.py",)),
    ("response parsing", ("botocore/parsers.py", "json/")),
    ("serialising, validation", ("botocore/serialize.py", "botocore/validate.py")),
    ("event system, handlers", ("botocore/hooks.py", "botocore/handlers.py", "botocore/utils.py")),
    ("retries", ("botocore/retries/", "botocore/retryhandler.py")),
    ("botocore request, response", ("botocore/endpoint.py", "botocore/awsrequest.py")),
    ("user agent", ("botocore/useragent.py",)),
    ("client glue", ("botocore/client.py", "botocore/context.py", "botocore/", "boto3/")),
    ("exporter: deadline, counter, allow-list", ("exporter/aws/", "exporter/deadline.py")),
    ("exporter: samples", ("exporter/",)),
]


def phase_of(filename: str) -> str | None:
    for phase, parts in PHASES:
        if any(part in filename for part in parts):
            return phase
    return None


def phases(stats: pstats.Stats) -> dict[str, float]:
    """Own CPU per phase; a standard-library or built-in function's goes to its callers'."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    shares: dict[str, float] = defaultdict(float)

    def charge(function: Any, seconds: float, depth: int) -> None:
        phase = phase_of(function[0])
        callers = table.get(function, (0, 0, 0, 0, {}))[4]
        if phase is not None or depth > 8 or not callers:
            shares[phase or "other (interpreter, standard library)"] += seconds
            return
        total = sum(entry[2] for entry in callers.values()) or 1.0
        for caller, entry in callers.items():
            charge(caller, seconds * entry[2] / total, depth + 1)

    for function, (_, _, own, _, _) in table.items():
        charge(function, own, 0)
    return shares


def profile(url: str, targets: int, calls: int) -> None:
    """Where one call's CPU goes, per phase, for the exporter's read with samples."""
    run = workload("exporter read+samples", url, targets)
    started = time.process_time()
    run(calls)
    cpu = (time.process_time() - started) / calls
    profiler = cProfile.Profile()
    profiler.runcall(run, calls)
    shares = phases(pstats.Stats(profiler))
    total = sum(shares.values())
    print(f"\nwhere one exporter call's CPU goes ({cpu * 1000:.2f} ms unprofiled):")
    for phase, seconds in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {phase:44}{seconds / total * cpu * 1000:>7.3f} ms{seconds / total:>7.1%}")


def extract(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", revision, "exporter"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--baseline", help="a git revision to compare the exporter with")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        counted(workload(args.worker, args.url, args.targets), args.calls, args.helper)
        return
    os.environ.update(ENV)  # for --profile, which runs here

    simulator = simulator_command(0.0, 5, REGIONS, accounts_for(args.targets))
    with (
        process(simulator, ENV, r"listening on (\S+)") as (_, match),
        tempfile.TemporaryDirectory() as scratch,
    ):
        url = match[1]
        helper = callgrind_helper(scratch)
        counts = {
            kind: per_call(kind, url, args.targets, args.calls, REPO, helper) for kind in WORKLOADS
        }
        before = {}
        if args.baseline:
            tree = extract(args.baseline, Path(scratch, "baseline"))
            before = {
                kind: per_call(kind, url, args.targets, args.calls, tree, helper)
                for kind in WORKLOADS[1:]
            }
        print(f"instructions per call (callgrind), {args.targets} targets, 5 packs, one page each")
        header = f"{'':26}{'instructions':>14}{'vs boto3':>10}"
        print(header + (f"{args.baseline:>14}{'change':>9}" if before else ""))
        for kind in WORKLOADS:
            line = f"{kind:26}{counts[kind]:>14,.0f}{counts[kind] / counts['boto3']:>10.2f}"
            if kind in before:
                line += f"{before[kind]:>14,.0f}{counts[kind] / before[kind] - 1:>+9.1%}"
            print(line)
        if args.profile:
            profile(url, args.targets, 200)


if __name__ == "__main__":
    main()
