"""Command line: flags, logging, signals; wires config → AWS clients → collector → HTTP."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

import botocore.session
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import Metric

from exporter import __version__
from exporter.aws import ApiCallCounter, Sessions, pack_states
from exporter.collector import ConformancePackCollector, build_targets
from exporter.config import Config, ConfigError, load_config
from exporter.http import make_app, make_server, parse_listen_address
from exporter.log import LEVELS, configure_logging
from exporter.metrics import build_info_family
from exporter.organization import OrganizationCollector
from exporter.simulator import DEMO_REGIONS, ConfigSimulator, demo_scenario
from exporter.web import WebConfigFile

log = logging.getLogger("exporter")

DEFAULT_PORT = 9869
PROGRAM = "conformance-pack-exporter"
EXIT_USAGE = 2


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Flags named like every Prometheus exporter's, so operators need not learn new ones."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Prometheus exporter for AWS Config conformance pack deployment status.",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help="address to listen on: host:port, :port or [ipv6]:port (default: %(default)s)",
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path under which to expose metrics (default: %(default)s)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        help="exporter-toolkit web configuration file: TLS, basic auth, headers (optional)",
    )
    parser.add_argument(
        "--config.file", dest="config_file", help="YAML configuration file (optional)"
    )
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration file and exit: 0 if valid, 2 if not",
    )
    parser.add_argument(
        "--log.level", dest="log_level", choices=sorted(LEVELS), default="info", help="log level"
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=("logfmt", "json"),
        default="logfmt",
        help="log format (default: %(default)s)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve live demo data from the built-in AWS Config simulator; no AWS account needed",
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    args = parser.parse_args(argv)
    if not args.telemetry_path.startswith("/") or args.telemetry_path.startswith("/-/"):
        parser.error("--web.telemetry-path must start with / and not with /-/")
    return args


def _fail(message: str) -> int:
    print(f"{PROGRAM}: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(argv: Sequence[str]) -> int:
    """Run the exporter until SIGTERM or SIGINT; returns the process exit code."""
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        config = load_config(args.config_file) if args.config_file else Config()
        web_config = WebConfigFile(args.web_config_file) if args.web_config_file else None
        host, port = parse_listen_address(args.listen_address)
    except ConfigError as error:
        return _fail(f"configuration error: {error}")
    except ValueError as error:
        return _fail(f"invalid --web.listen-address: {error}")
    if args.config_check:
        print(f"{args.config_file or 'default configuration'}: OK")
        return 0

    simulator: ConfigSimulator | None = None
    if args.demo:
        simulator = ConfigSimulator(demo_scenario(time.time()))
        simulator.start()
        demo = botocore.session.get_session()
        demo.set_credentials("AKIADEMODEMODEMODEMO", "demo-secret-access-key")
        sessions = Sessions(demo, endpoint_url=simulator.url)
        default_regions: tuple[str, ...] = DEMO_REGIONS
    else:
        sessions = Sessions()
        # botocore reads AWS_DEFAULT_REGION and profiles; most other SDKs also read AWS_REGION.
        region = sessions.base.get_config_variable("region") or os.environ.get("AWS_REGION")
        default_regions = (region,) if region else ()
    counter = ApiCallCounter()
    try:
        targets = build_targets(config, sessions, counter, default_regions)
    except ValueError as error:
        return _fail(str(error))
    collector = ConformancePackCollector(
        targets,
        pack_states(targets[0].client),
        counter,
        pack_names=config.conformance_packs,
        export_status_reason=config.export_status_reason,
        concurrency=config.concurrency,
        default_timeout_seconds=config.default_scrape_timeout_seconds,
        min_interval_seconds=config.min_interval_seconds,
    )
    process_registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=process_registry)
    build_info = build_info_family()

    organization = (
        OrganizationCollector(
            targets[0],
            export_status_reason=config.export_status_reason,
            min_interval_seconds=config.min_interval_seconds,
        )
        if config.organization_conformance_packs
        else None
    )

    def scrape(budget_seconds: float) -> list[Metric]:
        deadline = time.monotonic() + budget_seconds
        pending = organization.begin(deadline) if organization else None
        families = collector.collect_within(budget_seconds)
        if organization:
            families += organization.end(pending, deadline)
        return [*families, build_info, *process_registry.collect()]

    def probe(parameters: dict[str, str], budget_seconds: float) -> list[Metric]:
        return [*collector.probe(parameters, budget_seconds), build_info]

    app = make_app(
        scrape,
        probe=probe,
        telemetry_path=args.telemetry_path,
        default_timeout_seconds=config.default_scrape_timeout_seconds,
        timeout_offset_seconds=config.scrape_timeout_offset_seconds,
    )
    if web_config:
        app = web_config.protect(app)
    tls = web_config.ssl_context if web_config and web_config.tls else None
    try:
        server = make_server(host, port, app, tls)
    except OSError as error:
        log.error("cannot listen", extra={"address": args.listen_address, "error": str(error)})
        collector.close()
        if simulator:
            simulator.stop()
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "listening",
        extra={
            "address": args.listen_address,
            "port": server.server_port,
            "tls": tls is not None,
            "targets": len(targets),
            "demo": args.demo,
            "version": __version__,
        },
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        collector.close()
        if organization:
            organization.close()
        if simulator:
            simulator.stop()
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
