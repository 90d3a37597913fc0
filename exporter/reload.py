"""Reloading the configuration file while serving: SIGHUP and `POST /-/reload`.

The file is read and checked exactly as at start (start-up's own `load`, then
`plan.build`), and a file that fails changes nothing: the previous configuration keeps
serving. Otherwise what changed is applied and the rest kept: an account built alike keeps
its sessions, credentials, readings and call counts; a collector whose settings did not change
keeps its readings; accounts new to the targets are warmed up before they are read, through
the path discovery's listings take (`TargetUpdates`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from prometheus_client.core import Metric

from exporter.aws.accounts import Account
from exporter.aws.hooks import Owner
from exporter.collection import Collector
from exporter.config import Config, ConfigError
from exporter.discovery import AccountDiscovery
from exporter.metrics import reload_families
from exporter.plan import Built, Plan, build, collectors_of, refusal

log = logging.getLogger(__name__)


class ReloadStatus:
    """The last reload's outcome and the last success's time (the start's, before any).

    Scrapes read it while a reload runs: the pair is one tuple, replaced whole.
    """

    def __init__(self, started_at: float) -> None:
        self._state = (True, started_at)

    def succeeded(self) -> None:
        self._state = (True, time.time())

    def failed(self) -> None:
        self._state = (False, self._state[1])

    def families(self) -> list[Metric]:
        """The two self-metrics, as `/metrics` serves them."""
        return reload_families(*self._state)


def kept_collectors(
    running: Sequence[Collector], was: Sequence[Collector], built: Sequence[Collector]
) -> list[Collector]:
    """`built` (the new configuration's collectors), each replaced by the running one of its
    name if the running configuration, built again (`was`), builds it alike: the running one
    keeps its readings. One built otherwise reads from scratch with its new settings."""
    running_by_name = {collector.name: collector for collector in running}
    was_by_name = {collector.name: collector for collector in was}
    kept = []
    for collector in built:
        before, fresh = running_by_name.get(collector.name), was_by_name.get(collector.name)
        alike = fresh is not None and type(fresh) is type(collector)
        kept.append(before if before and alike and vars(fresh) == vars(collector) else collector)
    return kept


class Reloader:
    """Re-reads `path` and applies it; reloads run one at a time, from any thread."""

    def __init__(self, path: str | None, load: Callable[[], Config], plan: Plan) -> None:
        """`load` reads and checks the file as start-up does (the same function)."""
        self._path = path
        self._load = load
        self._basis, self._scraper, self._updates = plan.basis, plan.scraper, plan.updates
        self._built = plan.built
        self._lock = threading.Lock()
        self.status = ReloadStatus(time.time())

    @property
    def config(self) -> Config:
        """The configuration in effect."""
        return self._built.config

    @property
    def discovery(self) -> AccountDiscovery | None:
        """The account discovery in effect, if any."""
        return self._built.discovery

    def close(self) -> None:
        """Stop the account discovery in effect, if any."""
        if self._built.discovery is not None:
            self._built.discovery.close()

    def reload(self) -> tuple[bool, str]:
        """Reload the file: whether it worked, and the line that says so or why not. One
        log line either way: an error naming file, line and key, as at start, if it failed.

        Without a file there is nothing to re-read: the defaults stay, and that succeeds.
        """
        with self._lock:
            if self._path is None:
                log.info("nothing to reload: the exporter runs without --config.file")
                self.status.succeeded()
                return True, "nothing to reload: the exporter runs without --config.file"
            try:
                changes = self._reload()
            except (ConfigError, ValueError) as error:
                return self._failed(refusal(error))
            except Exception as error:  # a bug: the reload fails alone, the exporter serves on
                log.debug("reload failed", exc_info=True)
                return self._failed(f"reload failed: {type(error).__name__}: {error}")
            self.status.succeeded()
            log.info("configuration reloaded", extra={"file": self._path, **changes})
            return True, f"{self._path}: reloaded"

    def _failed(self, line: str) -> tuple[bool, str]:
        self.status.failed()
        log.error(
            "configuration not reloaded, the previous one keeps serving", extra={"error": line}
        )
        return False, line

    def _reload(self) -> dict[str, object]:
        """Build the file's configuration on the running one, then apply it; raises (having
        changed nothing) when it cannot work. Returns what changed, for the log line."""
        config = self._load()
        old, previous = self._built, self._built.discovery
        before = {target.account for target in self._scraper.targets}
        # A listing applied meanwhile could drop (and forget) an account being reused.
        with previous.paused() if previous else contextlib.nullcontext():
            live = [*before, *([previous.account] if previous else [])]
            built = build(
                config,
                self._basis,
                self._updates.apply,
                reusable=old.accounts.keys(live),
                previous=previous,
            )
            was = collectors_of(old.config, self._basis)
            collectors = kept_collectors(old.collectors, was, built.collectors)
            # Nothing has changed so far, and nothing below fails.
            built.accounts.apply_regions()
            if previous is not None:
                previous.close()  # its listing in progress, if any, applies nothing
            self._scraper.resize(config.concurrency)
            self._updates.concurrency = config.concurrency
            base = built.discovery.account if built.discovery else None
            self._updates.keep = frozenset({base} if base else ())
            targets = built.discovery.targets() if built.discovery else built.targets
            self._updates.apply(targets, collectors)
        self._replace_discovery(previous, built, {target.account for target in targets})
        self._built = replace(built, collectors=collectors)
        after = {target.account for target in targets}
        return {
            "targets": len(targets),
            "accounts_kept": len(before & after),
            "accounts_added": len(after - before),
            "accounts_removed": len(before - after),
            "collectors": ",".join(collector.name for collector in collectors),
            "collectors_rebuilt": ",".join(c.name for c in collectors if c not in old.collectors),
        }

    def _replace_discovery(
        self, previous: AccountDiscovery | None, built: Built, read: set[Account]
    ) -> None:
        """Serve the new discovery's report and names instead of the previous one's (which it
        carries on), and start it (it lists at once if the listing changed, else when the
        previous one would have). The previous one's listing calls are forgotten with it (the
        new one counts its own from 0), and so is its base account if nothing reads it any
        more."""
        self._scraper.set_reporters([built.discovery] if built.discovery else [])
        self._scraper.set_listed_names(built.discovery.account_names if built.discovery else dict)
        if previous is not None:
            kept_base = built.discovery is not None and built.discovery.account is previous.account
            gone: set[Owner] = {previous}
            if not kept_base and previous.account not in read:
                gone.add(previous.account)
            self._basis.counter.forget(gone)
        if built.discovery is not None:
            built.discovery.start()
