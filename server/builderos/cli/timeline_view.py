"""A readable timeline of a run: one lane per step, with start, duration, attempts and status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from builderos.engine.state import RunState

WIDTH = 40
MARKS = {
    "succeeded": "█",
    "failed": "✗",
    "skipped": "·",
    "cancelled": "/",
    "running": "▶",
    "awaiting_approval": "?",
    "retrying": "↻",
    "pending": " ",
}


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def timeline_rows(state: RunState) -> list[dict[str, Any]]:
    """The data behind the view (also `timeline --json` and builderos/timeline)."""
    t0 = _ts(state.started_at or state.created_at) or 0.0
    rows = []
    for sid, s in state.steps.items():
        start, end = _ts(s.started_at), _ts(s.ended_at)
        rows.append(
            {
                "step": sid,
                "status": s.status,
                "attempts": s.attempts,
                "start": None if start is None else round(start - t0, 3),
                "duration": None if start is None or end is None else round(end - start, 3),
                "retries": max(0, s.attempts - 1),
                "waited_for_approval": s.waited_for_approval,
                "error": s.error,
            }
        )
    return rows


def render_timeline(state: RunState) -> str:
    rows = timeline_rows(state)
    t_end = max([(r["start"] or 0) + (r["duration"] or 0) for r in rows] + [0.001])
    name_w = max([len(r["step"]) for r in rows] + [4])
    lines = [f"run {state.id}  pipeline {state.pipeline}  {state.status}"]
    lines.append(f"{'step'.ljust(name_w)}  {'status'.ljust(17)} {'start':>8} {'dur':>8} tries  timeline")
    for r in rows:
        bar = [" "] * WIDTH
        if r["start"] is not None:
            a = int(r["start"] / t_end * (WIDTH - 1))
            b = max(a + 1, int(((r["start"] + (r["duration"] or 0)) / t_end) * (WIDTH - 1)) + 1)
            for i in range(a, min(b, WIDTH)):
                bar[i] = MARKS.get(r["status"], "█")
        start = "" if r["start"] is None else f"{r['start']:.2f}s"
        dur = "" if r["duration"] is None else f"{r['duration']:.2f}s"
        extra = " (waited for approval)" if r["waited_for_approval"] else ""
        lines.append(
            f"{r['step'].ljust(name_w)}  {r['status'].ljust(17)} {start:>8} {dur:>8} {r['attempts']:>5}  "
            f"|{''.join(bar)}|{extra}"
        )
    if state.error:
        lines.append(f"error: {state.error}")
    return "\n".join(lines)
