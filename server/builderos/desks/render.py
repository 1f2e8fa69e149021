"""A desk's files with `${{ params.x }}` filled in, in contents and in file names.

Only interpolations that read `params` are the desk's: others (`${{ inputs.goal }}` in a pipeline the
desk ships) belong to the rendered file and are copied as written. Files that are not UTF-8 text are
copied byte for byte. A secret parameter is never rendered into a file: files are written to disk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from builderos.desks.catalog import DeskSource
from builderos.desks.errors import DeskError
from builderos.expr import ExprEvalError, ExprSyntaxError, find_interpolations, parse, references, to_text
from builderos.expr.evaluator import evaluate

SKIPPED_DIRS = frozenset({"__pycache__", ".git", "node_modules", ".mypy_cache", ".pytest_cache"})
#: Paths a desk may never write: the store and version control.
FORBIDDEN_TOP = frozenset({".builderos", ".git"})


@dataclass(frozen=True)
class RenderedFile:
    rel: str
    data: bytes
    executable: bool = False


def render_desk(src: DeskSource, params: Mapping[str, Any]) -> list[RenderedFile]:
    """Every file of the desk's template folder, rendered, sorted by path."""
    root = src.files_dir
    if not root.is_dir():
        raise DeskError(
            f"desk '{src.name}': its files folder {root} does not exist", "check 'files:' in desk.yaml"
        )
    secrets = {k for k, spec in src.desk.parameters.items() if spec.type == "secret"}
    context = {"params": dict(params)}
    out: list[RenderedFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            template_rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise DeskError(
                    f"desk '{src.name}': {template_rel} is a symbolic link", "desks hold plain files only"
                )
            rel = render_path(template_rel, context, secrets)
            raw = path.read_bytes()
            data = _render_bytes(raw, context, secrets, template_rel)
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
            out.append(RenderedFile(rel, data, executable))
    seen: dict[str, str] = {}
    for f in out:
        if f.rel in seen:
            raise DeskError(
                f"desk '{src.name}': two template files render to {f.rel}", "make the file names differ"
            )
        seen[f.rel] = f.rel
    return sorted(out, key=lambda f: f.rel)


def render_path(template_rel: str, context: Mapping[str, Any], secrets: set[str]) -> str:
    """A template path with each part rendered; the result must stay a plain relative path."""
    parts = []
    for part in PurePosixPath(template_rel).parts:
        rendered = render_text(part, context, secrets, template_rel) if "${{" in part else part
        if rendered in ("", ".", "..") or "/" in rendered or "\\" in rendered or "\x00" in rendered:
            raise DeskError(
                f"the file name {template_rel!r} renders to {rendered!r}, which is not a file name",
                "give the parameter a value that is a plain name",
            )
        parts.append(rendered)
    rel = "/".join(parts)
    if parts[0] in FORBIDDEN_TOP:
        raise DeskError(f"a desk may not write {rel}", f"{parts[0]}/ belongs to BuilderOS and git")
    return rel


def _render_bytes(raw: bytes, context: Mapping[str, Any], secrets: set[str], where: str) -> bytes:
    if b"\x00" in raw or b"${{" not in raw:
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return render_text(text, context, secrets, where).encode("utf-8")


def render_text(text: str, context: Mapping[str, Any], secrets: set[str], where: str) -> str:
    """Fill in the `params` interpolations of a text; leave the others as written."""
    pieces: list[str] = []
    pos = 0
    for interp in find_interpolations(text):
        if interp.error is not None:
            break
        try:
            expr = parse(interp.source)
        except ExprSyntaxError as exc:
            if "params" in interp.source:
                raise DeskError(f"{where}:{_line(text, interp.start)}: {exc.message}", exc.hint) from None
            continue
        roots = {r.root for r in references(expr)}
        if "params" not in roots:
            continue
        line = _line(text, interp.start)
        if roots != {"params"}:
            others = ", ".join(sorted(roots - {"params"}))
            raise DeskError(
                f"{where}:{line}: an expression mixes params with {others}",
                "keep the desk's ${{ params.x }} apart from expressions of the rendered file",
            )
        for ref in references(expr):
            if ref.parts and ref.parts[0] in secrets:
                raise DeskError(
                    f"{where}:{line}: parameter '{ref.parts[0]}' is secret and cannot be written into a file",
                    "read the secret from an environment variable at run time instead",
                )
        try:
            value = evaluate(expr, context)
        except ExprEvalError as exc:
            raise DeskError(f"{where}:{line}: {exc.message}", "check the expression") from None
        pieces.append(text[pos : interp.start])
        pieces.append(to_text(value))
        pos = interp.end
    pieces.append(text[pos:])
    return "".join(pieces)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
