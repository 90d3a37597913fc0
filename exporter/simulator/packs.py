"""Conformance packs as the simulator stores them, the ids AWS derives for them, and the sorted
shelf of one (account, region) that every pack operation pages over."""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, replace
from typing import Literal, NamedTuple

from exporter.simulator.compliance import (
    ComplianceChange,
    Score,
    SimulatedRule,
    check_rules,
    check_score,
    reevaluated,
)
from exporter.simulator.errors import client_error
from exporter.simulator.service_model import conforms, max_length

PackState = Literal[
    "CREATE_IN_PROGRESS",
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
]
PackType = Literal["CUSTOM", "MANAGED"]

_PACK_ID_PREFIX = "conformance-pack-"
_PACK_ID_DIGITS = 8


@dataclass(frozen=True)
class Transition:
    """A scheduled state change, so packs move through states without anyone driving them."""

    after_seconds: float
    state: PackState
    reason: str = ""


@dataclass(frozen=True)
class SimulatedPack:
    """One conformance pack as the simulator stores it; ids and ARNs are derived on output.

    `rules` carry the compliance the compliance operations report; `score` is the pack's
    compliance score (None: not scored yet, so left out of the scores), updated at `scored_at`
    (default: `requested_at`). Both timelines count from the simulator's start.
    """

    name: str
    state: PackState
    _: KW_ONLY
    reason: str = ""
    type: PackType | None = "CUSTOM"
    requested_at: float
    completed_at: float | None = None
    timeline: tuple[Transition, ...] = ()
    rules: tuple[SimulatedRule, ...] = ()
    score: Score | None = None
    scored_at: float | None = None
    compliance_timeline: tuple[ComplianceChange, ...] = ()

    def __post_init__(self) -> None:
        check_score(self.score)
        check_rules(self.rules, self.compliance_timeline)
        longest = max_length("ConfigRuleName") - len(f"-{_PACK_ID_PREFIX}") - _PACK_ID_DIGITS
        too_long = [rule.name for rule in self.rules if len(rule.name) > longest]
        if too_long:
            raise ValueError(
                f"pack {self.name!r}: rule names longer than {longest} characters leave no room"
                f" for the pack id AWS appends: {too_long}"
            )

    def effective(self, started_at: float, now: float) -> SimulatedPack:
        """The pack as seen at `now`, after every transition and compliance change due since
        `started_at`."""
        elapsed = now - started_at
        due = sorted(
            (step for step in self.timeline if elapsed >= step.after_seconds),
            key=lambda step: step.after_seconds,
        )
        changes = sorted(
            (change for change in self.compliance_timeline if elapsed >= change.after_seconds),
            key=lambda change: change.after_seconds,
        )
        if not due and not changes:
            return self
        state, reason, completed_at = self.state, self.reason, self.completed_at
        if due:
            terminal = [step.after_seconds for step in due if _is_terminal(step.state)]
            completed_at = started_at + max(terminal) if terminal else self.completed_at
            state, reason = due[-1].state, due[-1].reason
        rules, score, scored_at = self.rules, self.score, self.scored_at
        if changes:
            rules = reevaluated(self.rules, changes)
            score, scored_at = changes[-1].score, started_at + changes[-1].after_seconds
        return replace(
            self,
            state=state,
            reason=reason,
            completed_at=completed_at,
            timeline=(),
            rules=rules,
            score=score,
            scored_at=scored_at,
            compliance_timeline=(),
        )


def _is_terminal(state: str) -> bool:
    return state.endswith(("_COMPLETE", "_FAILED"))


class PackIds(NamedTuple):
    """The identifiers AWS assigns to a pack, reproducible from its account, region and name."""

    pack_id: str
    arn: str
    stack_arn: str

    def rule_name(self, template_rule: str) -> str:
        """The name AWS gives a rule of this pack: unique across the packs of a region."""
        return f"{template_rule}-{self.pack_id}"


@functools.lru_cache(maxsize=65536)
def pack_ids(account: str, region: str, name: str) -> PackIds:
    """Derive a pack's ids deterministically so outputs and golden files are reproducible.

    Cached: hashing on every page was a third of the simulator's CPU, which skews benchmarks.
    """
    digest = hashlib.sha256(f"{account}/{region}/{name}".encode()).digest()
    pack_id = _PACK_ID_PREFIX + base64.b32encode(digest).decode()[:_PACK_ID_DIGITS].lower()
    stack_id = uuid.UUID(bytes=digest[:16], version=4)
    return PackIds(
        pack_id=pack_id,
        arn=f"arn:aws:config:{region}:{account}:conformance-pack/{name}/{pack_id}",
        stack_arn=f"arn:aws:cloudformation:{region}:{account}:stack/awsconfigconforms-{name}/{stack_id}",
    )


class Shelf:
    """One (account, region)'s packs sorted by name for stable paging.

    The rules of all its packs are indexed by their served names on first use, so an estate of
    thousands of targets that nobody asks about rules never pays for the index.
    """

    def __init__(self, account: str, region: str, packs: Iterable[SimulatedPack]) -> None:
        self.account = account
        self.region = region
        self.packs = tuple(sorted(packs, key=lambda pack: pack.name))
        self.names = tuple(pack.name for pack in self.packs)
        for name in self.names:
            if not conforms("ConformancePackName", name):
                raise ValueError(f"pack name {name!r} does not match the ConformancePackName shape")
        duplicates = sorted(name for name, seen in Counter(self.names).items() if seen > 1)
        if duplicates:
            raise ValueError(f"pack names must be unique per account and region: {duplicates}")

    def find(self, name: str) -> SimulatedPack | None:
        """The pack called `name`, if there is one."""
        position = bisect.bisect_left(self.names, name)
        found = position < len(self.names) and self.names[position] == name
        return self.packs[position] if found else None

    def rule_name(self, pack: SimulatedPack, rule: SimulatedRule) -> str:
        """The name `rule` of `pack` is served under in this (account, region)."""
        return pack_ids(self.account, self.region, pack.name).rule_name(rule.name)

    @functools.cached_property
    def rule_places(self) -> dict[str, tuple[int, int]]:
        """Each served rule name's (pack position, rule position)."""
        return {
            self.rule_name(pack, rule): (pack_position, rule_position)
            for pack_position, pack in enumerate(self.packs)
            for rule_position, rule in enumerate(pack.rules)
        }

    @functools.cached_property
    def rule_names(self) -> tuple[str, ...]:
        """Every served rule name, sorted for paging."""
        return tuple(sorted(self.rule_places))

    def named_rules(self, names: list[str]) -> list[str]:
        """`names` sorted, each a rule served here; AWS refuses the first it does not know."""
        for name in sorted(set(names)):
            if name not in self.rule_places:
                raise client_error(
                    "NoSuchConfigRuleException",
                    f"The ConfigRule '{name}' provided in the request is invalid. Please check"
                    " the configRule name",
                )
        return sorted(set(names))
