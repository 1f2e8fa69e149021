"""An in-memory EffectLedger for tests, with switches that simulate a crash around an effect.

It follows the store ledger's rules (a completed key returns its recorded result; an intent without a
result is reconciled, and performed only when reconcile finds nothing) and passes intents and results
through JSON, as a persistent ledger would, so an action cannot rely on anything JSON would lose.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from builderos.engine.interfaces import Outputs

CrashPoint = Literal["after_intent", "after_effect"]


class SimulatedCrash(Exception):
    """Raised by MemoryLedger where a real process would have died."""


@dataclass(slots=True)
class LedgerEntry:
    key: str
    kind: str
    intent: dict[str, Any]
    result: Outputs | None = None


def _json(value: Mapping[str, Any], what: str, key: str) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(dict(value))))
    except (TypeError, ValueError) as e:
        raise TypeError(f"the {what} of effect {key!r} is not JSON: {e}") from None


class MemoryLedger:
    """EffectLedger in a dict. `performs` / `reconciles` count calls per key for assertions.

    Simulating "intent recorded, result missing":
    - `crash_next("after_intent", kind)`: the next matching `once` records its intent and raises
      SimulatedCrash before `perform` (the effect did not happen);
    - `crash_next("after_effect", kind)`: it runs `perform`, then raises before recording the result
      (the effect happened, the ledger does not know);
    - `forget_result(key)`: turn a completed entry back into a bare intent, after the fact.
    The next `once` for that key then goes through `reconcile`.
    """

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.performs: Counter[str] = Counter()
        self.reconciles: Counter[str] = Counter()
        self._crashes: list[tuple[CrashPoint, str | None]] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def crash_next(self, when: CrashPoint, kind: str | None = None) -> None:
        """Arm a one-shot crash for the next `once` of `kind` (any kind when None)."""
        self._crashes.append((when, kind))

    def forget_result(self, key: str) -> None:
        self.entries[key].result = None

    def pending(self) -> list[str]:
        """Keys with an intent and no result: what a resume has to reconcile."""
        return [k for k, e in self.entries.items() if e.result is None]

    def keys(self, kind: str | None = None) -> list[str]:
        return [k for k, e in self.entries.items() if kind is None or e.kind == kind]

    def _take_crash(self, kind: str) -> CrashPoint | None:
        for i, (when, wanted) in enumerate(self._crashes):
            if wanted is None or wanted == kind:
                del self._crashes[i]
                return when
        return None

    async def once(
        self,
        key: str,
        kind: str,
        intent: Mapping[str, Any],
        perform: Callable[[], Awaitable[Outputs]],
        reconcile: Callable[[Mapping[str, Any]], Awaitable[Outputs | None]],
    ) -> Outputs:
        async with self._locks.setdefault(key, asyncio.Lock()):
            entry = self.entries.get(key)
            if entry is not None and entry.result is not None:
                return dict(entry.result)
            if entry is not None:
                self.reconciles[key] += 1
                found = await reconcile(_json(entry.intent, "intent", key))
                if found is not None:
                    entry.result = _json(found, "result", key)
                    return dict(entry.result)
            else:
                entry = LedgerEntry(key, kind, _json(intent, "intent", key))
                self.entries[key] = entry
            crash = self._take_crash(kind)
            if crash == "after_intent":
                raise SimulatedCrash(f"crash after the intent of {key}")
            self.performs[key] += 1
            result = _json(await perform(), "result", key)
            if crash == "after_effect":
                raise SimulatedCrash(f"crash after the effect of {key}")
            entry.result = result
            return dict(result)
