"""ShipMachine: runs a pipeline's DAG durably, and resumes it from its event log after any crash.

Ready steps run concurrently up to `concurrency`. Each transition is an event committed before the
run moves on; each side effect goes through the effect ledger; approvals persist. `resume` folds
the log back into state and carries on: finished steps are not run again, an interrupted step runs
again (its completed effects are found in the ledger and not repeated).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builderos.engine import events as ev
from builderos.engine import record
from builderos.engine.actions import LocalTargets, require_action
from builderos.engine.agents import AgentCall, AgentRuntime, ScriptedAgent
from builderos.engine.approvals import ApprovalPending, Approver, Change
from builderos.engine.approvals import find as find_approval
from builderos.engine.commands import run_command
from builderos.engine.context import expression_context
from builderos.engine.crashpoints import crashpoint
from builderos.engine.inputs import check_inputs
from builderos.engine.interfaces import ActionInput, Outputs, StepFailed
from builderos.engine.ledger import StoreLedger
from builderos.engine.mcp_hub import hub_for
from builderos.engine.plan import Plan, StepPlan
from builderos.engine.preflight import Preflight, preflight
from builderos.engine.runlog import Listener, RunLog, load_state, sha256_json
from builderos.engine.state import RunState
from builderos.engine.toolbox import ToolBox
from builderos.expr import evaluate_condition, render_value
from builderos.policy.redact import Redactor
from builderos.policy.rules import PolicyView
from builderos.store.artifacts import store_artifact
from builderos.store.clock import Ids
from builderos.store.db import Batch, Store, dumps

log = logging.getLogger("builderos.engine")
HEARTBEAT_S = 5.0
CANCEL_POLL_S = 0.25
STALE_S = 30.0
RELEASE_SQL = "UPDATE runs SET owner = NULL WHERE id = ? AND owner = ?"
HOST = socket.gethostname()


class RunError(Exception):
    """A run cannot start or continue: one line and a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class RunOptions:
    """How this process drives runs (who it acts for, how approvals are decided, what listens)."""

    actor: dict[str, Any] = field(default_factory=lambda: {"type": "user", "id": _user(), "source": "cli"})
    approver: Approver | None = None
    listeners: list[Listener] = field(default_factory=list)
    ids: Ids = field(default_factory=Ids)
    rand: random.Random = field(default_factory=random.Random)
    poll_interval: float = 0.2
    record_every: float = 2.0
    agent_runtime: AgentRuntime | None = None
    #: Answers `run:` and `uses:` steps instead of running them (replay: outputs from the record).
    step_answerer: Callable[[StepPlan, int, dict[str, Any]], Awaitable[Outputs]] | None = None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "user"


def owner_token() -> str:
    return f"{HOST}:{os.getpid()}"


def owner_alive(owner: str | None, heartbeat: float | None, now: float) -> bool:
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host == HOST and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return heartbeat is None or now - heartbeat < STALE_S * 4
    return heartbeat is not None and now - heartbeat < STALE_S


