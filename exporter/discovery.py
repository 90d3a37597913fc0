"""Account discovery: the organisation's active accounts, listed on an interval, become targets.

It runs on its own thread rather than inside scrapes: `/sd` and `/probe` need the list whether
or not anything scrapes `/metrics`. Accounts listed in `accounts` win over discovered ones
with the same id; the base credentials' own account is read with those credentials; an
account that leaves the list stops being read, and its series go with it. The names the
listing gives the accounts are kept too (`account_names`), apart from the accounts: they need
not be unique, so they never become an account's `/probe` name. A configuration reload
replaces the discovery with one that carries on the last list and names (see `previous`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from exporter.aws.accounts import DISCOVERED, Account
from exporter.aws.credentials import Sessions
from exporter.aws.errors import UnknownAccountIdError, error_code
from exporter.aws.hooks import ApiCallCounter
from exporter.aws.organizations import list_active_accounts
from exporter.aws.targets import NO_REGION, Accounts, Target
from exporter.collection import Reading
from exporter.config import AccountConfig, Config, OrganizationAccountsConfig
from exporter.deadline import Deadline

log = logging.getLogger(__name__)

# How long one listing may take: 250 pages (5,000 accounts) at a few hundred ms each.
LISTING_SECONDS = 300.0
# A failed listing is tried again sooner than the interval, but not in a tight loop.
RETRY_SECONDS = 60.0


class AccountDiscovery:
    """Keeps the targets in step with the organisation's accounts; reports like a collector."""

    name = "discovery"

    def __init__(
        self,
        settings: OrganizationAccountsConfig,
        account: Account,
        configured: Sequence[Target],
        make_account: Callable[[AccountConfig], Account],
        apply: Callable[[Sequence[Target]], None],
        partition: str,
        initial: Sequence[Target] = (),
        previous: AccountDiscovery | None = None,
    ) -> None:
        """`account` holds the base credentials: it lists the accounts, and is read itself
        when listed. `configured` are the targets of `accounts`; `apply` takes each new list
        (and warms its new accounts, see exporter/warm_up.py). `initial` are the targets read
        until a first listing. `previous`, the discovery a reload replaces, hands on its last
        list (each account made again with `make_account`, which reuses one built alike), its
        last listing's report and its readiness."""
        self.account = account
        self._settings = settings
        self._configured = tuple(configured)
        self._initial = tuple(initial)
        self._make_account = make_account
        self._apply = apply
        self._partition = partition
        self._discovered: dict[str, Account] = {}
        self._names: Mapping[str, str] = {}  # id → name, replaced whole: read by scrapes
        self._listed = False  # whether `_discovered` is a listing's, or only empty
        self._organizations: Any = None  # made on first use, like the accounts' clients
        self._last: tuple[Reading, float | None] | None = None  # and the last success's time
        self._stop = threading.Event()
        self._applying = threading.Lock()  # held while a listing's targets are applied
        self._attempted = threading.Event()
        self._sts: Any = None  # made on first use too
        self._delay = 0.0  # before the first listing
        self._due: float | None = None  # when the next listing starts (monotonic)
        if previous is not None:
            self._carry_on(previous)

    @property
    def account_id(self) -> str | None:
        """The base credentials' account: the listing's calls are counted under discovery,
        with this id, so a probe of that account does not serve them too."""
        return self.account.account_id

    @property
    def organizations(self) -> Any:
        """The Organizations client that lists the accounts, made on first use (the
        listing's thread is its only user)."""
        if self._organizations is None:
            self._organizations = self.account.client_for("organizations", self)
        return self._organizations

    @property
    def sts(self) -> Any:
        """The STS client that tells the base account's id. With `accounts` listed, the base
        account is no target (until listed, if ever): the call is the listing's own, counted
        and served under it; else it is the base target's own client."""
        if self._sts is None:
            own = not self._configured
            self._sts = self.account.sts_client if own else self.account.client_for("sts", self)
        return self._sts

    @property
    def ready(self) -> bool:
        """Whether the first listing has succeeded or failed."""
        return self._attempted.is_set()

    def last_reading(self) -> tuple[Reading, float | None] | None:
        """The last listing as a reading, and when one last succeeded."""
        return self._last

    def account_names(self) -> Mapping[str, str]:
        """The names Organizations gives the active accounts (read or not), by id, as the last
        successful listing had them; accounts without a name are left out."""
        return self._names

    def targets(self) -> list[Target]:
        """The targets to read now: those of the last list, else the initial ones."""
        return self._targets(self._discovered) if self._listed else list(self._initial)

    def start(self) -> None:
        """List now (or when the discovery a reload replaced would have), then every refresh
        interval, on a daemon thread, until `close`."""
        threading.Thread(target=self._run, name="discovery", daemon=True).start()

    def close(self) -> None:
        """Stop after the listing in progress, if any."""
        self._stop.set()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No listing applies its targets meanwhile: a reload builds on the targets read now,
        then closes this discovery, whose listing in progress then applies nothing."""
        with self._applying:
            yield

    def refresh(self) -> bool:
        """List the accounts once; on success the targets follow, on failure they stay."""
        started = time.monotonic()
        region = self.account.regions[0]
        try:
            listed = list_active_accounts(self.organizations, Deadline.after(LISTING_SECONDS))
            discovered = self._accounts(listed)
            names = {account_id: name for account_id, name in listed.items() if name}
            with self._applying:
                if self._stop.is_set():  # replaced by a reload, whose discovery lists anew
                    return False
                # New accounts are read from within `_apply`: their names are there first.
                self._names = {**self._names, **names}
                self._apply(self._targets(discovered))
        except Exception as error:
            code = error_code(error)
            log.warning(
                "account discovery failed",
                extra={
                    "collector": self.name,
                    "account_id": self.account.account_id or "",
                    "region": region,
                    "error_code": code,
                },
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            failed = Reading(
                self.account.account_id or "", region, False, time.monotonic() - started, {}, code
            )
            self._last = (failed, self._last[1] if self._last else None)
            return False
        added, removed = discovered.keys() - self._discovered, self._discovered.keys() - discovered
        if added or removed:
            log.info(
                "accounts discovered",
                extra={"accounts": len(discovered), "added": len(added), "removed": len(removed)},
            )
        self._discovered, self._listed, self._names = discovered, True, names
        elapsed = time.monotonic() - started
        self._last = (
            Reading(self.account.resolve_account_id(self.sts), region, True, elapsed),
            time.time(),
        )
        return True

    def _run(self) -> None:
        self._stop.wait(self._delay)
        while not self._stop.is_set():
            succeeded = self.refresh()
            self._attempted.set()
            interval = self._settings.refresh_interval_seconds
            wait = interval if succeeded else min(interval, RETRY_SECONDS)
            self._due = time.monotonic() + wait
            self._stop.wait(wait)

    def _carry_on(self, previous: AccountDiscovery) -> None:
        """Take over `previous`'s list, less the accounts now excluded or configured, each
        made again for the new settings; its base account becomes this one's. Unless the
        listing itself changed, the first listing waits for the time `previous`'s was due."""
        skipped = {*self._settings.exclude, *(t.account.account_id for t in self._configured)}
        for account_id, account in previous._discovered.items():
            if account_id in skipped:
                continue
            if account is previous.account:
                self._discovered[account_id] = self.account
            else:
                member = self._settings.member(account_id, self._partition)
                self._discovered[account_id] = self._make_account(member)
        self._listed = previous._listed
        self._names = previous._names
        self._last = previous._last
        if previous.ready:
            self._attempted.set()
        # The same listing as before lists on its schedule: reloads never list more often.
        unchanged = (previous._settings, previous.account, previous._configured) == (
            self._settings,
            self.account,
            self._configured,
        )
        if unchanged and previous._due is not None:
            self._delay = max(0.0, previous._due - time.monotonic())

    def _accounts(self, listed: Collection[str]) -> dict[str, Account]:
        """The accounts to read of those `listed`, by id: the base account first, then the
        rest by id, less the excluded and configured ones. Raises when an id needed to tell
        accounts apart is unknown, rather than read one account twice."""
        base_id = self.account.resolve_account_id(self.sts)
        if not base_id:
            raise UnknownAccountIdError("cannot learn the base credentials' account id")
        skipped = set(self._settings.exclude)
        for target in self._configured:
            configured_id = target.account.resolve_account_id()
            if not configured_id:
                raise UnknownAccountIdError(f"cannot learn the id of {target.account.name!r}")
            skipped.add(configured_id)
        wanted = sorted(set(listed) - skipped, key=lambda id_: (id_ != base_id, id_))
        discovered = {}
        for account_id in wanted:
            account = self._discovered.get(account_id)
            if account is None and account_id == base_id:
                account = self.account
            elif account is None:
                member = self._settings.member(account_id, self._partition)
                account = self._make_account(member)
            discovered[account_id] = account
        return discovered

    def _targets(self, discovered: dict[str, Account]) -> list[Target]:
        """The configured targets first: the first target is the one organisation-level
        collectors read, and with `accounts` listed it stays the first of them."""
        return [
            *self._configured,
            *(
                Target(account, region)
                for account in discovered.values()
                for region in account.regions
            ),
        ]


