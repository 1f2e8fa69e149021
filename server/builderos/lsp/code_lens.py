"""Code lenses (SPEC §9) and the commands behind them.

Pipelines get "▶ Run" and "Approval plan", scenarios "▶ Run scenario" and "Update golden", evals
"▶ Run eval", prompts with an older version "Diff with previous version". The approval plan is the
validator's BOS041 findings (the same rules the run gate uses), so it works without the engine; the
other commands need the engine and say so with a clear error instead of doing nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.diagnostics import Span
from builderos.lsp.lazy import validate_document
from builderos.lsp.navigation import View, in_view, scalar_span
from builderos.lsp.positions import to_range
from builderos.lsp.server import BuilderOSServer
from builderos.prompts.refs import sort_versions
from builderos.workspace.document import Document

log = logging.getLogger("builderos.lsp")

#: Commands that need the run engine, and what to use meanwhile.
ENGINE_COMMANDS = {
    protocol.CMD_RUN_PIPELINE: "builderos run PIPELINE",
    protocol.CMD_RUN_SCENARIO: "builderos scenario run NAME",
    protocol.CMD_UPDATE_GOLDEN: "builderos scenario run NAME --update-golden",
    protocol.CMD_RUN_EVAL: "builderos eval SUITE",
    protocol.CMD_PROMPT_DIFF: "builderos prompt diff NAME V1 V2",
}
NOT_AVAILABLE = "runs are not available yet from the editor in this version of BuilderOS"


class NotAvailable(JsonRpcException):
    """A command the editor offers before the daemon can do it: a clear error, never silence."""

    CODE = -32001
    MESSAGE = NOT_AVAILABLE


_STEP_IN_MESSAGE = re.compile(r"step '([^']*)'")


def _key_span(doc: Document, key: str) -> Span:
    found = scalar_span(doc, (key,), key=True)
    return found[0] if found is not None else Span(0, 0, 0, 0)


def _lens(view: View, span: Span, title: str, command: str, argument: dict[str, Any]) -> types.CodeLens:
    return types.CodeLens(
        range=view.range(span), command=types.Command(title=title, command=command, arguments=[argument])
    )


def code_lenses(view: View) -> list[types.CodeLens]:
    doc = view.doc
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return []
    name: str = data["name"]
    at = _key_span(doc, "name")
    base = {"uri": view.uri}
    if doc.kind == "pipeline":
        arg = {**base, "pipeline": name}
        return [
            _lens(view, at, "▶ Run", protocol.CMD_RUN_PIPELINE, arg),
            _lens(view, at, "Approval plan", protocol.CMD_APPROVAL_PLAN, arg),
        ]
    if doc.kind == "scenario":
        arg = {**base, "scenario": name}
        return [
            _lens(view, at, "▶ Run scenario", protocol.CMD_RUN_SCENARIO, arg),
            _lens(view, at, "Update golden", protocol.CMD_UPDATE_GOLDEN, arg),
        ]
    if doc.kind == "eval":
        return [_lens(view, at, "▶ Run eval", protocol.CMD_RUN_EVAL, {**base, "suite": name})]
    if doc.kind == "prompt":
        version = str(data.get("version", ""))
        previous = previous_version(view, name, version)
        if previous is None:
            return []
        arg = {**base, "prompt": name, "version": version, "previous": previous}
        return [
            _lens(
                view, _key_span(doc, "version"), "Diff with previous version", protocol.CMD_PROMPT_DIFF, arg
            )
        ]
    return []


def previous_version(view: View, name: str, version: str) -> str | None:
    """The highest version of the prompt below `version` that exists (as a file or a snapshot)."""
    known = sort_versions([v.version for v in view.ws.symbols.prompts.get(name, [])])
    if version not in known:
        return None
    older = known[known.index(version) + 1 :]
    return older[0] if older else None


# -- commands ----------------------------------------------------------------------------------


def _pipeline_rel(ls: BuilderOSServer, args: tuple[Any, ...]) -> str | None:
    """The pipeline file a command is about: `{uri}`/`{pipeline}` argument, or a bare uri or name."""
    first = args[0] if args else None
    uri = first.get("uri") if isinstance(first, dict) else first if isinstance(first, str) else None
    name = first.get("pipeline") if isinstance(first, dict) else first if isinstance(first, str) else None
    ws = ls.index
    if ws is None:
        return None
    if isinstance(uri, str) and uri.startswith("file:"):
        rel = ls.rel_of(uri)
        if rel is not None and rel in ws.docs and ws.docs[rel].kind == "pipeline":
            return rel
    refs = ws.symbols.pipelines.get(name) if isinstance(name, str) else None
    return refs[0].path if refs else None


def approval_plan(ls: BuilderOSServer, rel: str, encoding: str) -> list[dict[str, Any]]:
    """The steps that will stop for approval: `[{step, rules, range}]`, from the BOS041 findings."""
    ws = ls.index
    if ws is None or rel not in ws.docs:
        return []
    doc = ws.docs[rel]
    ids = _step_id_spans(doc)
    plan: list[dict[str, Any]] = []
    for d in validate_document(ws, rel):
        if d.code != "BOS041":
            continue
        step = ids.get(d.span)
        if step is None:
            m = _STEP_IN_MESSAGE.search(d.message)
            step = m.group(1) if m else "?"
        rules = d.data.get("rules")
        lsp_range = to_range(doc, d.span, encoding)
        plan.append(
            {
                "step": step,
                "rules": list(rules) if isinstance(rules, list) else [],
                "range": {
                    "start": {"line": lsp_range.start.line, "character": lsp_range.start.character},
                    "end": {"line": lsp_range.end.line, "character": lsp_range.end.character},
                },
            }
        )
    return plan


def _step_id_spans(doc: Document) -> dict[Span, str]:
    steps = doc.data.get("steps") if isinstance(doc.data, dict) else None
    out: dict[Span, str] = {}
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and isinstance(step.get("id"), str):
            out[doc.locator.value_span(("steps", i, "id"))] = step["id"]
    return out


def setup(server: BuilderOSServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def on_code_lens(ls: BuilderOSServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        return await in_view(ls, params.text_document.uri, code_lenses, [], "codeLens")

    @server.command(protocol.CMD_APPROVAL_PLAN)
    async def on_approval_plan(ls: BuilderOSServer, *args: Any) -> list[dict[str, Any]]:
        encoding = ls.encoding
        try:

            def work() -> list[dict[str, Any]]:
                rel = _pipeline_rel(ls, args)
                return [] if rel is None else approval_plan(ls, rel, encoding)

            return await ls.on_worker(work)
        except Exception:
            log.exception("approval plan failed")
            return []

    taken = server.protocol.fm.commands
    for command, instead in ENGINE_COMMANDS.items():
        if command not in taken:  # a feature that can really run it (registered earlier) wins
            _register_engine_command(server, command, instead)


def _register_engine_command(server: BuilderOSServer, command: str, instead: str) -> None:
    @server.command(command)
    def handler(ls: BuilderOSServer, *args: Any) -> None:
        raise NotAvailable(message=f"{command}: {NOT_AVAILABLE}; use `{instead}` in a terminal")
