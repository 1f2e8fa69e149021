"""Injected time and ids, so a scenario or a replay produces the same trace (DESIGN §2.5)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ulid import ULID


class Clock:
    """Wall-clock time as ISO-8601 UTC strings and epoch seconds; subclass to fake it."""

    def now(self) -> float:
        return time.time()

    def iso(self, ts: float | None = None) -> str:
        value = self.now() if ts is None else ts
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Ids:
    """Run and approval ids: ULIDs (sortable by creation time)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()

    def new(self) -> str:
        return str(ULID.from_timestamp(self.clock.now()))


@dataclass
class FixedClock(Clock):
    """A clock that advances only when told (tests, scenarios)."""

    t: float = 1_700_000_000.0
    step: float = 0.001

    def now(self) -> float:
        self.t += self.step
        return self.t


@dataclass
class SeqIds(Ids):
    """Deterministic ids: a prefix and a counter, still sortable."""

    prefix: str = "01TEST"
    n: int = 0
    clock: Clock = field(default_factory=Clock)

    def new(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:020d}"


def jitter_source(seed: int | None = None) -> random.Random:
    """Randomness for backoff jitter; seeded in tests for determinism."""
    return random.Random(seed)
