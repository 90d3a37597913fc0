"""Targets: the (account, region) pairs that succeed or fail on their own, built from the
configuration, and the ones a `/probe` asks for.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from exporter.aws.accounts import CONFIGURED, DISCOVERED, ID_RETRY_SECONDS, Account
from exporter.aws.credentials import Sessions
from exporter.aws.hooks import ApiCallCounter
from exporter.config import AccountConfig, Config

log = logging.getLogger(__name__)

NO_REGION = "no AWS region: set `regions` in the config file, AWS_REGION or AWS_DEFAULT_REGION"


@dataclass(frozen=True)
class Target:
    """One region of one account: the unit that succeeds or fails on its own."""

    account: Account
    region: str

    @property
    def client(self) -> Any:
        """The account's AWS Config client in this region."""
        return self.account.clients[self.region]


# What an account is built from: its entry (less its regions), source and client settings
# (timeouts, attempts). Two accounts with one key read alike, in whatever regions.
AccountKey = tuple[AccountConfig, str, float, float, int]


class Accounts:
    """Makes the accounts of one configuration, and remembers what each was built from.

    A reload makes its accounts with `reusable`, the running accounts by key: one built the
    same way is reused, with its sessions, credentials, clients, readings and call counts.
    The reload calls `stop_reusing` once built: an account it did not reuse leaves the
    targets (its counts forgotten), and must not come back through a later `make`.
    """

    def __init__(
        self,
        sessions: Sessions,
        config: Config,
        counter: ApiCallCounter,
        allowed_actions: frozenset[str],
        reusable: Mapping[AccountKey, Account] | None = None,
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._counter = counter
        self._allowed_actions = allowed_actions
        self._reusable = dict(reusable or {})
        self._keys: weakref.WeakKeyDictionary[Account, AccountKey] = weakref.WeakKeyDictionary()
        self._regions: dict[Account, tuple[str, ...]] = {}  # reused accounts' new regions
        self._lock = threading.Lock()  # discovery makes accounts on its own thread

    def make(self, account: AccountConfig, regions: tuple[str, ...], source: str) -> Account:
        """The account for `account` in `regions`: a reusable one built alike, else a new one."""
        config = self._config
        key = (
            replace(account, regions=()),
            source,
            config.connect_timeout_seconds,
            config.read_timeout_seconds,
            config.total_max_attempts,
        )
        with self._lock:
            made = self._reusable.get(key)
            if made is not None and made.regions != regions:
                self._regions[made] = regions
            elif made is None:
                made = Account(
                    self._sessions,
                    account,
                    regions,
                    config,
                    self._counter,
                    self._allowed_actions,
                    source,
                )
            self._keys[made] = key
        return made

    def apply_regions(self) -> None:
        """Give the reused accounts whose regions changed their new ones: called once the
        reload that reused them has built everything, so a file that fails changes none."""
        with self._lock:
            changed, self._regions = self._regions, {}
        for account, regions in changed.items():
            account.set_regions(regions)

    def stop_reusing(self) -> None:
        """Make only new accounts from now on."""
        with self._lock:
            self._reusable.clear()

    def keys(self, accounts: Iterable[Account]) -> dict[AccountKey, Account]:
        """`accounts` (those read now) by key, for the next reload to reuse; those this did
        not make are left out."""
        with self._lock:
            return {self._keys[a]: a for a in accounts if a in self._keys}


def build_targets(
    config: Config,
    sessions: Sessions,
    counter: ApiCallCounter,
    allowed_actions: frozenset[str],
    default_regions: tuple[str, ...],
    accounts: Accounts | None = None,
) -> list[Target]:
    """One target per (account, region) read from the start: the listed accounts, else the
    default credentials' account (discovered as an organisation member, if discovery is on).

    An account's regions are its own, else the config's, else `default_regions` (the SDK's).
    `accounts` makes them (a reload's reuses the running ones); default: new ones.

    Raises ValueError when an account ends up with no region to read.
    """
    accounts = accounts or Accounts(sessions, config, counter, allowed_actions)
    source = CONFIGURED if config.accounts or not config.organization_accounts else DISCOVERED
    targets = []
    for account_config in config.accounts or (config.base_account or AccountConfig(),):
        regions = account_config.regions or config.regions or default_regions
        if not regions:
            raise ValueError(NO_REGION)
        account = accounts.make(account_config, regions, source)
        targets += [Target(account, region) for region in regions]
    return targets


def distinct_accounts(targets: Sequence[Target], concurrency: int) -> list[Target]:
    """`targets` (those of `build_targets`) less the accounts an earlier entry reads already.

    The configuration refuses every duplicate it can see; two profiles (or a profile and the
    default credentials) of one account are only known from STS. Each entry whose id is
    unknown asks once, in parallel, with the exporter's timeouts; the first entry of an
    account wins and one warning names both. An id that can't be learned keeps its entry.
    """
    accounts = list(dict.fromkeys(target.account for target in targets))  # one per entry
    unknown = [account for account in accounts if account.account_id is None]
    if len(accounts) < 2 or not unknown:
        return list(targets)
    with ThreadPoolExecutor(min(concurrency, len(unknown)), "account-id") as pool:
        list(pool.map(Account.resolve_account_id, unknown))
    first: dict[str, int] = {}
    dropped = set()
    for index, account in enumerate(accounts, 1):
        account_id = account.account_id
        if account_id is None:
            continue
        kept = first.setdefault(account_id, index)
        if kept != index:
            dropped.add(account)
            log.warning(
                "two accounts entries are one account; reading it once, as the first",
                extra={
                    "account_id": account_id,
                    "entry": _entry(index, account),
                    "same_as": _entry(kept, accounts[kept - 1]),
                },
            )
    return [target for target in targets if target.account not in dropped]


def _entry(index: int, account: Account) -> str:
    """How the log names an entry of `accounts`: its key, and its name if it has one."""
    return f"accounts[{index}]" + (f" ({account.name})" if account.name else "")


class UnknownTargetError(LookupError):
    """A probe asked for an account or region that is not configured."""


def select_targets(targets: Sequence[Target], account: str, region: str = "") -> list[Target]:
    """The targets `/probe` asks for: an account by id or name, optionally one region."""
    if not account:
        raise UnknownTargetError("the account parameter is required")
    chosen = [t for t in targets if account in (t.account.account_id, t.account.name)]
    if not chosen and any(target.account.account_id is None for target in targets):
        # Profile and default-chain accounts learn their id from their first read; ask
        # STS now (once per account, or once a minute while it fails) rather than turn
        # away a valid id.
        chosen = [
            target
            for target in targets
            if target.account.resolve_account_id(retry_seconds=ID_RETRY_SECONDS) == account
        ]
    if not chosen:
        known = sorted({t.account.name or t.account.account_id or "" for t in targets})
        raise UnknownTargetError(f"unknown account {account!r}; configured: {known}")
    if region:
        regions = sorted({target.region for target in chosen})
        chosen = [target for target in chosen if target.region == region]
        if not chosen:
            raise UnknownTargetError(f"{account!r} has no region {region!r}; it has {regions}")
    return chosen


def discovery_labels(targets: Sequence[Target]) -> list[dict[str, str]]:
    """One label set per target for `/sd`: the `/probe` parameters and the target's labels.

    The account parameter is the account's id when known, else its name, else the id STS
    tells (once per account, or once a minute while it fails); `account_id` is left out
    until the id is known, rather than ask STS for a named account on every discovery.
    """
    discovered = []
    for target in targets:
        account = target.account
        account_id = account.account_id or (
            "" if account.name else account.resolve_account_id(retry_seconds=ID_RETRY_SECONDS)
        )
        labels = {
            "__param_account": account_id or account.name,
            "__param_region": target.region,
            "region": target.region,
        }
        if account_id:
            labels["account_id"] = account_id
        discovered.append(labels)
    return discovered
