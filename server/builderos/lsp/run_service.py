"""Runs in the daemon (loaded on first use): requests, live notifications, runs found on start.

The daemon is one more client of the store: it starts runs (and carries them on after approvals),
streams every committed event to the editor, and watches the store so runs started from the CLI
show up too. Interrupted runs whose process died are resumed when the daemon starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.cli.timeline_view import timeline_rows
from builderos.engine import approvals
from builderos.engine.events import FINAL_RUN_STATES, Event
from builderos.engine.inputs import InputError
from builderos.engine.preflight import PreflightError, symbols_redactor
from builderos.engine.record import build_record
from builderos.engine.runlog import load_events, load_state, run_summaries
from builderos.engine.runner import Engine, RunError, RunOptions, owner_alive
from builderos.engine.state import RunState
from builderos.lsp.server import BuilderOSServer
from builderos.store.db import Store, StoreError

log = logging.getLogger("builderos.lsp")
Handler = Callable[[dict[str, Any]], Awaitable[Any]]
WATCH_INTERVAL = 0.5


class RunRequestError(JsonRpcException):
    CODE = -32002
    MESSAGE = "run request failed"


def _params(params: Any) -> dict[str, Any]:
    """pygls hands custom params over as namedtuple-like objects; make them plain data."""
    if params is None:
        return {}
    if isinstance(params, dict):
        return params
    if hasattr(params, "_asdict"):
        return {k: _params(v) if hasattr(v, "_asdict") else v for k, v in params._asdict().items()}
    if isinstance(params, list | tuple) and params and isinstance(params[0], dict):
        return params[0]
    return dict(vars(params)) if hasattr(params, "__dict__") else {}


class RunService:
    """The daemon's side of runs: one store, one engine, one watcher."""

    def __init__(self, server: BuilderOSServer) -> None:
        self.server = server
        self.store: Store | None = None
        self.active: dict[str, asyncio.Task[Any]] = {}
        self.seen: dict[str, tuple[str, int]] = {}
        self._lock = asyncio.Lock()

    async def ensure_store(self) -> Store:
        async with self._lock:
            if self.store is None:
                assert self.server.index is not None
                try:
                    self.store = await Store.open(self.server.index.root / ".builderos")
                except StoreError as exc:
                    raise RunRequestError(message=f"{exc} (hint: {exc.hint})") from None
            return self.store

    def engine(self, store: Store) -> Engine:
        return Engine(
            store.root.parent,
            store,
            RunOptions(
                actor={"type": "user", "id": "editor", "source": "daemon"},
                approver=self.wait_for_decision,
                listeners=[self.on_event],
            ),
        )

    # -- notifications --------------------------------------------------------------------------
    def on_event(self, event: Event, state: RunState) -> None:
        self.server.protocol.notify(protocol.RUN_EVENT, {"runId": event.run_id, "event": event.envelope()})
        self.seen[event.run_id] = (state.status, event.seq)
        if event.type == "approval.requested":
            self.server.protocol.notify(protocol.APPROVAL_REQUESTED, {"runId": event.run_id, **event.data})
        if event.type in (
            "run.created",
            "run.started",
            "run.resumed",
            "run.finished",
            "approval.requested",
            "approval.resolved",
        ):
            self.server.protocol.notify(
                protocol.RUNS_CHANGED, {"runId": event.run_id, "status": state.status}
            )

    async def wait_for_decision(self, approval: dict[str, Any]) -> tuple[str, str | None, str] | None:
        """The editor decides through builderos/approvalResolve (or the CLI); poll the store until then."""
        store = await self.ensure_store()
        while True:
            current = await approvals.get(store, str(approval["id"]))
            if current is not None and current["status"] != "pending":
                decision = "approve" if current["status"] == "approved" else "deny"
                return decision, current.get("comment"), str(current.get("resolved_by"))
            await asyncio.sleep(0.1)

    # -- runs -----------------------------------------------------------------------------------
    def launch(self, run_id: str, first: bool) -> None:
        async def go() -> None:
            store = await self.ensure_store()
            try:
                await self.engine(store).execute(run_id, first=first)
            except (RunError, PreflightError) as exc:
                self.server.window_log_message(
                    types.LogMessageParams(type=types.MessageType.Warning, message=f"run {run_id}: {exc}")
                )
            finally:
                self.active.pop(run_id, None)

        if run_id not in self.active:
            self.active[run_id] = self.server.spawn(go())

    async def start(self, params: dict[str, Any]) -> dict[str, Any]:
        store = await self.ensure_store()
        pipeline = params.get("pipeline")
        if not isinstance(pipeline, str):
            raise RunRequestError(message="runStart needs a pipeline name")
        inputs = params.get("inputs") or {}
        try:
            run_id = await self.engine(store).create(pipeline, dict(inputs), params.get("scenario"))
        except PreflightError as exc:
            raise RunRequestError(message=f"{exc} (hint: {exc.hint})") from None
        except (InputError, RunError) as exc:
            raise RunRequestError(message=f"{exc} (hint: {exc.hint})") from None
        self.launch(run_id, first=True)
        return {"runId": run_id}

    async def state(self, run_id: Any) -> RunState:
        store = await self.ensure_store()
        state = await load_state(store, str(run_id))
        if state is None:
            raise RunRequestError(message=f"no run '{run_id}'")
        return state

    async def resume_interrupted(self) -> None:
        """On start: carry on the runs whose process died (and approved runs nobody carries on)."""
        assert self.server.index is not None
        if not (self.server.index.root / ".builderos" / "builderos.db").is_file():
            return
        store = await self.ensure_store()
        rows = await store.fetch(
            "SELECT id, status, owner, heartbeat FROM runs WHERE status NOT IN (?, ?, ?)", FINAL_RUN_STATES
        )
        for run_id, _status, owner, heartbeat in rows:
            if not owner_alive(owner, heartbeat, store.clock.now()):
                self.launch(str(run_id), first=False)

    async def watch(self) -> None:
        """Runs started or advanced by other processes (the CLI): stream their events and changes."""
        assert self.server.index is not None
        db = self.server.index.root / ".builderos" / "builderos.db"
        # what the store held when the daemon started is history, not news: the editor asks for it
        # (runs, timeline) instead of receiving every old event again
        baseline = db.is_file()
        while self.store is None and not db.is_file():
            await asyncio.sleep(WATCH_INTERVAL)
        store = await self.ensure_store()
        while True:
            if not baseline:
                await asyncio.sleep(WATCH_INTERVAL)
            try:
                rows = await store.fetch("SELECT id, status, last_seq, created_at FROM runs")
            except Exception:
                await asyncio.sleep(WATCH_INTERVAL)
                continue
            if baseline:
                # history: runs created before the daemon started (a run the CLI began while the
                # daemon was starting is news, all of it)
                started = store.clock.iso(self.server.started_at)
                for run_id, status, last_seq, created_at in rows:
                    if str(created_at or "") < started:
                        self.seen.setdefault(run_id, (status, last_seq))
                baseline = False
                continue
            for run_id, status, last_seq, _created in rows:
                known = self.seen.get(run_id)
                if run_id in self.active or known == (status, last_seq):
                    continue
                since = known[1] if known else 0
                for event in await load_events(store, run_id, since):
                    self.server.protocol.notify(
                        protocol.RUN_EVENT, {"runId": run_id, "event": event.envelope()}
                    )
                self.seen[run_id] = (status, last_seq)
                self.server.protocol.notify(protocol.RUNS_CHANGED, {"runId": run_id, "status": status})


