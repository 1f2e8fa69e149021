"""The values `${{ }}` expressions read while a run runs: inputs, step outputs, env and run."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from builderos.engine.state import RunState


def expression_context(
    state: RunState,
    steps: Mapping[str, Any],
    workspace: str,
    base_env: dict[str, str],
    extra_env: Mapping[str, Any],
) -> dict[str, Any]:
    """`steps` is kept current by the run (one entry per step event) instead of rebuilt per call."""
    return {
        "inputs": state.inputs,
        "steps": steps,
        # read-only: the run's environment is not copied for every expression
        "env": ChainMap({k: str(v) for k, v in extra_env.items()}, base_env) if extra_env else base_env,
        "run": {
            "id": state.id,
            "pipeline": state.pipeline,
            "workspace": workspace,
            "started_at": state.started_at,
        },
    }
