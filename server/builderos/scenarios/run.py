"""`builderos scenario run`: each scenario's pipeline run in a scratch copy, then its expectations.

The run is recorded in the user's store like any other (it shows in `runs` and the audit chain);
only the files it touches are a copy (`$TMPDIR/builderos-scratch/<run id>/`, see scratch.py). That
copy is removed when the scenario passes and kept when it fails, so its files can be looked at.
A run a scenario leaves waiting for an approval nobody scripted is cancelled once checked, so it
never goes on anywhere else.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builderos.engine import approvals
from builderos.engine.inputs import InputError
from builderos.engine.preflight import PreflightError
from builderos.engine.runlog import Listener, load_events
from builderos.engine.runner import Engine, RunError, RunOptions
from builderos.engine.state import RunState
from builderos.scenarios import expect, trace
from builderos.scenarios.scratch import make_scratch, remove_scratch, rename_scratch
from builderos.store.db import Store
from builderos.workspace.index import Workspace

ZERO_RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}


class ScenarioError(Exception):
    """The request itself is wrong (an unknown scenario, a golden path outside the workspace)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class ScenarioResult:
    """The outcome of one scenario, in the shape of the `builderos/scenarioRun` contract."""

    name: str
    file: str
    run_id: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    diff: str | None = None
    golden_written: str | None = None
    scratch: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "file": self.file,
            "passed": self.passed,
            "runId": self.run_id,
            "failures": self.failures,
        }
        if self.diff:
            out["diff"] = self.diff
        return out


def scenario_list(ws: Workspace) -> list[dict[str, Any]]:
    """`[{name, file, pipeline, range}]` of the workspace's scenarios (range: the `name` key)."""
    found = []
    for name, refs in sorted(ws.symbols.scenarios.items()):
        for ref in refs:
            doc = ws.docs.get(ref.path)
            where = doc.lsp_range(doc.locator.key_span(("name",))) if doc is not None else ZERO_RANGE
            found.append(
                {"name": name, "file": ref.path, "pipeline": ref.data.get("pipeline"), "range": where}
            )
    return found


def _selected(ws: Workspace, names: list[str] | None) -> list[tuple[str, str, dict[str, Any]]]:
    table = ws.symbols.scenarios
    if not names:
        return [(n, refs[0].path, dict(refs[0].data)) for n, refs in sorted(table.items())]
    chosen = []
    for name in names:
        refs = table.get(name)
        if not refs:
            known = ", ".join(sorted(table)) or "none"
            raise ScenarioError(f"unknown scenario '{name}'", f"scenarios in this workspace: {known}")
        chosen.append((name, refs[0].path, dict(refs[0].data)))
    return chosen