def build_discovery(
    config: Config,
    targets: Sequence[Target],
    sessions: Sessions,
    counter: ApiCallCounter,
    allowed_actions: frozenset[str],
    default_regions: tuple[str, ...],
    apply: Callable[[Sequence[Target]], None],
    accounts: Accounts | None = None,
    previous: AccountDiscovery | None = None,
) -> AccountDiscovery | None:
    """The discovery `organization_accounts` asks for, starting from `targets` (those of
    `build_targets`); None when it is off. `accounts` makes the accounts (default: new ones);
    `previous` is the discovery a reload replaces. Raises ValueError when there is no region."""
    settings = config.organization_accounts
    if settings is None:
        return None
    regions = settings.regions or config.regions or default_regions
    if not regions:
        raise ValueError(NO_REGION)
    accounts = accounts or Accounts(sessions, config, counter, allowed_actions)

    def make_account(account: AccountConfig) -> Account:
        return accounts.make(account, regions, DISCOVERED)

    if config.accounts:
        base, configured = make_account(AccountConfig()), targets
    else:  # the base credentials' account is read from the start, before the first listing
        base, configured = targets[0].account, ()
    return AccountDiscovery(
        settings,
        base,
        configured,
        make_account,
        apply,
        sessions.partition(regions[0]),
        targets,
        previous,
    )
