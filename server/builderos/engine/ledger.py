"""The store-backed effect ledger: intent committed before an effect, result committed after it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from builderos.engine.crashpoints import crashpoint
from builderos.engine.interfaces import Outputs
from builderos.store.db import AuditEntry, Batch, Store, dumps


class StoreLedger:
    """Implements EffectLedger on the `effects` table, with an audit record for each completed effect."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        step_id: str | None,
        actor: dict[str, Any],
        redact: Callable[[Any], Any] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.step_id = step_id
        self.actor = actor
        #: What the ledger keeps of intents and results passes through it (the policy's secrets), so
        #: a secret an effect saw or returned is not written to disk; a resumed run gets the
        #: redacted result back, which is what the agent and the record saw anyway.
        self.redact = redact or (lambda value: value)
        self.performed = 0
        self.reconciled = 0

    async def once(
        self,
        key: str,
        kind: str,
        intent: Mapping[str, Any],
        perform: Callable[[], Awaitable[Outputs]],
        reconcile: Callable[[Mapping[str, Any]], Awaitable[Outputs | None]],
    ) -> Outputs:
        rows = await self.store.fetch("SELECT status, intent, result FROM effects WHERE key = ?", (key,))
        if rows and rows[0][0] == "done":
            return dict(json.loads(rows[0][2]))
        if rows:
            found = await reconcile(json.loads(rows[0][1]))
            if found is not None:
                self.reconciled += 1
                await self._done(key, kind, found, reconciled=True)
                return found
        else:
            await self.store.write(
                Batch().add(
                    "INSERT INTO effects(key, run_id, step_id, kind, intent, status, created_at) "
                    "VALUES (?, ?, ?, ?, ?, 'intent', ?)",
                    (
                        key,
                        self.run_id,
                        self.step_id,
                        kind,
                        dumps(self.redact(dict(intent))),
                        self.store.clock.iso(),
                    ),
                )
            )
        crashpoint(f"effect-intent:{kind}")
        result = await perform()
        crashpoint(f"effect-performed:{kind}")
        self.performed += 1
        await self._done(key, kind, result, reconciled=False)
        return result

    async def _done(self, key: str, kind: str, result: Outputs, *, reconciled: bool) -> None:
        batch = Batch().add(
            "UPDATE effects SET status = 'done', result = ?, done_at = ? WHERE key = ?",
            (dumps(self.redact(result)), self.store.clock.iso(), key),
        )
        batch.audit.append(
            AuditEntry(
                self.actor,
                "effect.done",
                "effect",
                key,
                "success",
                {"run_id": self.run_id, "step_id": self.step_id, "kind": kind, "reconciled": reconciled},
            )
        )
        await self.store.write(batch)
