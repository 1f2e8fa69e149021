"""Quick fixes for the diagnostics that carry what the fix needs in their `data`.

`replacement` ("did you mean") replaces the diagnostic's range; `missing_key` adds the key to the
mapping the diagnostic points at, on a new line at that mapping's indentation (inside the braces of
a flow mapping). The fix reads the file as the editor has it, so it lands where the user sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from lsprotocol import types

from builderos.diagnostics import Span
from builderos.lsp.navigation import View, content_end, in_view
from builderos.lsp.server import BuilderOSServer
from builderos.workspace.document import Document


def _nodes(doc: Document) -> Iterator[tuple[yaml.Node, int]]:
    """Every node of the document with its line offset (chunk-parsed steps have their own)."""
    roots: list[tuple[yaml.Node, int]] = []
    if doc.locator.root is not None:
        roots.append((doc.locator.root, 0))
    roots += doc.locator.steps or []
    stack = list(reversed(roots))
    while stack:
        node, offset = stack.pop()
        yield node, offset
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.append((value, offset))
                stack.append((key, offset))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, offset) for item in reversed(node.value))


def _start(node: yaml.Node, offset: int) -> tuple[int, int]:
    return node.start_mark.line + offset, node.start_mark.column


def target_mapping(doc: Document, line: int, col: int, dotted: bool) -> tuple[yaml.MappingNode, int] | None:
    """The mapping a missing-key diagnostic at (line, col) is about.

    Its first key is there (a "head" range), or the mapping itself starts there; a scalar there
    (`uses: deploy` for a missing `with.env`) means its parent mapping, for dotted keys only.
    """
    at = (line, col)
    for node, offset in _nodes(doc):
        if not isinstance(node, yaml.MappingNode):
            continue
        if _start(node, offset) == at or (node.value and _start(node.value[0][0], offset) == at):
            return node, offset
        if dotted:
            for _key, value in node.value:
                if isinstance(value, yaml.ScalarNode) and _start(value, offset) == at:
                    return node, offset
    return None


def insert_key(doc: Document, mapping: yaml.MappingNode, offset: int, key: str) -> tuple[Span, str] | None:
    """Where and what to insert so that `key` (maybe dotted: `with.url`) appears in the mapping."""
    first, *rest = key.split(".")
    for key_node, value in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == first and rest:
            if isinstance(value, yaml.MappingNode):
                return insert_key(doc, value, offset, ".".join(rest))
            return None
    if mapping.flow_style:
        end = (mapping.end_mark.line + offset, mapping.end_mark.column - 1)
        text = f"{first}: " + ("{" + ".".join(rest) + ": }" if rest else "")
        return Span(*end, *end), (", " if mapping.value else "") + text
    if not mapping.value:
        return None
    indent = mapping.value[0][0].start_mark.column
    line = content_end(doc.lines, mapping, offset)[0]
    col = len(doc.lines[line])
    pad = " " * indent
    text = (
        f"\n{pad}{first}:" + "".join(f"\n{pad}{'  ' * (i + 1)}{part}:" for i, part in enumerate(rest)) + " "
    )
    return Span(line, col, line, col), text


def _quoted(doc: Document, span: Span) -> str:
    """The quote around a range's text, so a replacement keeps the user's quoting."""
    if span.start_line != span.end_line or span.start_line >= len(doc.lines):
        return ""
    text = doc.lines[span.start_line][span.start_col : span.end_col]
    return text[0] if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0] else ""


def quick_fixes(view: View, params: types.CodeActionParams) -> list[types.CodeAction]:
    actions: list[types.CodeAction] = []
    for diag in params.context.diagnostics:
        data: Any = diag.data
        if diag.source != "builderos" or not isinstance(data, dict):
            continue
        start = view.position(diag.range.start)
        end = view.position(diag.range.end)
        replacement = data.get("replacement")
        if isinstance(replacement, str) and replacement:
            quote = _quoted(view.doc, Span(*start, *end))
            edit = types.TextEdit(range=diag.range, new_text=f"{quote}{replacement}{quote}")
            actions.append(_action(view, f"Change to '{replacement}'", diag, edit, preferred=True))
        missing = data.get("missing_key")
        if isinstance(missing, str) and missing:
            found = target_mapping(view.doc, *start, dotted="." in missing)
            insert = insert_key(view.doc, *found, missing) if found is not None else None
            if insert is not None:
                span, text = insert
                edit = types.TextEdit(range=view.range(span), new_text=text)
                actions.append(_action(view, f"Add missing key '{missing}'", diag, edit))
    return actions


def _action(
    view: View, title: str, diag: types.Diagnostic, edit: types.TextEdit, *, preferred: bool = False
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diag],
        is_preferred=preferred or None,
        edit=types.WorkspaceEdit(changes={view.uri: [edit]}),
    )


def setup(server: BuilderOSServer) -> None:
    options = types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)
    async def on_code_action(ls: BuilderOSServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return await in_view(ls, params.text_document.uri, lambda v: quick_fixes(v, params), [], "codeAction")
