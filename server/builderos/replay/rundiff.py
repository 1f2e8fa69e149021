"""`builderos diff RUN_A RUN_B`: two runs side by side — steps, outputs, prompts and artifacts."""

from __future__ import annotations

from typing import Any

from builderos.cli.timeline_view import timeline_rows
from builderos.engine.state import RunState

STEP_FIELDS = ("status", "attempts", "duration")


def run_diff(a: RunState, b: RunState) -> dict[str, Any]:
    """`{runA, runB, steps, outputs, prompts, artifacts}`.

    `steps` has every step of either run with both sides and the fields that differ besides the
    duration (which always does); the other lists hold only what differs.
    """
    rows_a = {r["step"]: r for r in timeline_rows(a)}
    rows_b = {r["step"]: r for r in timeline_rows(b)}
    order = [*rows_a, *(s for s in rows_b if s not in rows_a)]
    steps = []
    for sid in order:
        ra, rb = rows_a.get(sid), rows_b.get(sid)
        side_a = {k: ra[k] for k in STEP_FIELDS} if ra else None
        side_b = {k: rb[k] for k in STEP_FIELDS} if rb else None
        if side_a is None or side_b is None:
            changed = ["presence"]
        else:
            changed = [k for k in ("status", "attempts") if side_a[k] != side_b[k]]
        steps.append({"step": sid, "a": side_a, "b": side_b, "changed": changed})
    outputs = []
    prompts = []
    for sid in order:
        sa, sb = a.steps.get(sid), b.steps.get(sid)
        oa = sa.outputs if sa else {}
        ob = sb.outputs if sb else {}
        for name in [*oa, *(n for n in ob if n not in oa)]:
            if oa.get(name) != ob.get(name) or (name in oa) != (name in ob):
                outputs.append({"step": sid, "name": name, "a": oa.get(name), "b": ob.get(name)})
        pa, pb = _prompt(sa.agent if sa else {}), _prompt(sb.agent if sb else {})
        if (pa or pb) and pa != pb:
            prompts.append({"step": sid, "a": pa, "b": pb})
    arts_a, arts_b = _artifacts(a), _artifacts(b)
    artifacts = [
        {"name": name, "a": arts_a.get(name), "b": arts_b.get(name)}
        for name in sorted({*arts_a, *arts_b})
        if arts_a.get(name) != arts_b.get(name)
    ]
    return {
        "runA": a.id,
        "runB": b.id,
        "steps": steps,
        "outputs": outputs,
        "prompts": prompts,
        "artifacts": artifacts,
    }


def _prompt(agent: dict[str, Any]) -> dict[str, Any] | None:
    if not agent.get("prompt"):
        return None
    return {"prompt": agent.get("prompt"), "sha256": agent.get("prompt_sha256")}


def _artifacts(state: RunState) -> dict[str, str]:
    """The last sha256 each artifact name had in the run."""
    found: dict[str, str] = {}
    for s in state.steps.values():
        for art in s.artifacts:
            found[str(art.get("name"))] = str(art.get("sha256"))
    return found
