"""Entry points of the one validator: a document, a workspace, or a text (for benchmarks and tools)."""

from __future__ import annotations

from pathlib import Path

from builderos.diagnostics import Diagnostic
from builderos.validate.context import Context, StepCache
from builderos.validate.kinds import check_kind
from builderos.validate.pipeline import check_pipeline
from builderos.validate.report import Report
from builderos.workspace.index import Workspace
from builderos.workspace.yamlload import gc_paused


def validate_document(ws: Workspace, rel: str, ctx: Context | None = None) -> list[Diagnostic]:
    """All diagnostics of one file: load findings, then (if it parsed) schema and semantic rules."""
    doc = ws.docs.get(rel)
    if doc is None or doc.kind is None:
        return []
    found = list(doc.loaded.diagnostics)
    if not doc.loaded.ok:
        return found
    ctx = ctx or Context.of(ws)
    report = Report(ws, doc)
    with gc_paused():  # rules allocate many small objects; collections over a large heap dominate
        try:
            if doc.kind == "pipeline":
                check_pipeline(report, ctx)
            else:
                check_kind(report, ctx, doc.kind)
        finally:
            found.extend(report.diagnostics())
    found.sort(key=lambda d: (d.span.start_line, d.span.start_col, d.code))
    return found


def validate_workspace(ws: Workspace, only: list[str] | None = None) -> dict[str, list[Diagnostic]]:
    """Diagnostics of every file (or of `only`), sharing one context."""
    ctx = Context.of(ws)
    paths = only if only is not None else sorted(ws.docs)
    return {rel: validate_document(ws, rel, ctx) for rel in paths if rel in ws.docs}


def _nearest_root(path: Path) -> Path:
    """The nearest folder upward holding builderos.yaml, else the folder above a kind folder."""
    folder = path.absolute().parent
    for candidate in (folder, *folder.parents):
        if (candidate / "builderos.yaml").is_file() or (candidate / "builderos.yml").is_file():
            return candidate
    if folder.name in ("agents", "prompts", "ship", "scenarios", "evals", "context"):
        return folder.parent
    return folder


def validate_text(
    path: str, text: str, workspace_root: Path | str | None = None, step_cache: StepCache | None = None
) -> list[Diagnostic]:
    """Validate `text` as the file `path` of a workspace (loaded from disk when a root is given)."""
    root = Path(workspace_root) if workspace_root is not None else _nearest_root(Path(path))
    ws = Workspace(root)
    if workspace_root is not None:
        ws.scan()
    rel = ws.rel(path) or Path(path).name
    ws.set_text(rel, text, None)
    return validate_document(ws, rel, Context.of(ws, step_cache))