class ScenarioRunner:
    """Runs scenarios of one workspace against its store."""

    def __init__(
        self,
        workspace: Path,
        store: Store,
        *,
        actor: dict[str, Any] | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.workspace = workspace.resolve()
        self.store = store
        self.actor = actor
        self.listeners = listeners or []
        self.ws = Workspace(self.workspace)
        self.ws.scan()

    def _options(self) -> RunOptions:
        options = RunOptions(listeners=list(self.listeners))
        if self.actor is not None:
            options.actor = dict(self.actor)
        return options

    async def run(self, names: list[str] | None, *, update_golden: bool = False) -> list[ScenarioResult]:
        chosen = _selected(self.ws, names)
        for _, rel, data in chosen:
            self._golden_path(rel, data)  # a bad golden path is a usage error, found before any run
        return [await self.run_one(name, rel, data, update_golden) for name, rel, data in chosen]

    async def run_one(self, name: str, rel: str, data: dict[str, Any], update_golden: bool) -> ScenarioResult:
        result = ScenarioResult(name, rel)
        scratch = make_scratch(self.workspace)
        try:
            run_id = await Engine(scratch, self.store, self._options()).create(
                str(data.get("pipeline")), {}, name
            )
        except PreflightError as exc:
            remove_scratch(scratch)
            self._preflight_failures(result, exc)
            return result
        except (InputError, RunError) as exc:
            remove_scratch(scratch)
            result.failures.append(self._failure(rel, str(exc), ("inputs",)))
            return result
        scratch = rename_scratch(scratch, run_id)
        result.run_id = run_id
        engine = Engine(scratch, self.store, self._options())
        state = await engine.execute(run_id, first=True)
        raw_expect = data.get("expect")
        expectations: dict[str, Any] = raw_expect if isinstance(raw_expect, dict) else {}
        for failure in expect.check(expectations, state, scratch):
            result.failures.append(self._failure(rel, failure.message, failure.key))
        await self._golden(result, rel, data, state, scratch, update_golden)
        if not state.finished:
            await self._withdraw(engine, run_id)
        if result.passed:
            remove_scratch(scratch)
        else:
            result.scratch = str(scratch)
        return result

    async def _withdraw(self, engine: Engine, run_id: str) -> None:
        """A run stopped at an approval the scenario does not script: its requests are denied (no
        one is asked about a scenario's scratch files) and the run is cancelled, so it is never
        carried on elsewhere (e.g. in the user's workspace)."""
        for request in await approvals.pending(self.store):
            if request.get("run_id") == run_id:
                with contextlib.suppress(LookupError, ValueError):  # decided meanwhile
                    await approvals.resolve(
                        self.store,
                        str(request["id"]),
                        "deny",
                        {"type": "system", "id": "scenario", "source": "scenario"},
                        "scenario: no decision scripted for this request",
                    )
        await engine.request_cancel(run_id)

    def _golden_path(self, rel: str, data: dict[str, Any]) -> Path | None:
        raw_expect = data.get("expect")
        golden = raw_expect.get("golden") if isinstance(raw_expect, dict) else None
        if not isinstance(golden, str) or not golden:
            return None
        path = (self.workspace / golden).resolve()
        if not path.is_relative_to(self.workspace) or path.is_relative_to(self.workspace / ".builderos"):
            raise ScenarioError(
                f"{rel}: expect.golden '{golden}' is outside the workspace",
                "give a path inside the workspace, e.g. scenarios/golden/NAME.trace.json",
            )
        return path

    async def _golden(
        self,
        result: ScenarioResult,
        rel: str,
        data: dict[str, Any],
        state: RunState,
        scratch: Path,
        update: bool,
    ) -> None:
        path = self._golden_path(rel, data)
        if path is None:
            return
        events = await load_events(self.store, state.id)
        paths = {str(scratch): "<workspace>", str(self.store.root): "<store>", str(self.workspace): "<root>"}
        actual = trace.render(trace.build_trace(events, paths))
        shown = path.relative_to(self.workspace).as_posix()
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(actual, encoding="utf-8")
            tmp.replace(path)
            result.golden_written = shown
            return
        if not path.is_file():
            result.failures.append(
                self._failure(
                    rel,
                    f"golden trace {shown} does not exist yet: run with --update-golden to write it",
                    ("expect", "golden"),
                )
            )
            return
        expected = path.read_text(encoding="utf-8")
        if expected != actual:
            result.diff = trace.unified(expected, actual, shown)
            changed = sum(
                1
                for line in result.diff.splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))
            )
            result.failures.append(
                self._failure(
                    rel,
                    f"the run's trace differs from golden trace {shown} ({changed} line(s)); "
                    "run with --update-golden if the change is intended",
                    ("expect", "golden"),
                )
            )

    def _failure(self, rel: str, message: str, key: tuple[str | int, ...]) -> dict[str, Any]:
        doc = self.ws.docs.get(rel)
        where = doc.lsp_range(doc.locator.key_span(key)) if doc is not None else ZERO_RANGE
        return {"message": message, "file": rel, "range": where}

    def _preflight_failures(self, result: ScenarioResult, exc: PreflightError) -> None:
        if not exc.diagnostics:
            result.failures.append(self._failure(result.file, f"{exc} ({exc.hint})", ("pipeline",)))
            return
        for file, d in exc.diagnostics:
            doc = self.ws.docs.get(file)
            where = doc.lsp_range(d.span) if doc is not None else ZERO_RANGE
            result.failures.append({"message": f"{d.code} {d.message}", "file": file, "range": where})
