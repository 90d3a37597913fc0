"""Command line: flags, logging, signals; wires config → plan (targets, collectors, scraper) →
reloader → HTTP."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

import botocore.session

from exporter import __version__
from exporter.allocator import tune_allocator
from exporter.aws.credentials import Sessions
from exporter.aws.targets import discovery_labels
from exporter.config import Config, ConfigError, load_config
from exporter.http import make_app, make_server, parse_listen_address
from exporter.log import LEVELS, configure_logging
from exporter.plan import prepare, refusal
from exporter.regions import check_environment_regions
from exporter.reload import Reloader
from exporter.warm_up import WarmUp
from exporter.web import WebConfigFile

log = logging.getLogger("exporter")

DEFAULT_PORT = 9869
PROGRAM = "conformance-pack-exporter"
# Exit codes, the same for every failure before serving: 2 for configuration and usage,
# 1 for anything else (a port in use, say); each is one line on stderr, never a traceback.
EXIT_USAGE = 2
EXIT_FAILURE = 1


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


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"{PROGRAM}: {message}", file=sys.stderr)
    return code


def _demo_sessions(stack: contextlib.ExitStack) -> tuple[Sessions, tuple[str, ...]]:
    """Sessions on the built-in simulator, imported only here: the product never needs it."""
    from exporter.simulator import DEMO_REGIONS, ConfigSimulator, demo_scenario

    simulator = stack.enter_context(ConfigSimulator(demo_scenario(time.time())))
    demo = botocore.session.get_session()
    demo.set_credentials("AKIADEMODEMODEMODEMO", "demo-secret-access-key")
    return Sessions(demo, endpoint_url=simulator.url), DEMO_REGIONS


def _aws_sessions() -> tuple[Sessions, tuple[str, ...]]:
    """Sessions on the default credential chain, in the SDK's region (or AWS_REGION)."""
    sessions = Sessions()
    region = sessions.default_region() or os.environ.get("AWS_REGION")
    return sessions, (region,) if region else ()


def read_config(args: argparse.Namespace) -> Config:
    """The configuration, read and checked: at start and by every reload alike."""
    # The demo's credentials are its own; otherwise the default chain's, asked only when a
    # configured session is longer than role chaining allows.
    base_is_role = (lambda: None) if args.demo else (lambda: Sessions().base_is_role())
    config = load_config(args.config_file, base_is_role) if args.config_file else Config()
    if not args.demo:  # the demo reads its own simulator, whatever the environment says
        check_environment_regions(os.environ, allow_unknown=config.allow_unknown_regions)
    return config


def run(argv: Sequence[str]) -> int:
    """Run the exporter until SIGTERM or SIGINT; SIGHUP reloads the configuration file.
    Returns the process exit code."""
    args = parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    tune_allocator()
    # A SIGHUP before serving (a config reloader racing the start) must not end the process:
    # it is remembered, and the file read again once the exporter serves.
    early_reload = threading.Event()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: early_reload.set())
    try:
        config = read_config(args)
        web_config = WebConfigFile(args.web_config_file) if args.web_config_file else None
        host, port = parse_listen_address(args.listen_address)
    except ConfigError as error:
        return _fail(refusal(error))
    except ValueError as error:
        return _fail(f"invalid --web.listen-address: {error}")

    with contextlib.ExitStack() as stack:
        sessions, default_regions = _demo_sessions(stack) if args.demo else _aws_sessions()
        try:
            if args.config_check:
                prepare(config, sessions, default_regions, ask_aws=False).scraper.close()
                print(f"{args.config_file or 'default configuration'}: OK")
                return 0
            plan = prepare(config, sessions, default_regions)
        except ValueError as error:
            return _fail(refusal(error))
        scraper, targets = plan.scraper, plan.built.targets
        stack.callback(scraper.close)
        reloader = Reloader(args.config_file, lambda: read_config(args), plan)
        scraper.add_exporter_families(reloader.status.families)
        stack.callback(reloader.close)
        warm_up = WarmUp((target.account for target in targets), config.concurrency)

        def ready() -> bool:
            discovery = reloader.discovery
            return warm_up.ready and (discovery is None or discovery.ready)

        def timeouts() -> tuple[float, float]:
            settings = reloader.config
            return settings.default_scrape_timeout_seconds, settings.scrape_timeout_offset_seconds

        app = make_app(
            scraper.metrics,
            probe=scraper.probe,
            discover=lambda: discovery_labels(scraper.targets),
            status=scraper.snapshot,
            ready=ready,
            reload=reloader.reload,
            telemetry_path=args.telemetry_path,
            timeouts=timeouts,
        )
        if web_config:
            app = web_config.protect(app)
        tls = web_config.ssl_context if web_config and web_config.tls else None
        try:
            server = make_server(host, port, app, tls)
        except OSError as error:
            reason = error.strerror or str(error)
            return _fail(f"cannot listen on {args.listen_address}: {reason}", EXIT_FAILURE)
        stack.callback(server.server_close)
        warm_up.start()
        if plan.built.discovery is not None:
            plan.built.discovery.start()

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("shutting down", extra={"signal": signal.Signals(signum).name})
            threading.Thread(target=server.shutdown, daemon=True).start()

        def reload(_signum: int, _frame: FrameType | None) -> None:
            # On a thread of its own: the signal interrupts the serving loop, which must not
            # wait for new accounts to warm up.
            threading.Thread(target=reloader.reload, name="reload", daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        if early_reload.is_set():
            reload(signal.SIGHUP, None)
        log.info(
            "listening",
            extra={
                "address": args.listen_address,
                "port": server.server_port,
                "tls": tls is not None,
                "targets": len(targets),
                "collectors": ",".join(collector.name for collector in plan.built.collectors),
                "demo": args.demo,
                "version": __version__,
            },
        )
        server.serve_forever(poll_interval=0.2)
    return 0


def main() -> None:
    """Console-script entry point.

    Ends the process without joining the worker threads: an AWS read in flight (a blackholed
    endpoint waits out every read timeout and retry) must not delay SIGTERM, and the exporter
    holds no state that an abandoned read could lose.
    """
    code = run(sys.argv[1:])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
