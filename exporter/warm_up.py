"""Credentials fetched at start, in the background, so the first scrapes after a restart or a
rollout don't spend their budget on AssumeRole; readiness waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from exporter.aws.accounts import Account
from exporter.aws.errors import error_code

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
