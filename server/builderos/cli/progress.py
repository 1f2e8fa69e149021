"""Live progress of a run in a terminal (rich), plain lines when the output is not a terminal."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from builderos.engine import events as ev
from builderos.engine.events import Event
from builderos.engine.state import RunState

SHOWN = {
    ev.RUN_STARTED,
    ev.RUN_RESUMED,
    ev.RUN_FINISHED,
    ev.STEP_STARTED,
    ev.STEP_RETRYING,
    ev.STEP_FINISHED,
    ev.STEP_SKIPPED,
    ev.APPROVAL_REQUESTED,
    ev.APPROVAL_RESOLVED,
    ev.POLICY_DENIED,
    ev.TOOL_CALL,
}


def describe(event: Event) -> str:
    d = event.data
    who = event.step_id or "run"
    if event.type == ev.STEP_STARTED:
        return f"{who}: started (attempt {d.get('attempt')})"
    if event.type == ev.STEP_RETRYING:
        return f"{who}: failed ({d.get('error')}), retrying in {d.get('delay')}s"
    if event.type in (ev.STEP_FINISHED, ev.STEP_SKIPPED):
        tail = f": {d.get('error') or d.get('reason')}" if d.get("error") or d.get("reason") else ""
        return f"{who}: {d.get('status')}{tail}"
    if event.type == ev.APPROVAL_REQUESTED:
        return f"{who}: waiting for approval {d.get('id')} ({d.get('rule')}): {d.get('summary')}"
    if event.type == ev.APPROVAL_RESOLVED:
        return f"{who}: approval {d.get('id')} {d.get('decision')}d by {d.get('by')}"
    if event.type == ev.POLICY_DENIED:
        return f"{who}: policy denied {d.get('tool')} ({d.get('rule')}): {d.get('reason')}"
    if event.type == ev.TOOL_CALL:
        return f"{who}: calls {d.get('tool')}"
    if event.type == ev.RUN_FINISHED:
        return f"run {event.run_id}: {d.get('status')}" + (f" ({d.get('error')})" if d.get("error") else "")
    return f"run {event.run_id}: {event.type.split('.')[-1]}"


class PlainProgress:
    """One line per event that matters, for logs and CI."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    def __call__(self, event: Event, state: RunState) -> None:
        if event.type in SHOWN:
            print(describe(event), file=self.out, flush=True)

    def close(self) -> None:
        pass


class LiveProgress:
    """A live table of steps (rich) that redraws as events arrive."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def __call__(self, event: Event, state: RunState) -> None:
        from rich.table import Table

        table = Table(title=f"{state.pipeline} · {state.id} · {state.status}", expand=False)
        for column in ("step", "status", "attempts", "note"):
            table.add_column(column)
        for sid, s in state.steps.items():
            note = s.error or ""
            table.add_row(sid, _styled(s.status), str(s.attempts or ""), note[:60])
        self.live.update(table)
        if event.type in (ev.APPROVAL_REQUESTED, ev.POLICY_DENIED):
            self.live.console.print(describe(event))

    def close(self) -> None:
        self.live.stop()


def _styled(status: str) -> Any:
    colour = {
        "succeeded": "green",
        "failed": "red",
        "running": "cyan",
        "awaiting_approval": "yellow",
        "retrying": "magenta",
        "skipped": "dim",
        "cancelled": "dim",
    }.get(status, "")
    return f"[{colour}]{status}[/]" if colour else status
