"""The built-in `uses:` actions (names, params and outputs as in builderos.catalog.ACTIONS).

`desk.apply` lives elsewhere: `get_action` returns None for it and for unknown names,
`require_action` fails the step.
"""

from __future__ import annotations

from builderos.engine.actions.deploy import Deploy, LocalTargets, Rollback
from builderos.engine.actions.eval_gate import EvalGate
from builderos.engine.actions.files import FsWrite
from builderos.engine.actions.gitops import GitBranch, GitCommit, GitPr
from builderos.engine.actions.http import HttpCheck
from builderos.engine.interfaces import Action, StepFailed

_ALL: tuple[Action, ...] = (
    GitBranch(),
    GitCommit(),
    GitPr(),
    FsWrite(),
    HttpCheck(),
    Deploy(),
    Rollback(),
    EvalGate(),
)

BUILTIN_ACTIONS: dict[str, Action] = {a.name: a for a in _ALL}


def get_action(name: str) -> Action | None:
    """The built-in action called `name`, or None."""
    return BUILTIN_ACTIONS.get(name)


def require_action(name: str) -> Action:
    """The built-in action called `name`; an unknown one fails the step (retrying cannot help)."""
    action = BUILTIN_ACTIONS.get(name)
    if action is None:
        raise StepFailed(f"unknown action {name!r}", retryable=False)
    return action


__all__ = [
    "BUILTIN_ACTIONS",
    "Deploy",
    "EvalGate",
    "FsWrite",
    "GitBranch",
    "GitCommit",
    "GitPr",
    "HttpCheck",
    "LocalTargets",
    "Rollback",
    "get_action",
    "require_action",
]
