"""Preflight: the validator decides whether a run may start (DESIGN §2.1), then the plan is compiled.

The files checked are the pipeline and everything it depends on (project, policy, agents, prompts,
the scenario); a run never starts with an error the editor would have shown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from builderos.diagnostics import Diagnostic
from builderos.engine.plan import Plan, compile_plan
from builderos.policy.redact import Redactor
from builderos.prompts.refs import parse_prompt_ref, resolve
from builderos.validate.api import validate_workspace
from builderos.workspace.index import DiskTexts, Workspace


class PreflightError(Exception):
    """The pipeline (or a file it needs) has errors; they are listed as the editor shows them."""

    def __init__(
        self, message: str, hint: str, diagnostics: list[tuple[str, Diagnostic]] | None = None
    ) -> None:
        super().__init__(message)
        self.hint = hint
        self.diagnostics = diagnostics or []


@dataclass(slots=True)
class Preflight:
    ws: Workspace
    plan: Plan
    policy: dict[str, Any] | None
    project: dict[str, Any]
    agents: dict[str, dict[str, Any]]
    scenario: dict[str, Any]
    redactor: Redactor
    scenario_inputs: dict[str, Any] = field(default_factory=dict)
    _memo: dict[tuple[str, str], Any] = field(default_factory=dict)  # per run: the same agent, many steps

    def prompt_for(self, agent_name: str) -> dict[str, Any] | None:
        key = ("prompt", agent_name)
        if key not in self._memo:
            self._memo[key] = self._prompt_for(agent_name)
        found: dict[str, Any] | None = self._memo[key]
        return found

    def _prompt_for(self, agent_name: str) -> dict[str, Any] | None:
        agent = self.agents.get(agent_name) or {}
        ref_text = agent.get("prompt")
        if not isinstance(ref_text, str):
            return None
        found = resolve(self.ws.symbols, parse_prompt_ref(ref_text))
        if found is None:
            return None
        doc = self.ws.docs.get(found.ref.path) or self.ws.snapshots.get(found.ref.path)
        text = doc.text if doc is not None else ""
        return {
            **found.ref.data,
            "_path": found.ref.path,
            "_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "_text": text,
        }

    def agent_provenance(self, agent_name: str) -> dict[str, Any]:
        key = ("provenance", agent_name)
        if key not in self._memo:
            self._memo[key] = self._agent_provenance(agent_name)
        return dict(self._memo[key])

    def _agent_provenance(self, agent_name: str) -> dict[str, Any]:
        agent = self.agents.get(agent_name) or {}
        prompt = self.prompt_for(agent_name)
        profile_name = agent.get("model") or self.ws.symbols.default_profile
        profile = self.ws.symbols.profiles.get(str(profile_name)) if profile_name else None
        data = profile.data if profile else {}
        return {
            "agent": agent_name,
            "role": agent.get("role"),
            "prompt": f"{prompt['name']}@{prompt['version']}" if prompt else None,
            "prompt_sha256": prompt["_sha256"] if prompt else None,
            "model_profile": profile_name,
            "provider": data.get("provider"),
            "model": data.get("model") or ("scripted" if data.get("provider") == "scripted" else None),
        }


def _errors(ws: Workspace, rels: list[str]) -> list[tuple[str, Diagnostic]]:
    results = validate_workspace(ws, rels)
    return [(rel, d) for rel, ds in results.items() for d in ds if d.severity == "error"]


def symbols_redactor(symbols: Any) -> Redactor:
    """The policy's secrets (env names, patterns) and the model profiles' key variables."""
    policy = dict(symbols.policy.data) if symbols.policy else None
    key_envs = [
        str(p.data.get("api_key_env")) for p in symbols.profiles.values() if p.data.get("api_key_env")
    ]
    return Redactor.from_policy(policy, key_envs)


def workspace_redactor(workspace: Path) -> Redactor:
    """The redactor of a workspace, for what reaches the store outside a run (approval comments)."""
    ws = Workspace(workspace)
    ws.scan()
    return symbols_redactor(ws.symbols)


#: The last few preflights that passed, by workspace, pipeline, scenario and the exact text of every
#: file read: a process that runs the same pipeline again (the daemon, a scenario suite) parses and
#: validates only when a file changed. Content, not mtimes, decides: an edit within the same clock
#: tick is still seen.
_PASSED: dict[tuple[str, str, str | None, DiskTexts], Preflight] = {}
PASSED_KEPT = 8
PASSED_MAX_CHARS = 4 * 1024 * 1024  # a larger workspace is parsed each time rather than held


def preflight(
    workspace: Path, pipeline: str, scenario: str | None = None, expected_sha: str | None = None
) -> Preflight:
    ws = Workspace(workspace)
    texts = ws.read_disk()
    key = (str(ws.root), pipeline, scenario, texts)
    passed = _PASSED.get(key)
    if passed is None:
        passed = _check(ws, texts, pipeline, scenario)
        if texts.size <= PASSED_MAX_CHARS:
            while len(_PASSED) >= PASSED_KEPT:
                del _PASSED[next(iter(_PASSED))]
            _PASSED[key] = passed
    if expected_sha is not None and passed.plan.sha256 != expected_sha:
        raise PreflightError(
            f"{passed.plan.path} changed since this run started",
            "restore the file to resume, or start a new run",
        )
    # the redactor reads secret values from the environment, which may have changed since
    return replace(passed, redactor=symbols_redactor(passed.ws.symbols), _memo={})


def _check(ws: Workspace, texts: DiskTexts, pipeline: str, scenario: str | None) -> Preflight:
    ws.scan(texts)
    symbols = ws.symbols
    refs = symbols.pipelines.get(pipeline)
    if not refs:
        known = ", ".join(sorted(symbols.pipelines)) or "none"
        raise PreflightError(f"unknown pipeline '{pipeline}'", f"pipelines in this workspace: {known}")
    if len(refs) > 1:
        raise PreflightError(
            f"pipeline '{pipeline}' is defined twice ({refs[0].path}, {refs[1].path})",
            "give each pipeline a unique name",
        )
    path = refs[0].path
    doc = ws.docs[path]
    scenario_data: dict[str, Any] = {}
    rels = [path]
    if scenario is not None:
        srefs = symbols.scenarios.get(scenario)
        if not srefs:
            known = ", ".join(sorted(symbols.scenarios)) or "none"
            raise PreflightError(f"unknown scenario '{scenario}'", f"scenarios in this workspace: {known}")
        scenario_data = dict(srefs[0].data)
        rels.append(srefs[0].path)
        if scenario_data.get("pipeline") != pipeline:
            raise PreflightError(
                f"scenario '{scenario}' is for pipeline '{scenario_data.get('pipeline')}'",
                f"run it with that pipeline, or pick a scenario of '{pipeline}'",
            )
    rels += [d.path for d in ws.documents() if d.kind in ("project", "policy", "agent", "prompt")]
    errors = _errors(ws, rels)
    if errors:
        first_rel, first = errors[0]
        raise PreflightError(
            f"{len(errors)} error(s) stop this run; first: {first_rel}:{first.span.start_line + 1}:"
            f"{first.span.start_col + 1}: {first.code} {first.message}",
            "fix them (run 'builderos validate' to see all)",
            errors,
        )
    plan = compile_plan(doc.data, path, doc.text)
    project = dict(symbols.project.data) if symbols.project else {}
    policy = dict(symbols.policy.data) if symbols.policy else None
    agents = {name: dict(r[0].data) for name, r in symbols.agents.items()}
    redactor = symbols_redactor(symbols)
    raw_inputs = scenario_data.get("inputs")
    inputs: dict[str, Any] = dict(raw_inputs) if isinstance(raw_inputs, dict) else {}
    return Preflight(ws, plan, policy, project, agents, scenario_data, redactor, inputs)