class Engine:
    """Runs and resumes pipelines of one workspace against its store."""

    def __init__(self, workspace: Path, store: Store, options: RunOptions | None = None) -> None:
        self.workspace = workspace.resolve()
        self.store = store
        self.options = options or RunOptions()
        self.services: dict[str, Any] = {}
        self._fresh: dict[str, tuple[Preflight, RunLog]] = {}  # runs created here: preflight done once

    # -- public ------------------------------------------------------------------------------------
    async def create(self, pipeline: str, inputs: dict[str, Any], scenario: str | None = None) -> str:
        """Preflight, check inputs and record a new run (queued); returns its id once it is committed."""
        return (await self._create(pipeline, inputs, scenario, wait=True)).run_id

    async def _create(
        self, pipeline: str, inputs: dict[str, Any], scenario: str | None, *, wait: bool
    ) -> RunLog:
        """The run's first event; with `wait=False` it commits with whatever follows (run.started)."""
        pf = preflight(self.workspace, pipeline, scenario)
        values = check_inputs(pf.plan.inputs, {**pf.scenario_inputs, **inputs})
        run_id = self.options.ids.new()
        state = RunState(run_id)
        log = self._log(state, pf)
        now = self.store.clock.iso()
        batch = Batch().add(
            "INSERT INTO runs(id, pipeline, status, created_at, owner, heartbeat) "
            "VALUES (?, ?, 'queued', ?, ?, ?)",
            (run_id, pf.plan.name, now, owner_token(), self.store.clock.now()),
        )
        await log.emit(
            ev.RUN_CREATED,
            data={
                "pipeline": pf.plan.name,
                "pipeline_path": pf.plan.path,
                "pipeline_sha256": pf.plan.sha256,
                "inputs": values,
                "scenario": scenario,
                "steps": pf.plan.order,
                "handlers": pf.plan.handlers,
                "git_before": await _git_head(self.workspace),
                # a run in a scratch copy (a scenario, a replay) is never carried on elsewhere
                **({} if self._in_store_workspace() else {"scratch": True}),
            },
            batch=batch,
            wait=wait,
        )
        self._fresh[run_id] = (pf, log)
        return log

    async def start(self, pipeline: str, inputs: dict[str, Any], scenario: str | None = None) -> RunState:
        log = await self._create(pipeline, inputs, scenario, wait=False)
        return await self.execute(log.run_id, first=True)

    async def resume(self, run_id: str) -> RunState:
        return await self.execute(run_id, first=False)

    async def request_cancel(self, run_id: str) -> RunState:
        """Cancel a run: its owner stops it; a run nobody is executing is finished here."""
        rows = await self.store.fetch("SELECT owner, heartbeat, status FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise RunError(f"no run '{run_id}'", "list runs with 'builderos runs'")
        owner, heartbeat, status = rows[0]
        if status in ev.FINAL_RUN_STATES:
            state = await load_state(self.store, run_id)
            assert state is not None
            return state
        await self.store.write(Batch().add("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,)))
        if owner_alive(owner, heartbeat, self.store.clock.now()) and owner != owner_token():
            for _ in range(int(20 / self.options.poll_interval)):
                await asyncio.sleep(self.options.poll_interval)
                state = await load_state(self.store, run_id)
                if state is not None and state.finished:
                    return state
            raise RunError(f"run {run_id} did not stop in time", "try again, or stop its process")
        return await self.execute(run_id, first=False)

    # -- execution ---------------------------------------------------------------------------------
    async def execute(self, run_id: str, *, first: bool) -> RunState:
        fresh = self._fresh.pop(run_id, None)
        if first and fresh is not None:
            # created by this engine a moment ago: its state, preflight and log are at hand, and
            # the run's row already names this process as its owner
            pf, log = fresh
            state = log.state
        else:
            loaded = await self._load_to_execute(run_id, first, fresh[0] if fresh else None)
            if isinstance(loaded, RunState):
                return loaded
            state, pf = loaded
            log = self._log(state, pf)
        heartbeat = asyncio.create_task(self._heartbeat(run_id))
        spent = [] if first else await self._llm_usage(run_id)
        runner = _RunExecution(self, state, pf, log, spent, resumed=not first)
        try:
            # like step.started, run.started need not be on disk before the first step: every
            # effect waits for its own intent (or flushes), which commits everything queued before
            await log.emit(ev.RUN_STARTED if first else ev.RUN_RESUMED, wait=not first)
            await runner.loop()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if not state.finished:  # a finished run gave up its ownership with run.finished
                await self._release(run_id)
            record.write_record(self.store.root, state, pf)
            await self._close_services()
        return state

    async def _load_to_execute(
        self, run_id: str, first: bool, fresh: Preflight | None
    ) -> RunState | tuple[RunState, Preflight]:
        """A run from the store, claimed, with its preflight; or its final state if it needs no more."""
        state = await load_state(self.store, run_id)
        if state is None:
            raise RunError(f"no run '{run_id}'", "list runs with 'builderos runs'")
        if state.finished:
            record.write_record(self.store.root, state)  # a crash may have come before the mirror
            return state
        if state.scratch and self._in_store_workspace():
            return await self._abandon(
                state,
                "this run ran in a scenario's scratch copy and cannot be carried on in the workspace; "
                "run the scenario again",
            )
        await self._claim(run_id)
        if not first:
            # a resumed run may verify what an earlier process deployed: serve it again, same port
            LocalTargets.of(self.services).serve_existing(self.store.root)
        pf = fresh or preflight(self.workspace, state.pipeline, state.scenario, expected_sha=None)
        if pf.plan.sha256 != state.pipeline_sha256:
            pf = preflight(self.workspace, state.pipeline, state.scenario, expected_sha=state.pipeline_sha256)
        return state, pf

    def _in_store_workspace(self) -> bool:
        """Whether this engine runs in the workspace its store belongs to (not in a scratch copy)."""
        return self.workspace == self.store.root.parent.resolve()

    async def _abandon(self, state: RunState, reason: str) -> RunState:
        """End a run that must not go on here as cancelled, with the reason (nothing else runs)."""
        log = RunLog(self.store, state, Redactor.from_policy(None), _system_actor(self.options.actor))
        log.listeners.extend(self.options.listeners)
        await log.emit(ev.RUN_FINISHED, data={"status": "cancelled", "error": reason})
        record.write_record(self.store.root, state)
        return state

    async def _llm_usage(self, run_id: str) -> list[tuple[dict[str, Any], str | None]]:
        """The tokens (and models) of every model response this run already had, for its budget."""
        rows = await self.store.fetch(
            "SELECT data FROM events WHERE run_id = ? AND type = ? ORDER BY seq", (run_id, ev.LLM_RESPONSE)
        )
        out: list[tuple[dict[str, Any], str | None]] = []
        for (raw,) in rows:
            data = json.loads(raw)
            tokens = data.get("tokens") if isinstance(data, dict) else None
            if isinstance(tokens, dict):
                out.append((tokens, data.get("model")))
        return out

    async def _close_services(self) -> None:
        for service in list(self.services.values()):
            close = getattr(service, "close", None)
            if callable(close):
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        self.services.clear()

    def _log(self, state: RunState, pf: Preflight) -> RunLog:
        listeners: list[Listener] = [
            *self.options.listeners,
            record.Checkpointer(self.store.root, pf, self.options.record_every),
        ]
        return RunLog(self.store, state, pf.redactor, _system_actor(self.options.actor), listeners)

    async def _claim(self, run_id: str) -> None:
        rows = await self.store.fetch("SELECT owner, heartbeat FROM runs WHERE id = ?", (run_id,))
        owner, heartbeat = rows[0] if rows else (None, None)
        me = owner_token()
        if owner and owner != me and owner_alive(owner, heartbeat, self.store.clock.now()):
            raise RunError(
                f"run {run_id} is being executed by another process ({owner})",
                "wait for it, or cancel it with 'builderos cancel'",
            )
        await self.store.write(
            Batch().add(
                "UPDATE runs SET owner = ?, heartbeat = ? WHERE id = ?", (me, self.store.clock.now(), run_id)
            )
        )

    async def _release(self, run_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.store.write(Batch().add(RELEASE_SQL, (run_id, owner_token())))

    async def _heartbeat(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self.store.write(
                Batch().add("UPDATE runs SET heartbeat = ? WHERE id = ?", (self.store.clock.now(), run_id))
            )


def _system_actor(actor: dict[str, Any]) -> dict[str, Any]:
    return {"type": "system", "id": "shipmachine", "source": str(actor.get("source", "cli"))}


class _RunExecution:
    """The scheduler of one run in this process."""

    def __init__(
        self,
        engine: Engine,
        state: RunState,
        pf: Preflight,
        log: RunLog,
        spent: list[tuple[dict[str, Any], str | None]] | None = None,
        *,
        resumed: bool = False,
    ) -> None:
        self.engine = engine
        self.state = state
        self.pf = pf
        self.plan: Plan = pf.plan
        self.log = log
        self.store = engine.store
        self.workspace = engine.workspace
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.woken: asyncio.Future[None] | None = None  # what `loop` waits on between passes
        self.loop_ran = False  # whether the event loop has had a pass since the last step began
        self.stopped_for_approval = False
        self.cancelled = False
        self.policy = PolicyView(pf.policy, pf.policy is not None)
        raw_stubs = pf.scenario.get("stubs")
        stubs: dict[str, Any] = raw_stubs if isinstance(raw_stubs, dict) else {}
        self.tool_stubs: dict[str, Any] = dict(stubs.get("tools") or {}) if stubs else {}
        self.agents = self._agent_runtime(
            engine, pf, ScriptedAgent(list(stubs.get("llm") or [])), spent or []
        )
        self.scenario_approvals = stubs.get("approvals") if stubs else None
        # a resumed run looks for a cancel request at once; a new one first after CANCEL_POLL_S
        self.cancel_checked = -CANCEL_POLL_S if resumed else time.monotonic()
        self.log_folder_made = False
        self.resumed = resumed  # steps it finds half done may have model answers on record
        self.resumed_steps: dict[str, int] = {}
        self.step_hashes: dict[str, str] = {}
        self.base_env = dict(os.environ)
        self.steps_ctx: dict[str, dict[str, Any]] = {
            sid: {"outputs": s.outputs, "status": s.status} for sid, s in state.steps.items()
        }
        log.appliers.append(self._track_step)

    @staticmethod
    def _agent_runtime(
        engine: Engine,
        pf: Preflight,
        scripted: ScriptedAgent,
        spent: list[tuple[dict[str, Any], str | None]],
    ) -> AgentRuntime:
        """Scenarios stay offline (scripted); otherwise each agent's model profile picks its provider."""
        if engine.options.agent_runtime is not None:
            return engine.options.agent_runtime
        if pf.scenario:
            return scripted
        from builderos.agents import AgentRouter
        from builderos.agents.budget import Budget

        budget = Budget.from_project(pf.project)
        for tokens, model in spent:
            budget.restore(tokens, model)
        packs = {pid: ref.data for pid, ref in pf.ws.symbols.context_packs.items()}
        router: AgentRuntime = AgentRouter.for_project(
            pf.project, scripted, context_packs=packs, redactor=pf.redactor, budget=budget
        )
        return router

    def _track_step(self, event: Any, state: RunState) -> None:
        """Keep the `steps.*` of expressions current, one step at a time (no copy of the whole run)."""
        if event.step_id is not None:
            s = state.steps.get(event.step_id)
            if s is not None:
                self.steps_ctx[event.step_id] = {"outputs": s.outputs, "status": s.status}

    def _prepare_schedule(self) -> None:
        """Who waits for whom: a step becomes ready when its last need finishes (no rescans)."""
        self.position = {sid: i for i, sid in enumerate(self.plan.order)}
        self.dependents: dict[str, list[str]] = {sid: [] for sid in self.plan.order}
        self.waiting_on: dict[str, int] = {}
        ready: list[str] = []
        for sid in self.plan.order:
            sp = self.plan.steps[sid]
            if sp.handler_for or self.state.step(sid).finished:
                continue
            needs = [n for n in sp.needs if n in self.plan.steps]
            for n in needs:
                self.dependents[n].append(sid)
            self.waiting_on[sid] = sum(1 for n in needs if not self.state.step(n).finished)
            if self.waiting_on[sid] == 0:
                ready.append(sid)
        self.ready: list[str] = ready

    def _finished(self, sid: str) -> None:
        newly = []
        for dep in self.dependents.get(sid, []):
            if dep in self.waiting_on:
                self.waiting_on[dep] -= 1
                if self.waiting_on[dep] == 0:
                    newly.append(dep)
        self.ready = sorted([*self.ready, *newly], key=self.position.__getitem__)

    async def loop(self) -> None:
        self._prepare_schedule()
        while True:
            if await self._cancel_requested():
                await self._cancel_all()
                break
            self._start_ready()
            if not self.tasks:
                break
            if not any(task.done() for task in self.tasks.values()):
                await self._until_woken(self.engine.options.poll_interval)
            done = [sid for sid, task in self.tasks.items() if task.done()]
            for sid in sorted(done, key=self.position.__getitem__):
                task = self.tasks.pop(sid)
                exc = task.exception()
                if isinstance(exc, ApprovalPending):
                    self.stopped_for_approval = True
                elif exc is not None:
                    raise exc
                if self.state.step(sid).finished:
                    self._finished(sid)
        await self._finish()

    async def _until_woken(self, timeout: float) -> None:
        """Wait until a step task ends (it wakes this loop itself) or `timeout` passes.

        Not `asyncio.wait`: that hears of a finished task through the task's done callbacks, one
        pass of the event loop later than the task's own last act, on every step of a run.
        """
        loop = asyncio.get_running_loop()
        woken = self.woken = loop.create_future()
        timer = loop.call_later(timeout, _resolve, woken)
        try:
            await woken
        finally:
            timer.cancel()
            self.woken = None

    def _wake(self) -> None:
        if self.woken is not None:
            _resolve(self.woken)

    async def _step_task(self, sp: StepPlan, *, needs_ok: bool) -> None:
        """A step as its own task: it wakes the scheduling loop when it ends, however it ends.

        When its step was the only one running and frees exactly one other, the task runs that one
        too, as the loop would have started it next, but without a pass of the loop and a new task
        (a chain of steps runs as one task; scripts/bench_engine.py (b)).
        """
        try:
            while True:
                await self._run_step(sp, needs_ok=needs_ok)
                successor = self._sole_successor(sp.id)
                if successor is None:
                    return
                sp, needs_ok = successor
                await self._let_the_loop_run()
        finally:
            self._wake()

    async def _let_the_loop_run(self) -> None:
        """Yield once per step unless the step already did: a chain of steps that never wait (no-op
        agents, stubs) must not starve the loop (the writer, the daemon's requests, other runs)."""
        if not self.loop_ran:
            await asyncio.sleep(0)
        self.loop_ran = False
        asyncio.get_running_loop().call_soon(self._loop_has_run)

    def _loop_has_run(self) -> None:
        self.loop_ran = True

    def _sole_successor(self, sid: str) -> tuple[StepPlan, bool] | None:
        """The one step that `sid` finishing frees, when nothing else runs, waits or may cancel."""
        task = self.tasks.get(sid)
        if (
            task is None
            or len(self.tasks) != 1
            or self.ready
            or self.cancelled
            or time.monotonic() - self.cancel_checked >= CANCEL_POLL_S  # the loop looks at the store
            or not self.state.step(sid).finished
        ):
            return None
        waiting = [d for d in self.dependents.get(sid, []) if d in self.waiting_on]
        if len(waiting) != 1 or self.waiting_on[waiting[0]] != 1:  # one dependent, waiting on sid alone
            return None
        del self.tasks[sid]
        self._finished(sid)
        launch = self._launch(self.ready.pop(0))
        if launch is None:  # finished already (a resumed run): the loop sees what is ready next
            return None
        self.tasks[launch[0].id] = task
        return launch

    async def _cancel_requested(self) -> bool:
        """Another process may ask to cancel: look at the store now and then, not on every pass."""
        if self.cancelled:
            return True
        now = time.monotonic()
        if now - self.cancel_checked < CANCEL_POLL_S:
            return False
        self.cancel_checked = now
        rows = await self.store.fetch("SELECT cancel_requested FROM runs WHERE id = ?", (self.state.id,))
        self.cancelled = bool(rows and rows[0][0])
        return self.cancelled

    async def _cancel_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()
        for sid in self.plan.order:
            s = self.state.step(sid)
            if not s.finished and not self.plan.steps[sid].handler_for:
                await self.log.emit(
                    ev.STEP_FINISHED, sid, {"status": "cancelled", "error": "the run was cancelled"}
                )

    def _start_ready(self) -> None:
        limit = self.plan.concurrency
        while self.ready and len(self.tasks) < limit:
            launch = self._launch(self.ready.pop(0))
            if launch is not None:
                sp, needs_ok = launch
                self.tasks[sp.id] = asyncio.create_task(self._step_task(sp, needs_ok=needs_ok))

    def _launch(self, sid: str) -> tuple[StepPlan, bool] | None:
        """A ready step to start, and whether all it needs succeeded; None if it finished already."""
        if self.state.step(sid).finished:
            return None
        sp = self.plan.steps[sid]
        needs = [self.state.step(n) for n in sp.needs if n in self.plan.steps]
        return sp, all(n.status == "succeeded" for n in needs)

    async def _finish(self) -> None:
        if self.state.finished:
            return
        if not self.stopped_for_approval and not self.cancelled:
            for sid in self.plan.order:
                s = self.state.step(sid)
                if self.plan.steps[sid].handler_for and not s.finished:
                    await self.log.emit(
                        ev.STEP_SKIPPED, sid, {"status": "skipped", "reason": "no failure to handle"}
                    )
        error: str | None
        if self.cancelled:
            status, error = "cancelled", "cancelled by request"
        elif self.stopped_for_approval or any(
            s.status == "awaiting_approval" for s in self.state.steps.values()
        ):
            record.write_record(self.store.root, self.state, self.pf)
            return  # the run waits: `builderos approve` then `builderos resume`, or the daemon carries it on
        else:
            failed = [
                sid
                for sid in self.plan.order
                if self.state.step(sid).status == "failed"
                and not self.plan.steps[sid].continue_on_error
                and not self.plan.steps[sid].handler_for
            ]
            status = "failed" if failed else "succeeded"
            error = f"step {failed[0]} failed: {self.state.step(failed[0]).error}" if failed else None
        await self.log.emit(
            ev.RUN_FINISHED,
            data={"status": status, "error": error, "git_after": await _git_head(self.workspace)},
            batch=Batch().add(RELEASE_SQL, (self.state.id, owner_token())),
        )

    # -- one step ----------------------------------------------------------------------------------
    async def _run_step(self, sp: StepPlan, *, needs_ok: bool) -> None:
        s = self.state.step(sp.id)
        if not needs_ok:
            failed = [n for n in sp.needs if self.state.step(n).status != "succeeded"]
            await self.log.emit(
                ev.STEP_SKIPPED,
                sp.id,
                {"status": "skipped", "reason": f"needs {failed[0]} did not succeed"},
                wait=False,
            )
            return
        ctx = self._ctx(sp)
        if sp.condition is not None:
            try:
                run_it = evaluate_condition(sp.condition, ctx)
            except Exception as exc:
                await self.log.emit(ev.STEP_FINISHED, sp.id, {"status": "failed", "error": f"if: {exc}"})
                return
            if not run_it:
                await self.log.emit(
                    ev.STEP_SKIPPED, sp.id, {"status": "skipped", "reason": "if: condition is false"}
                )
                return
        if sp.gate == "approval":
            try:
                await self._ask(
                    sp,
                    s.attempts or 1,
                    f"gate:{sp.id}",
                    "step",
                    "gate: approval",
                    [],
                    f"step '{sp.id}' ({sp.kind} {sp.target}) waits for approval",
                    risk="medium",
                )
            except StepFailed as exc:  # a person said no: the step fails, the run ends as it should
                await self.log.emit(ev.STEP_FINISHED, sp.id, {"status": "failed", "error": str(exc)})
                await self._on_failure(sp)
                return
        attempt = max(s.attempts, 1) if s.status in ("running", "awaiting_approval") else s.attempts + 1
        if s.status == "retrying" and s.retry_at is not None:
            await asyncio.sleep(max(0.0, s.retry_at - self.store.clock.now()))
        while True:
            try:
                with_ = render_value(sp.with_, self._ctx(sp)) if sp.with_ else {}
            except Exception as exc:
                await self.log.emit(ev.STEP_FINISHED, sp.id, {"status": "failed", "error": f"with: {exc}"})
                return
            started: dict[str, Any] = {
                "attempt": attempt,
                "inputs": with_,
                "inputs_sha256": sha256_json(with_),
            }
            if sp.kind == "agent":
                started["agent"] = self.pf.agent_provenance(sp.target)
            started["step_sha256"] = self._step_sha256(sp)  # the step's definition, for replay
            await self.log.emit(ev.STEP_STARTED, sp.id, started, wait=False)
            try:
                coro = self._execute_kind(sp, attempt, with_)
                outputs = await (asyncio.wait_for(coro, sp.timeout) if sp.timeout else coro)
            except ApprovalPending:
                raise
            except (StepFailed, TimeoutError, OSError, Exception) as exc:
                # anything a step raises fails the step (never a run stuck in `running`); only
                # StepFailed, time-outs and OS errors are worth another attempt
                retryable = isinstance(exc, TimeoutError | OSError) or (
                    isinstance(exc, StepFailed) and exc.retryable
                )
                if isinstance(exc, TimeoutError):
                    message = f"timed out after {sp.timeout:g}s"
                elif isinstance(exc, StepFailed | OSError):
                    message = str(exc)
                else:
                    log.exception("step %s failed unexpectedly", sp.id)
                    message = f"internal error: {type(exc).__name__}: {exc}"
                outputs = exc.outputs if isinstance(exc, StepFailed) else {}
                if retryable and attempt <= sp.retries.max:
                    delay = sp.retries.delay(attempt, self.engine.options.rand.random())
                    await self.log.emit(
                        ev.STEP_RETRYING,
                        sp.id,
                        {
                            "attempt": attempt,
                            "error": message,
                            "delay": round(delay, 4),
                            "retry_at": self.store.clock.now() + delay,
                        },
                    )
                    crashpoint("retry-backoff")
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
                await self.log.emit(
                    ev.STEP_FINISHED,
                    sp.id,
                    {
                        "status": "failed",
                        "attempt": attempt,
                        "error": message,
                        "outputs": outputs,
                        "outputs_sha256": sha256_json(outputs),
                    },
                )
                await self._on_failure(sp)
                return
            await self.log.emit(
                ev.STEP_FINISHED,
                sp.id,
                {
                    "status": "succeeded",
                    "attempt": attempt,
                    "outputs": outputs,
                    "outputs_sha256": sha256_json(outputs),
                },
                wait=False,
            )
            return

    async def _on_failure(self, sp: StepPlan) -> None:
        handler = next((h for h in self.plan.steps.values() if h.handler_for == sp.id), None)
        if handler is None or self.state.step(handler.id).finished:
            return
        await self._run_step(handler, needs_ok=True)

    def _step_sha256(self, sp: StepPlan) -> str:
        digest = self.step_hashes.get(sp.id)
        if digest is None:
            digest = self.step_hashes[sp.id] = sha256_json(sp.raw)
        return digest

    def _ctx(self, sp: StepPlan) -> dict[str, Any]:
        extra = {**self.plan.env, **sp.env}
        return expression_context(self.state, self.steps_ctx, str(self.workspace), self.base_env, extra)

    def _step_log(self, step_id: str) -> Callable[[str], None]:
        """The writer of a step's log file, made (with its folder) only when a line comes."""
        folder = os.path.join(self.store.root, "logs", self.state.id)
        path = os.path.join(folder, f"{step_id}.log")
        redact = self.pf.redactor.text

        def write(line: str) -> None:
            if not self.log_folder_made:
                os.makedirs(folder, exist_ok=True)
                self.log_folder_made = True
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(redact(line) + "\n")

        return write

    async def _execute_kind(self, sp: StepPlan, attempt: int, with_: dict[str, Any]) -> Outputs:
        answer = self.engine.options.step_answerer
        if answer is not None and sp.kind != "agent":
            return await answer(sp, attempt, with_)
        log = self._step_log(sp.id)
        env = self.base_env
        if self.plan.env or sp.env:
            rendered = render_value({**self.plan.env, **sp.env}, self._ctx(sp))
            env = {**env, **{k: str(v) for k, v in rendered.items()}}
        if sp.kind == "run":
            stub = self.tool_stubs.get("shell.run")
            if isinstance(stub, dict):
                return _stubbed("shell.run", stub)
            command = str(render_value(sp.target, self._ctx(sp)))
            await self.log.flush()  # a command is an effect with no intent record: its start is the fence
            return await run_command(command, self.workspace, env, log)
        ledger = StoreLedger(
            self.store, self.state.id, sp.id, self.engine.options.actor, self.pf.redactor.data
        )
        if sp.kind == "uses":
            stub = self.tool_stubs.get(sp.target)
            if isinstance(stub, dict):
                return _stubbed(sp.target, stub)
            outputs = await require_action(sp.target).run(
                ActionInput(
                    self.workspace,
                    self.store.root,
                    self.state.id,
                    sp.id,
                    attempt,
                    with_,
                    ledger,
                    log,
                    env,
                    self.engine.services,
                )
            )
            if sp.target == "fs.write" and outputs.get("sha256"):
                await self._artifact(sp.id, str(outputs.get("path")))
            return outputs
        return await self._run_agent(sp, attempt, with_, ledger, log, env)

    async def _run_agent(
        self,
        sp: StepPlan,
        attempt: int,
        with_: dict[str, Any],
        ledger: StoreLedger,
        log: Callable[[str], None],
        env: dict[str, str],
    ) -> Outputs:
        agent = self.pf.agents.get(sp.target) or {}
        prompt = self.pf.prompt_for(sp.target)
        if prompt is not None:
            record.snapshot_prompt(self.store.root, prompt)

        async def emit(type_: str, data: dict[str, Any]) -> None:
            await self.log.emit(type_, sp.id, data)
            if (
                type_ == ev.TOOL_RESULT
                and data.get("tool") == "fs.write"
                and "sha256" in (data.get("result") or {})
            ):
                await self._artifact(sp.id, str(data["result"].get("path")))

        async def ask(tool: str, rule: str, changes: list[Change], summary: str) -> bool:
            # the key names this exact request: the call's number in the step and the file's content
            # before the change, so a resume finds it again and a file edited meanwhile asks anew
            befores = ",".join(str(c.as_dict()["before_sha256"])[:16] for c in changes)
            key = f"tool:{sp.id}:{attempt}:{tools.calls}:{tool}:{befores}"
            return await self._ask(sp, attempt, key, tool, rule, changes, summary, risk="medium")

        tools = ToolBox(
            workspace=self.workspace,
            agent=sp.target,
            agent_tools=list(agent.get("tools") or []),
            policy=self.policy,
            emit=emit,
            ask_approval=ask,
            ledger=ledger,
            run_id=self.state.id,
            step_id=sp.id,
            log=log,
            stubs=self.tool_stubs,
            env=env,
            services=self.engine.services,
            attempt=attempt,
            redact=self.pf.redactor.data,
            mcp=hub_for(self.engine.services, self.pf.project, self.workspace),
        )
        call = AgentCall(
            self.state.id,
            sp.id,
            attempt,
            agent,
            prompt,
            with_,
            self.workspace,
            tools,
            emit,
            model_profile=self.pf.agent_provenance(sp.target).get("model_profile"),
            recorded=await self._recorded_turns(sp.id, attempt),
        )
        return await self.agents.run(call)

    async def _recorded_turns(self, step_id: str, attempt: int) -> list[dict[str, Any]]:
        """The model responses an earlier process got in this attempt of the step (a resumed run)."""
        if not self.resumed or self.resumed_steps.get(step_id) == attempt:
            return []
        self.resumed_steps[step_id] = attempt  # once per attempt: a later retry starts afresh
        rows = await self.store.fetch(
            "SELECT type, data FROM events WHERE run_id = ? AND step_id = ? AND type IN (?, ?) ORDER BY seq",
            (self.state.id, step_id, ev.STEP_STARTED, ev.LLM_RESPONSE),
        )
        turns: list[dict[str, Any]] = []
        inside = False
        for type_, raw in rows:
            data = json.loads(raw)
            if type_ == ev.STEP_STARTED:
                inside = inside or data.get("attempt") == attempt
            elif inside:
                turns.append(data)
        return turns

    async def _artifact(self, step_id: str, rel: str) -> None:
        path = self.workspace / rel
        if not path.is_file():
            return
        data = path.read_bytes()
        text = data.decode("utf-8", "replace")
        if self.pf.redactor.text(text) != text:
            # the file holds a secret: record what it is (its hash), never keep a copy in the store
            sha, size, kept = hashlib.sha256(data).hexdigest(), len(data), False
        else:
            sha, size = store_artifact(self.store.root, self.state.id, step_id, rel, data)
            kept = True
        await self.log.emit(
            ev.ARTIFACT_CREATED,
            step_id,
            {"name": rel, "sha256": sha, "size": size, "copied": kept},
            batch=Batch().add(
                "INSERT OR REPLACE INTO artifacts(run_id, step_id, name, sha256, size, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (self.state.id, step_id, rel, sha, size, self.store.clock.iso()),
            ),
        )

    async def _ask(
        self,
        sp: StepPlan,
        attempt: int,
        key: str,
        action: str,
        rule: str,
        changes: list[Change],
        summary: str,
        *,
        risk: str,
    ) -> bool:
        """Persist an approval request (once per key), wait for its decision, return approved or not."""
        existing = await find_approval(self.store, self.state.id, key)
        if existing is None:
            approval = {
                "id": self.engine.options.ids.new(),
                "key": key,
                "run_id": self.state.id,
                "step_id": sp.id,
                "action": action,
                "rule": rule,
                "risk": risk,
                "summary": summary,
                "changes": [c.as_dict() for c in changes],
                "created_at": self.store.clock.iso(),
                "resolved_by": None,
                "resolved_at": None,
                "comment": None,
            }
            approval = self.pf.redactor.data(approval)
            await self.log.emit(
                ev.APPROVAL_REQUESTED,
                sp.id,
                {k: v for k, v in approval.items() if k != "changes"} | {"files": [c.path for c in changes]},
                batch=Batch().add(
                    "INSERT INTO approvals(id, run_id, step_id, status, created_at, body) "
                    "VALUES (?, ?, ?, 'pending', ?, ?)",
                    (approval["id"], self.state.id, sp.id, approval["created_at"], dumps(approval)),
                ),
            )
            existing = {**approval, "status": "pending"}
        elif existing.get("id") not in self.state.approvals:
            self.state.approvals[str(existing["id"])] = dict(existing)
        status = existing["status"]
        if status == "pending":
            decided = await self._decide(existing)
            if decided is None:
                raise ApprovalPending(str(existing["id"]))
            existing = decided
            status = existing["status"]
        if self.state.approvals.get(str(existing["id"]), {}).get("status") in (None, "pending"):
            await self.log.emit(
                ev.APPROVAL_RESOLVED,
                sp.id,
                {
                    "id": existing["id"],
                    "decision": "approve" if status == "approved" else "deny",
                    "by": existing.get("resolved_by"),
                    "comment": existing.get("comment"),
                },
            )
        if status != "approved" and sp.gate == "approval" and action == "step":
            raise StepFailed(
                f"denied at the approval gate: {existing.get('comment') or 'no reason given'}",
                retryable=False,
            )
        return bool(status == "approved")

    async def _decide(self, approval: dict[str, Any]) -> dict[str, Any] | None:
        from builderos.engine.approvals import get, resolve

        scripted = _scenario_decision(self.scenario_approvals, approval)
        if scripted is not None:
            decision, comment = scripted
            return await resolve(
                self.store,
                str(approval["id"]),
                decision,
                {"type": "system", "id": "scenario", "source": "scenario"},
                comment,
            )
        approver = self.engine.options.approver
        if approver is None:
            return None
        answer = await approver(approval)
        if answer is None:
            return None
        decision, comment, by = answer
        current = await get(self.store, str(approval["id"]))
        if current is not None and current["status"] != "pending":
            return current  # decided elsewhere (the CLI, the editor) while we waited
        return await resolve(
            self.store,
            str(approval["id"]),
            decision,
            {"type": "user", "id": by, "source": self.engine.options.actor.get("source", "cli")},
            comment,
        )


def _scenario_decision(spec: Any, approval: dict[str, Any]) -> tuple[str, str | None] | None:
    if spec == "approve-all":
        return "approve", "scenario: approve-all"
    if spec == "deny-all":
        return "deny", "scenario: deny-all"
    if isinstance(spec, list):
        for entry in spec:
            if isinstance(entry, dict) and entry.get("step") in (None, approval.get("step_id")):
                return str(entry.get("decision", "approve")), entry.get("comment")
    return None


def _stubbed(name: str, stub: dict[str, Any]) -> Outputs:
    outputs = dict(stub.get("result") or {k: v for k, v in stub.items() if k != "fail"})
    code = outputs.get("exit_code")
    if stub.get("fail") or (isinstance(code, int) and code != 0):
        raise StepFailed(f"{name} (stubbed) failed", outputs, retryable=False)
    return outputs


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _git_head(workspace: Path) -> str | None:
    if not _in_git_checkout(workspace):
        return None  # no process to start for a workspace that is not under git
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "rev-parse",
            "HEAD",
            cwd=str(workspace),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
    except OSError:
        return None
    return out.decode().strip() or None if proc.returncode == 0 else None


def _in_git_checkout(workspace: Path) -> bool:
    """Whether git would find a repository here: a `.git` (folder or file) here or above."""
    return any((folder / ".git").exists() for folder in (workspace, *workspace.parents))
