"""A scenario's `expect:` block checked against a finished run and its scratch workspace.

Each failure names the expectation key it comes from (a path into the scenario file), so the
CLI and the editor can point at that line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builderos.engine.state import RunState

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Failure:
    """One unmet expectation: a readable message and where in the scenario file it is written."""

    message: str
    key: KeyPath


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def check(expect: dict[str, Any], state: RunState, workspace: Path) -> list[Failure]:
    """Every unmet expectation of `expect` (the scenario's raw `expect:` mapping), in file order."""
    failures: list[Failure] = []
    status = expect.get("status")
    if status is not None and state.status != status:
        why = f" ({state.error})" if state.error else ""
        failures.append(
            Failure(f"expected the run to be {status}, it is {state.status}{why}", ("expect", "status"))
        )
    for step_id, wanted in (expect.get("steps") or {}).items():
        key: KeyPath = ("expect", "steps", step_id)
        s = state.steps.get(step_id)
        if s is None:
            failures.append(Failure(f"the run has no step '{step_id}'", key))
        elif s.status != wanted:
            why = f" ({s.error})" if s.error else ""
            failures.append(Failure(f"expected step {step_id} to be {wanted}, it is {s.status}{why}", key))
    for step_id, outputs in (expect.get("outputs") or {}).items():
        s = state.steps.get(step_id)
        if s is None:
            failures.append(Failure(f"the run has no step '{step_id}'", ("expect", "outputs", step_id)))
            continue
        for name, wanted in (outputs or {}).items():
            key = ("expect", "outputs", step_id, name)
            if name not in s.outputs:
                failures.append(Failure(f"step {step_id} has no output '{name}'", key))
            elif s.outputs[name] != wanted:
                failures.append(
                    Failure(
                        f"expected {step_id}.outputs.{name} = {_show(wanted)}, got {_show(s.outputs[name])}",
                        key,
                    )
                )
    for rel, rules in (expect.get("files") or {}).items():
        failures.extend(_check_file(workspace, str(rel), rules or {}))
    return failures


def _check_file(workspace: Path, rel: str, rules: dict[str, Any]) -> list[Failure]:
    base: KeyPath = ("expect", "files", rel)
    path = workspace / rel
    try:
        inside = path.resolve().is_relative_to(workspace.resolve())
    except OSError:
        inside = False
    if not inside:
        return [Failure(f"{rel} is outside the workspace", base)]
    data = path.read_bytes() if path.is_file() else None
    out: list[Failure] = []
    exists = rules.get("exists")
    if exists is not None and (data is not None) != bool(exists):
        out.append(Failure(f"expected {rel} {'to exist' if exists else 'not to exist'}", (*base, "exists")))
    for rule in ("contains", "equals", "sha256"):
        wanted = rules.get(rule)
        if wanted is None:
            continue
        key = (*base, rule)
        if data is None:
            out.append(Failure(f"{rel} does not exist", key))
            continue
        text = data.decode("utf-8", "replace")
        if rule == "contains" and str(wanted) not in text:
            out.append(Failure(f"{rel} does not contain {_show(wanted)}", key))
        elif rule == "equals" and text != str(wanted):
            out.append(Failure(f"{rel} is not equal to the expected text (it is {_show(text)})", key))
        elif rule == "sha256" and hashlib.sha256(data).hexdigest() != str(wanted).lower():
            out.append(Failure(f"{rel} has sha256 {hashlib.sha256(data).hexdigest()}, not {wanted}", key))
    return out
