"""`builderos validate`: the editor's diagnostics, printed for people or as JSON for scripts and CI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.diagnostics import Diagnostic
from builderos.validate.api import validate_workspace
from builderos.workspace.index import Workspace


def add_validate(sub: Any) -> None:
    p = sub.add_parser("validate", help="check BuilderOS files (exit 0 clean, 1 errors, 2 usage error)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the whole workspace)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_workspace_option(p)
    p.set_defaults(handler=run_validate)


def _selected(ws: Workspace, paths: list[str]) -> list[str] | None:
    """Workspace-relative files named on the command line (folders expand), or None for all."""
    if not paths:
        return None
    chosen: list[str] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists() and not p.is_absolute() and (ws.root / p).exists():
            p = ws.root / p  # relative to the workspace given with --workspace
        p = p.absolute()  # otherwise relative to where the command runs
        if not p.exists():
            raise UserError(f"'{raw}' does not exist", "check the path")
        rel = ws.rel(p)
        if rel is None:
            raise UserError(
                f"'{raw}' is outside the workspace {ws.root}", "pass --workspace for its workspace"
            )
        if p.is_dir():
            prefix = "" if rel == "." else rel + "/"
            chosen.extend(r for r in sorted(ws.docs) if r.startswith(prefix))
            continue
        if not os.access(p, os.R_OK):
            raise UserError(f"cannot read '{raw}'", "check the file's permissions")
        if rel not in ws.docs:
            doc = ws.load_from_disk(rel)
            if doc is None:
                raise UserError(
                    f"'{raw}' is not a BuilderOS file",
                    "BuilderOS files live in agents/, prompts/, ship/, scenarios/, evals/, context/ "
                    "or have a top-level 'kind:'",
                )
        chosen.append(rel)
    return chosen


def _start_for(paths: list[str]) -> Path | None:
    if not paths:
        return None
    first = Path(paths[0]).resolve()
    return first if first.is_dir() else first.parent


def run_validate(args: argparse.Namespace) -> int:
    root = find_workspace(args.workspace, _start_for(args.paths))
    ws = Workspace(root)
    try:
        ws.scan()
    except OSError as exc:
        raise UserError(f"cannot read the workspace: {exc.strerror or exc}", "check permissions") from None
    selected = _selected(ws, list(args.paths))
    results = validate_workspace(ws, selected)
    if args.format == "json":
        print(json.dumps(_as_json(ws, results), ensure_ascii=False))
    else:
        _print_text(results)
    errors = sum(1 for ds in results.values() for d in ds if d.severity == "error")
    return EXIT_FAILED if errors else EXIT_OK


def _as_json(ws: Workspace, results: dict[str, list[Diagnostic]]) -> dict[str, Any]:
    out = []
    for rel, diagnostics in results.items():
        doc = ws.docs[rel]
        for d in diagnostics:
            out.append(
                {
                    "file": rel,
                    "code": d.code,
                    "severity": d.severity,
                    "message": d.full_message,
                    "range": doc.lsp_range(d.span),
                }
            )
    return {"diagnostics": out, "summary": _summary(results)}


def _summary(results: dict[str, list[Diagnostic]]) -> dict[str, int]:
    all_diags = [d for ds in results.values() for d in ds]
    return {
        "files": len(results),
        "errors": sum(1 for d in all_diags if d.severity == "error"),
        "warnings": sum(1 for d in all_diags if d.severity == "warning"),
    }


def _print_text(results: dict[str, list[Diagnostic]]) -> None:
    for rel, diagnostics in results.items():
        for d in diagnostics:
            line, col = d.span.start_line + 1, d.span.start_col + 1
            print(f"{rel}:{line}:{col}: {d.severity} {d.code} {d.full_message}")
    s = _summary(results)
    verdict = (
        "clean"
        if not s["errors"] and not s["warnings"]
        else f"{s['errors']} errors, {s['warnings']} warnings"
    )
    print(f"{s['files']} files checked: {verdict}", file=sys.stdout)
