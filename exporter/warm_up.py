"""Credentials fetched before an account is read, so its first scrapes don't spend their
budget on AssumeRole: at start in the background (readiness waits for it), and for accounts
that join while serving (discovery's listings, configuration reloads) before they are read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from exporter.aws.accounts import Account
from exporter.aws.errors import error_code
from exporter.aws.targets import Target
from exporter.collection import Collector
from exporter.scrape import Scraper

log = logging.getLogger(__name__)


class WarmUp:
    """Warms every account once; `ready` once each has succeeded or failed once."""

    def __init__(self, accounts: Iterable[Account], concurrency: int) -> None:
        self._accounts = list(dict.fromkeys(accounts))
        self._concurrency = max(1, min(concurrency, len(self._accounts)))
        self._done = threading.Event()

    @property
    def ready(self) -> bool:
        """Whether every account has been warmed, or failed to be."""
        return self._done.is_set()

    def start(self) -> None:
        """Warm the accounts on daemon threads; the caller goes on serving meanwhile."""
        threading.Thread(target=self.run, name="warm-up", daemon=True).start()

    def run(self) -> None:
        """Warm the accounts and return once each has succeeded or failed."""
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="warm-up") as pool:
            warmed = list(pool.map(self._warm, self._accounts))
        self._done.set()
        log.info("warmed up", extra={"accounts": len(warmed), "failed": warmed.count(False)})

    def _warm(self, account: Account) -> bool:
        """A failure here fails nothing: the account's scrapes will report and retry it. A
        role's failure is logged by its refresh already: one line per account, not two."""
        try:
            account.warm_up()
        except Exception as error:
            log.log(
                logging.DEBUG if account.assumes_role else logging.WARNING,
                "warm-up failed",
                extra={"account_id": account.account_id or "", "error_code": error_code(error)},
            )
            return False
        return True


class TargetUpdates:
    """The one way the targets change while serving, for discovery and reloads alike.

    Accounts new to the targets are warmed up first, then the targets (and a reload's
    collectors) are applied in one step, then the call counts of the accounts that left are
    forgotten rather than kept for the life of the process, but for those in `keep`:
    discovery's base account, whose credentials list the accounts even when it is not read.
    Updates run one at a time.
    """

    def __init__(
        self, scraper: Scraper, forget: Callable[[set[Account]], None], concurrency: int
    ) -> None:
        self._scraper = scraper
        self._forget = forget
        self.concurrency = concurrency  # of the warm-up; a reload may change it
        self.keep: frozenset[Account] = frozenset()
        self._lock = threading.Lock()

    def apply(
        self, targets: Sequence[Target], collectors: Sequence[Collector] | None = None
    ) -> None:
        """Read `targets` (with `collectors`, if given) once their new accounts are warm.

        A target equal to a running one keeps the running object: what is remembered per
        target (the pack rules the pipeline reads) stays with it.
        """
        with self._lock:
            running = {target: target for target in self._scraper.targets}
            chosen = [running.get(target, target) for target in targets]
            before = {target.account for target in running}
            after = list(dict.fromkeys(target.account for target in chosen))
            new = [account for account in after if account not in before]
            if new:
                WarmUp(new, self.concurrency).run()
            self._scraper.set_targets(chosen, collectors)
            gone = before.difference(after, self.keep)
            if gone:
                self._forget(gone)
