"""The values `${{ }}` expressions read while a run runs: inputs, step outputs, env and run."""

from __future__ import annotations

import os
from typing import Any

from builderos.engine.state import RunState


def expression_context(
    state: RunState, workspace: str, extra_env: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "inputs": dict(state.inputs),
        "steps": {sid: {"outputs": s.outputs, "status": s.status} for sid, s in state.steps.items()},
        "env": {**os.environ, **{k: str(v) for k, v in (extra_env or {}).items()}},
        "run": {
            "id": state.id,
            "pipeline": state.pipeline,
            "workspace": workspace,
            "started_at": state.started_at,
        },
    }
