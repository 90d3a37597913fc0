"""The time a scrape must answer by, passed explicitly from the HTTP request to every AWS call."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock; frozen, so sharing it between threads is safe."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline `seconds` from now."""
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        """Whether the deadline is reached."""
        return time.monotonic() >= self.at


NO_DEADLINE = Deadline(math.inf)