def handlers(server: BuilderOSServer, service: RunService) -> dict[str, Handler]:
    """The builderos/* run requests, by method name (registered by runs.py)."""
    table: dict[str, Handler] = {}

    def feature(method: str) -> Callable[[Handler], Handler]:
        def wrap(fn: Handler) -> Handler:
            table[method] = fn
            return fn

        return wrap

    @feature(protocol.RUN_START)
    async def run_start(p: dict[str, Any]) -> Any:
        return await service.start(p)

    @feature(protocol.RUN_RESUME)
    async def run_resume(p: dict[str, Any]) -> Any:
        state = await service.state(p.get("runId"))
        service.launch(state.id, first=False)
        return {"runId": state.id}

    @feature(protocol.RUN_CANCEL)
    async def run_cancel(p: dict[str, Any]) -> Any:
        store = await service.ensure_store()
        await store.conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (str(p.get("runId")),))
        state = await service.state(p.get("runId"))
        if state.id not in service.active:
            service.launch(state.id, first=False)  # nobody runs it: finishing it as cancelled is ours to do
        return {"runId": state.id}

    @feature(protocol.RUNS)
    async def runs(p: dict[str, Any]) -> Any:
        return await run_summaries(await service.ensure_store())

    @feature(protocol.RUN)
    async def run(p: dict[str, Any]) -> Any:
        return build_record(await service.state(p.get("runId")))

    @feature(protocol.TIMELINE)
    async def timeline(p: dict[str, Any]) -> Any:
        state = await service.state(p.get("runId"))
        store = await service.ensure_store()
        events = [e.envelope() for e in await load_events(store, state.id)]
        return {"runId": state.id, "status": state.status, "lanes": timeline_rows(state), "events": events}

    @feature(protocol.APPROVALS)
    async def approvals_list(p: dict[str, Any]) -> Any:
        return await approvals.pending(await service.ensure_store())

    @feature(protocol.APPROVAL_RESOLVE)
    async def approval_resolve(p: dict[str, Any]) -> Any:
        store = await service.ensure_store()
        decision = p.get("decision")
        if decision not in ("approve", "deny"):
            raise RunRequestError(message="decision must be 'approve' or 'deny'")
        try:
            decided = await approvals.resolve(
                store,
                str(p.get("id")),
                decision,
                {"type": "user", "id": "editor", "source": "daemon"},
                p.get("comment"),
                symbols_redactor(service.server.index.symbols).text if service.server.index else None,
            )
        except (LookupError, ValueError) as exc:
            raise RunRequestError(message=str(exc)) from None
        run_id = str(decided["run_id"])
        rows = await store.fetch("SELECT owner, heartbeat FROM runs WHERE id = ?", (run_id,))
        if (
            run_id not in service.active
            and rows
            and not owner_alive(rows[0][0], rows[0][1], store.clock.now())
        ):
            service.launch(run_id, first=False)  # the daemon carries the run on by itself
        return {"id": decided["id"], "status": decided["status"]}

    @feature(protocol.PROVENANCE)
    async def provenance(p: dict[str, Any]) -> Any:
        if p.get("runId"):
            record = build_record(await service.state(p["runId"]))
            step = p.get("stepId")
            if step:
                return {"runId": record["id"], "step": step, **record["provenance"]["steps"].get(step, {})}
            return record["provenance"] | {"runId": record["id"]}
        path = p.get("path")
        if not isinstance(path, str):
            raise RunRequestError(message="provenance needs runId or path")
        store = await service.ensure_store()
        rows = await store.fetch(
            "SELECT run_id, step_id, sha256, created_at FROM artifacts WHERE name = ? "
            "ORDER BY created_at DESC LIMIT 1",
            (path,),
        )
        if not rows:
            return None
        return {
            "path": path,
            "runId": rows[0][0],
            "stepId": rows[0][1],
            "sha256": rows[0][2],
            "at": rows[0][3],
        }

    @feature(protocol.AUDIT_VERIFY)
    async def audit_verify(p: dict[str, Any]) -> Any:
        import sqlite3

        from builderos.store.audit import verify_db

        store = await service.ensure_store()

        def check() -> dict[str, Any]:
            conn = sqlite3.connect(f"file:{store.root / 'builderos.db'}?mode=ro", uri=True)
            try:
                r = verify_db(conn)
            finally:
                conn.close()
            return {"ok": r.ok, "count": r.count, "firstBadSeq": r.first_bad_seq, "reason": r.reason}

        return await asyncio.to_thread(check)

    return table


async def on_start(server: BuilderOSServer, service: RunService) -> None:
    try:
        await service.resume_interrupted()
    except Exception:  # the daemon serves the editor all the same; the log says why nothing resumed
        log.exception("resuming the interrupted runs failed")
    server.spawn(service.watch())
