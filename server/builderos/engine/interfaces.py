"""The contracts between the engine and what it drives: actions, effects, agents.

One input object per hook (so fields can be added without breaking implementations), and one
ledger that makes every side effect happen at most once across crashes and resumes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Outputs = dict[str, Any]


class StepFailed(Exception):
    """A step failed for a reason the user should read (exit code, HTTP status, git error...)."""

    def __init__(self, message: str, outputs: Outputs | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.outputs = outputs or {}
        self.retryable = retryable


class EffectLedger(Protocol):
    """Intent before effect: each side effect is recorded before it runs and after it completes."""

    async def once(
        self,
        key: str,
        kind: str,
        intent: Mapping[str, Any],
        perform: Callable[[], Awaitable[Outputs]],
        reconcile: Callable[[Mapping[str, Any]], Awaitable[Outputs | None]],
    ) -> Outputs:
        """Run `perform` at most once for `key` (an idempotency key unique in the run).

        - key already completed: return the recorded result, run nothing;
        - intent recorded but no result (a crash in between): `reconcile(intent)` inspects the world
          (file hash, git log, deployment folder); a result means the effect did happen — it is
          recorded and returned; None means it did not — `perform` runs;
        - otherwise: commit the intent, `perform`, commit the result, return it.
        """
        ...


@dataclass(slots=True)
class ActionInput:
    """Everything an action needs for one attempt of one step."""

    workspace: Path
    store_dir: Path  # <workspace>/.builderos
    run_id: str
    step_id: str
    attempt: int
    params: dict[str, Any]  # the step's `with:`, expressions already resolved
    ledger: EffectLedger
    log: Callable[[str], None]  # one line of the step's log (redacted before it is stored)
    env: Mapping[str, str] = field(default_factory=dict)
    services: dict[str, Any] = field(
        default_factory=dict
    )  # per-run shared objects (e.g. local deploy servers)


class Action(Protocol):
    """A built-in `uses:` action (see builderos.catalog.ACTIONS for names, params and outputs)."""

    name: str

    async def run(self, inp: ActionInput) -> Outputs:
        """Do the work (through `inp.ledger.once` for every side effect) and return the outputs.

        Raise StepFailed with a one-line reason when the action fails.
        """
        ...
