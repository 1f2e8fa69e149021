"""Appending a run's events: redacted, numbered, committed with the run row and the audit records.

`emit` returns only after the event is on disk, then advances the in-memory state and tells the
listeners (the CLI's progress display, the daemon's notifications): nothing is shown that was not
committed, and nothing committed is lost.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from builderos.engine import events as ev
from builderos.engine.crashpoints import crashpoint
from builderos.engine.events import Event
from builderos.engine.state import RunState, fold
from builderos.policy.redact import Redactor
from builderos.store.db import AuditEntry, Batch, Store, dumps

Listener = Callable[[Event, RunState], None]
_ENCODE = json.JSONEncoder(default=str, ensure_ascii=False).encode  # built once (see store.db.dumps)

#: Events that change the state of a run, a step or an approval: each gets an audit record.
AUDITED = {
    ev.RUN_CREATED: "run.create",
    ev.RUN_STARTED: "run.start",
    ev.RUN_RESUMED: "run.resume",
    ev.RUN_CANCEL_REQUESTED: "run.cancel",
    ev.RUN_FINISHED: "run.finish",
    ev.STEP_STARTED: "step.start",
    ev.STEP_RETRYING: "step.retry",
    ev.STEP_FINISHED: "step.finish",
    ev.STEP_SKIPPED: "step.skip",
    ev.APPROVAL_REQUESTED: "approval.request",
    ev.APPROVAL_RESOLVED: "approval.resolve",
    ev.POLICY_DENIED: "policy.deny",
    ev.ARTIFACT_CREATED: "artifact.create",
    ev.TOOL_CALL: "tool.call",
}


def sha256_json(value: Any) -> str:
    return hashlib.sha256(dumps(value).encode()).hexdigest()


#: The run row's timestamp column a status sets.
_STATUS_COLUMN = {
    "running": "started_at",
    "succeeded": "ended_at",
    "failed": "ended_at",
    "cancelled": "ended_at",
}


def _outcome(event_type: str, data: dict[str, Any]) -> str:
    status = data.get("status") or data.get("decision")
    if event_type == ev.POLICY_DENIED or status in ("deny", "denied"):
        return "denied"
    if status in ("failed", "cancelled"):
        return "failure"
    return "success"


class RunLog:
    """The writer of one run's events (one process owns a run at a time)."""

    def __init__(
        self,
        store: Store,
        state: RunState,
        redactor: Redactor,
        actor: dict[str, Any],
        listeners: list[Listener] | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.redactor = redactor
        self.actor = actor
        self.listeners = listeners or []
        self._next_seq = state.last_seq + 1  # assigned when emitted: concurrent steps never share a seq
        self.appliers: list[Listener] = []  # told at once (in-process state), unlike listeners (on commit)
        self._last: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None

    @property
    def run_id(self) -> str:
        return self.state.id

    async def emit(
        self,
        type_: str,
        step_id: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        batch: Batch | None = None,
        actor: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> Event:
        """Commit one event (plus `batch`, plus its audit record), then apply and announce it.

        With `wait=False` the event is queued and the run goes on while it commits (group commit);
        it is announced (listeners, the editor, the CLI) only once committed, batches commit in
        order, and every side effect waits for its own intent to commit — which commits everything
        queued before it. `flush()` is the fence for effects that have no intent (commands).
        """
        self._raise_failure()
        clean = self.redactor.data(data or {})
        seq = self._next_seq
        self._next_seq += 1
        event = Event(seq, self.run_id, step_id, type_, self.store.clock.iso(), clean)
        status = _run_status_after(type_, clean, self.state)  # from the state before this event
        b = batch or Batch()
        rows = functools.partial(self._rows, event, status, actor or self.actor)
        if wait:
            rows(b)
        else:  # encoded by the writer just before it commits: off the path from one step to the next
            b.later.append(rows)
        crashpoint(f"before-commit:{type_}")
        future = self.store.submit(b)
        self._last = future
        if not wait:
            self._apply(event)  # the scheduler may go on; nobody outside hears of it before commit
            future.add_done_callback(lambda f: self._committed(f, event))
            return event
        await future
        crashpoint(f"after-commit:{type_}")
        self._apply(event)
        self._announce(event)
        return event

    def _rows(self, event: Event, status: str | None, actor: dict[str, Any], b: Batch) -> None:
        """The event's row, the run row's update and the audit record, added to `b`.

        Event data is never changed once emitted (state and listeners only read it), so encoding it
        at commit time stores exactly what was emitted.
        """
        clean, seq, type_, step_id = event.data, event.seq, event.type, event.step_id
        b.add(
            "INSERT INTO events(run_id, seq, step_id, type, ts, data) VALUES (?, ?, ?, ?, ?, ?)",
            (self.run_id, seq, step_id, type_, event.ts, dumps(clean)),
        )
        b.add("UPDATE runs SET last_seq = ? WHERE id = ?", (seq, self.run_id))
        if status is not None:
            col = _STATUS_COLUMN.get(status)
            if col == "started_at":
                b.add(
                    "UPDATE runs SET status = ?, started_at = COALESCE(started_at, ?) WHERE id = ?",
                    (status, event.ts, self.run_id),
                )
            elif col == "ended_at":
                b.add(
                    "UPDATE runs SET status = ?, ended_at = ? WHERE id = ?", (status, event.ts, self.run_id)
                )
            else:
                b.add("UPDATE runs SET status = ? WHERE id = ?", (status, self.run_id))
        action = AUDITED.get(type_)
        if action is not None:
            details = {"run_id": self.run_id, "seq": seq, **_audit_details(clean)}
            entity_type, entity_id = ("step", f"{self.run_id}/{step_id}") if step_id else ("run", self.run_id)
            if type_.startswith("approval."):
                entity_type, entity_id = "approval", str(clean.get("id"))
            b.audit.append(AuditEntry(actor, action, entity_type, entity_id, _outcome(type_, clean), details))

    def _apply(self, event: Event) -> None:
        self.state.apply(event)
        for applier in self.appliers:
            applier(event, self.state)

    def _committed(self, future: asyncio.Future[None], event: Event) -> None:
        if future.cancelled() or future.exception() is not None:
            self._failure = future.exception() or RuntimeError("the store stopped")
            return
        crashpoint(f"after-commit:{event.type}")
        self._announce(event)

    def _announce(self, event: Event) -> None:
        for listener in list(self.listeners):
            listener(event, self.state)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def flush(self) -> None:
        """Wait until every event queued so far is committed (the fence before an unlogged effect)."""
        if self._last is not None and not self._last.done():
            await asyncio.shield(self._last)
        self._raise_failure()


def _audit_details(data: dict[str, Any]) -> dict[str, Any]:
    """What the audit keeps of an event: small fields as they are, large ones by hash."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or type(value) in (bool, int, float) or (type(value) is str and len(value) <= 32):
            out[key] = value  # encodes to at most 6 * 32 + 2 characters: no need to encode it to know
            continue
        text = _ENCODE(value)
        out[key] = value if len(text) <= 200 else {"sha256": hashlib.sha256(text.encode()).hexdigest()}
    return out


def _run_status_after(type_: str, data: dict[str, Any], state: RunState) -> str | None:
    if type_ in (ev.RUN_STARTED, ev.RUN_RESUMED):
        return "awaiting_approval" if state.has_pending_approval() else "running"
    if type_ == ev.RUN_FINISHED:
        return str(data.get("status", "failed"))
    if type_ == ev.APPROVAL_REQUESTED:
        return "awaiting_approval"
    if type_ == ev.APPROVAL_RESOLVED and state.status == "awaiting_approval":
        pending = [
            a
            for k, a in state.approvals.items()
            if k != str(data.get("id")) and a.get("status") in (None, "pending")
        ]
        return None if pending else "running"
    return None


async def load_events(store: Store, run_id: str, after_seq: int = 0) -> list[Event]:
    """The run's events in order (those after `after_seq` only, for a reader that has the rest)."""
    rows = await store.fetch(
        "SELECT seq, step_id, type, ts, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
        (run_id, after_seq),
    )
    return [Event(int(r[0]), run_id, r[1], str(r[2]), str(r[3]), json.loads(r[4])) for r in rows]


async def load_state(store: Store, run_id: str) -> RunState | None:
    events = await load_events(store, run_id)
    if not events:
        return None
    return fold(run_id, events)


async def run_summaries(store: Store) -> list[dict[str, Any]]:
    """Run summaries for `runs --json` and builderos/runs, newest first."""
    rows = await store.fetch(
        "SELECT id, pipeline, status, created_at, started_at, ended_at FROM runs ORDER BY id DESC"
    )
    keys = ("id", "pipeline", "status", "created_at", "started_at", "ended_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]
