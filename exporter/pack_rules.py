"""Which rules each pack of a target has, as the compliance collector last read them.

The pipeline collector asks AWS how each pack's rules evaluate, by rule name; the compliance
collector already lists those names on every refresh. Collectors never call each other, so
`build_collectors` gives both this one record: compliance writes a target's names after each
successful read, and the pipeline reads them, listing the rules itself only where compliance
is off or has not read the target yet.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from exporter.aws.targets import Target


class PackRules:
    """Pack name → rule names per target, replaced whole on each write; thread-safe.

    A target's entry lives as long as the target does: when discovery drops an account, the
    scrape layer drops its targets, and their entries go with them, a read still in flight
    when it happened included, rather than being kept for the life of the process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_target: weakref.WeakKeyDictionary[Target, Mapping[str, tuple[str, ...]]] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        """How many targets have an entry."""
        with self._lock:
            return len(self._by_target)

    def record(self, target: Target, rules: Mapping[str, Sequence[str]]) -> None:
        """Remember `target`'s packs and their rule names, forgetting what it had before."""
        frozen = MappingProxyType({pack: tuple(names) for pack, names in rules.items()})
        with self._lock:
            self._by_target[target] = frozen

    def of(self, target: Target) -> Mapping[str, tuple[str, ...]] | None:
        """`target`'s packs and rule names as last recorded; None when never recorded."""
        with self._lock:
            return self._by_target.get(target)
