"""`builderos replay RUN_ID`: the current code run again on a recorded run's answers.

The replay is a new run in the store (so it has its own timeline and audit records), executed in a
scratch copy of the workspace that is removed afterwards; its events are then compared with the
record's (see compare.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builderos.engine.runlog import load_events
from builderos.engine.runner import Engine, RunOptions
from builderos.engine.state import fold
from builderos.replay.compare import divergences
from builderos.replay.recorded import RecordedAgent, Recording
from builderos.scenarios.scratch import make_scratch, remove_scratch, rename_scratch
from builderos.store.db import Store


class ReplayError(Exception):
    """The run cannot be replayed: one line and a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


async def resolve_run_id(store: Store, run_id: str) -> str:
    """A full run id from an id or a unique prefix of one."""
    rows = await store.fetch("SELECT id FROM runs WHERE id = ?", (run_id,))
    if not rows:
        rows = await store.fetch("SELECT id FROM runs WHERE id LIKE ? ORDER BY id", (run_id + "%",))
    if len(rows) != 1:
        raise ReplayError(f"no run '{run_id}'", "list runs with 'builderos runs'")
    return str(rows[0][0])


async def replay(
    workspace: Path, store: Store, run_id: str, actor: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`{runId, replayRunId, divergences}` for the run `run_id`."""
    run_id = await resolve_run_id(store, run_id)
    recorded = await load_events(store, run_id)
    state = fold(run_id, recorded)
    if state.status in ("queued", "running"):
        raise ReplayError(f"run {run_id} is {state.status}", "replay it once it has finished")
    recording = Recording(recorded)
    options = RunOptions(
        agent_runtime=RecordedAgent(recording),
        step_answerer=recording.answer_step,
        approver=recording.approver,
    )
    if actor is not None:
        options.actor = dict(actor)
    scratch = make_scratch(workspace.resolve())
    try:
        new_id = await Engine(scratch, store, options).create(state.pipeline, dict(state.inputs), None)
        scratch = rename_scratch(scratch, new_id)
        engine = Engine(scratch, store, options)
        replayed = await engine.execute(new_id, first=True)
        if not replayed.finished:
            await engine.request_cancel(new_id)
    finally:
        remove_scratch(scratch)
    found = divergences(recorded, await load_events(store, new_id))
    return {"runId": run_id, "replayRunId": new_id, "divergences": found}
