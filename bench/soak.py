"""Soak: many scrapes against healthy and failing regions; does anything grow or slow down?

Prints figures; it is not a test. The exporter runs in its own process, as in production;
the simulator runs in this one (its faults are set through its Python API), so the
exporter's memory, file descriptors and threads are its own. Failing regions cover the error
paths: access denied, HTTP 500, unparseable bodies, connections reset mid-response,
throttling.

    python bench/soak.py [--scrapes 10000] [--packs 45]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scrape_latency import ENV, exporter_command, process

from exporter.simulator import ConfigSimulator, Fault, Scenario, SimulatedPack

HEALTHY = ("us-east-1", "eu-west-1")
FAILING = {
    "ap-southeast-2": Fault(kind="access_denied", region="ap-southeast-2"),
    "us-west-2": Fault(kind="internal_error", region="us-west-2"),
    "eu-central-1": Fault(kind="garbage", region="eu-central-1"),
    "ap-northeast-1": Fault(kind="reset", region="ap-northeast-1", partial=True),
    "sa-east-1": Fault(kind="throttle", region="sa-east-1"),
}
ACCOUNT = "123456789012"
WARM_UP = 20


def process_figures(pid: int, port: int, scrape_port: int) -> dict[str, float]:
    """Resident memory (MiB), open file descriptors and threads of `pid`, from /proc.

    The exporter closes a scrape's connection just after the client has read the response,
    so the descriptor of the scrape just made would be counted or not by chance: it is left
    out. Any earlier scrape's connection still open is counted, as the leak it would be.
    """
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    closing = {f"socket:[{inode}]" for inode in connection_inodes(pid, port, scrape_port)}
    fds = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds += os.readlink(f"/proc/{pid}/fd/{fd}") not in closing
        except FileNotFoundError:  # closed since the listing
            continue
    return {
        "rss": int(status["VmRSS"].split()[0]) / 1024,
        "fds": fds,
        "threads": int(status["Threads"]),
    }


def connection_inodes(pid: int, port: int, peer_port: int) -> set[str]:
    """Socket inodes of `pid`'s TCP connections from its `port` to `peer_port`."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            if (local, remote) == (port, peer_port):
                inodes.add(fields[9])
    return inodes


def expected_successes(exposition: str) -> bool:
    """Healthy regions read, failing ones reported failed: the scrape is what it should be."""
    successes = {}
    for line in exposition.splitlines():
        if line.startswith("aws_config_exporter_scrape_success{"):
            region = line.split('region="', 1)[1].split('"', 1)[0]
            successes[region] = line.rsplit(" ", 1)[1]
    wanted = {region: "1.0" for region in HEALTHY} | {region: "0.0" for region in FAILING}
    return successes == wanted


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=10_000)
    parser.add_argument("--packs", type=int, default=45, help="packs per healthy region")
    args = parser.parse_args()

    packs = [
        SimulatedPack(f"pack-{i:04d}", "CREATE_COMPLETE", reason="", requested_at=1.7e9)
        for i in range(args.packs)
    ]
    regions = (*HEALTHY, *FAILING)
    scenario = Scenario({(ACCOUNT, region): packs for region in regions})
    with ConfigSimulator(scenario) as simulator, tempfile.TemporaryDirectory() as directory:
        for fault in FAILING.values():
            simulator.add_fault(fault)
        config = Path(directory) / "config.yml"
        # One attempt per call: retries would only add botocore's backoff sleeps here.
        # Every scrape reads AWS (min_interval_seconds 0), so the soak counts real reads.
        config.write_text(
            f"regions: [{', '.join(regions)}]\ntotal_max_attempts: 1\nmin_interval_seconds: 0\n"
        )
        env = {**ENV, "AWS_ENDPOINT_URL": simulator.url}
        command = exporter_command(str(config))
        with process(command, env, r"\bport=(\d+)") as (child, match):
            port = int(match[1])

            def scrape() -> tuple[str, int]:
                """The exposition, and the local port of the connection it came over."""
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    connection.connect()
                    assert connection.sock is not None
                    local_port = int(connection.sock.getsockname()[1])
                    connection.request("GET", "/metrics")
                    response = connection.getresponse()
                    body = response.read().decode()
                finally:
                    connection.close()
                if response.status != 200:
                    raise RuntimeError(f"scrape answered {response.status}: {body}")
                return body, local_port

            for _ in range(WARM_UP):
                _, scrape_port = scrape()
            start = process_figures(child.pid, port, scrape_port)
            seconds: list[float] = []
            unexpected = 0
            began = time.monotonic()
            for _ in range(args.scrapes):
                started = time.perf_counter()
                exposition, scrape_port = scrape()
                seconds.append(time.perf_counter() - started)
                unexpected += not expected_successes(exposition)
            elapsed = time.monotonic() - began
            end = process_figures(child.pid, port, scrape_port)

    ordered = sorted(seconds)
    kinds = ", ".join(fault.kind for fault in FAILING.values())
    print(
        f"soak: {args.scrapes} scrapes in {elapsed:.1f} s; {len(HEALTHY)} healthy regions of"
        f" {args.packs} packs, {len(FAILING)} failing ({kinds})"
    )
    print(
        "latency ms: "
        + " ".join(
            f"{name}={percentile(ordered, fraction) * 1000:.1f}"
            for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        )
        + f" max={ordered[-1] * 1000:.1f} mean={statistics.fmean(ordered) * 1000:.1f}"
    )
    print(
        f"resident memory MiB: start={start['rss']:.1f} end={end['rss']:.1f}"
        f" ({end['rss'] - start['rss']:+.1f})"
    )
    print(f"open file descriptors: start={start['fds']:.0f} end={end['fds']:.0f}")
    print(f"threads: start={start['threads']:.0f} end={end['threads']:.0f}")
    print(f"unexpected scrapes: {unexpected}")


if __name__ == "__main__":
    main()
