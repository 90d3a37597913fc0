"""What a configuration builds before anything reads: targets, collectors and account
discovery, built the same way at start, by --config.check and by each reload, so that a file
the check passes also starts and reloads.

No thread starts here, and no AWS call is made but the one that tells two entries of one
account apart (`distinct_accounts`), which the check leaves out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from exporter.aws.accounts import Account
from exporter.aws.credentials import Sessions
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.targets import AccountKey, Accounts, Target, build_targets, distinct_accounts
from exporter.collection import Collector
from exporter.collectors import COLLECTOR_NAMES, COLLECTORS, IAM_ACTIONS
from exporter.config import Config, ConfigError
from exporter.discovery import AccountDiscovery, build_discovery
from exporter.pack_rules import PackRules
from exporter.scrape import Scraper
from exporter.warm_up import TargetUpdates


def refusal(error: ConfigError | ValueError) -> str:
    """The one line a configuration that cannot work gets, at start and on reload alike."""
    return f"configuration error: {error}" if isinstance(error, ConfigError) else str(error)


@dataclass(frozen=True)
class Basis:
    """What every configuration of one process is built on: a reload keeps it. The call
    counter outlives the accounts it counts; the pack rules are the ones compliance writes
    and the pipeline reads, whichever of them a reload rebuilds."""

    sessions: Sessions
    default_regions: tuple[str, ...]
    counter: ApiCallCounter = field(default_factory=ApiCallCounter)
    pack_rules: PackRules = field(default_factory=PackRules)


@dataclass(frozen=True)
class Built:
    """One configuration, built: nothing reads it until it is applied."""

    config: Config
    accounts: Accounts
    targets: list[Target]
    collectors: list[Collector]
    discovery: AccountDiscovery | None


def collectors_of(config: Config, basis: Basis) -> list[Collector]:
    """The collectors `config` switches on, in exposition order, on the basis' pack rules."""
    model = basis.sessions.base.get_service_model("config")
    built = (kind.from_config(config, model, basis.pack_rules) for kind in COLLECTORS)
    return [collector for collector in built if collector is not None]


def build(
    config: Config,
    basis: Basis,
    apply: Callable[[Sequence[Target]], None],
    *,
    ask_aws: bool = True,
    reusable: Mapping[AccountKey, Account] | None = None,
    previous: AccountDiscovery | None = None,
) -> Built:
    """Targets, collectors and discovery (whose listings go to `apply`) for `config`.

    Anything that cannot work raises ValueError here, once, the same way at start, in the
    check and on reload. `ask_aws` drops the entries that STS says are one account (the
    check leaves them). A reload passes the running accounts as `reusable` and its discovery
    as `previous`: an account built alike is reused, with its credentials and readings.
    """
    accounts = Accounts(basis.sessions, config, basis.counter, IAM_ACTIONS, reusable)
    targets = build_targets(
        config, basis.sessions, basis.counter, IAM_ACTIONS, basis.default_regions, accounts
    )
    if ask_aws:
        targets = distinct_accounts(targets, config.concurrency)
    collectors = collectors_of(config, basis)
    discovery = build_discovery(
        config,
        targets,
        basis.sessions,
        basis.counter,
        IAM_ACTIONS,
        basis.default_regions,
        apply,
        accounts,
        previous,
    )
    accounts.stop_reusing()
    return Built(config, accounts, targets, collectors, discovery)


@dataclass(frozen=True)
class Plan:
    """What start-up serves from: the basis, the first configuration built, the scraper that
    reads it and the one path that changes its targets while serving."""

    basis: Basis
    built: Built
    scraper: Scraper
    updates: TargetUpdates


def prepare(
    config: Config, sessions: Sessions, default_regions: tuple[str, ...], ask_aws: bool = True
) -> Plan:
    """The plan start-up serves, and --config.check builds (with `ask_aws` false) to refuse
    what would not start; raises ValueError for that."""
    basis = Basis(sessions, default_regions)
    scraper = Scraper((), (), basis.counter, concurrency=config.concurrency, names=COLLECTOR_NAMES)
    updates = TargetUpdates(scraper, basis.counter.forget, config.concurrency)
    try:
        built = build(config, basis, updates.apply, ask_aws=ask_aws)
    except ValueError:
        scraper.close()
        raise
    # The start warms every account in the background (readiness waits): no warm-up here.
    scraper.set_targets(built.targets, built.collectors)
    if built.discovery is not None:
        scraper.set_reporters([built.discovery])
        scraper.set_listed_names(built.discovery.account_names)
        updates.keep = frozenset({built.discovery.account})
    return Plan(basis, built, scraper, updates)
