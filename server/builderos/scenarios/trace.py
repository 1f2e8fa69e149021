"""A run's trace for golden files: its events per step, with what changes from run to run normalised.

Steps may run concurrently, so the trace keeps each step's events in their order but not the
interleaving between steps. Normalised: run and approval ids (`<id:1>`, … by first appearance),
times (`<time>`), git commit hashes (`<git>`), hashes of data that holds ids or times (`<sha256>`;
the data itself is in the trace), and absolute paths of the scratch workspace and the store.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from builderos.engine.events import Event

ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
GIT_SHA = re.compile(r"\b[0-9a-f]{40}\b")
#: Hashes of data that may embed ids, times or paths (the data is in the trace, normalised).
DERIVED_HASHES = {"inputs_sha256", "outputs_sha256", "args_sha256", "result_sha256"}
#: Values that are times whatever their form (epoch seconds).
TIME_KEYS = {"retry_at", "ts", "created_at", "resolved_at", "started_at", "ended_at", "heartbeat"}
#: Keys whose values differ between runs for reasons a golden file must not see.
DROPPED_KEYS = {"key"}  # an approval's idempotency key (holds call numbers and hashes of files)


class Normaliser:
    """Replaces run-specific values consistently within one trace."""

    def __init__(self, paths: dict[str, str]) -> None:
        # longest first, so a path inside another is replaced by its own name
        self.paths = sorted(paths.items(), key=lambda kv: -len(kv[0]))
        self.ids: dict[str, str] = {}

    def text(self, value: str) -> str:
        for path, name in self.paths:
            if path:
                value = value.replace(path, name)
        value = ISO_TIME.sub("<time>", value)
        value = GIT_SHA.sub("<git>", value)
        return ULID.sub(self._id, value)

    def _id(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.ids:
            self.ids[found] = f"<id:{len(self.ids) + 1}>"
        return self.ids[found]

    def value(self, value: Any, key: str | None = None) -> Any:
        if key in TIME_KEYS and value is not None:
            return "<time>"
        if key in DERIVED_HASHES and isinstance(value, str):
            return "<sha256>"
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(str(k)): self.value(v, str(k)) for k, v in value.items() if k not in DROPPED_KEYS
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def build_trace(events: list[Event], paths: dict[str, str]) -> dict[str, Any]:
    """`{run: [events without a step], steps: {step: [events]}}`, each event `{type, data}`."""
    norm = Normaliser(paths)
    for event in events:  # ids numbered in the order the run met them
        norm.text(event.run_id)
        if event.type == "approval.requested":
            norm.text(str(event.data.get("id")))
    run: list[dict[str, Any]] = []
    steps: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        item = {"type": event.type, "data": norm.value(event.data)}
        if event.step_id is None:
            run.append(item)
        else:
            steps.setdefault(event.step_id, []).append(item)
    return {"run": run, "steps": steps}


def render(trace: dict[str, Any]) -> str:
    """The golden file's text: stable key order, one value per line, so diffs read well."""
    return json.dumps(trace, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def unified(expected: str, actual: str, golden: str) -> str:
    """A unified diff of the golden file (expected) and this run's trace (actual)."""
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"{golden} (golden)",
        tofile=f"{golden} (this run)",
        n=3,
    )
    return "".join(lines)
