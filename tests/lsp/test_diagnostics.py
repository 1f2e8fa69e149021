"""Diagnostics pushed by the daemon: on open, on edit, on close, on disk changes, with UTF-16 columns."""

from __future__ import annotations

import os

import pytest
from lsprotocol import types

#: the tests of a module share one daemon (see conftest), so they share its event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")


def _codes(diagnostics: list[types.Diagnostic]) -> list[str]:
    return [str(d.code) for d in diagnostics]


def _rng(d: types.Diagnostic) -> tuple[int, int, int, int]:
    r = d.range
    return (r.start.line, r.start.character, r.end.line, r.end.character)


async def test_open_edit_fix_close(lsp) -> None:
    rel = "ship/feature.yaml"
    opened = await lsp.open(rel)
    assert "BOS020" not in _codes(opened)
    assert set(_codes(opened)) == {"BOS041"}  # the approval plan, as information

    broken = lsp.text(rel).replace(
        "    agent: builder\n    needs: [plan]", "    agent: buidler\n    needs: [plan]"
    )
    edited = await lsp.change(rel, broken)
    unknown = [d for d in edited if d.code == "BOS020"]
    assert len(unknown) == 1
    d = unknown[0]
    assert _rng(d) == (12, 11, 12, 18)
    assert d.severity == types.DiagnosticSeverity.Error
    assert d.source == "builderos"
    assert d.message.startswith("unknown agent 'buidler': did you mean 'builder'?")
    assert d.data["replacement"] == "builder"

    fixed = await lsp.change(rel, broken.replace("agent: buidler", "agent: builder"))
    assert "BOS020" not in _codes(fixed)

    await lsp.change(rel, broken)
    closed = await lsp.close(rel)  # the unsaved edit is gone: the disk content is checked again
    assert "BOS020" not in _codes(closed)


async def test_deleting_an_agent_on_disk_breaks_the_pipeline(lsp) -> None:
    """No LSP notification at all: the daemon's own watcher sees the file go and come back."""
    rel = "ship/feature.yaml"
    await lsp.open(rel)
    agent = lsp.root / "agents" / "builder.yaml"
    content = agent.read_bytes()
    mark = len(lsp.client.published)
    os.remove(agent)
    try:
        diagnostics = await lsp.wait_published(rel, lambda p: "BOS020" in _codes(p.diagnostics), since=mark)
    finally:
        mark = len(lsp.client.published)
        agent.write_bytes(content)  # the other tests of this module share the workspace
    unknown = [d for d in diagnostics if d.code == "BOS020"]
    assert [_rng(d) for d in unknown] == [(8, 11, 8, 18), (12, 11, 12, 18)]
    assert all(d.message.startswith("unknown agent 'builder'") for d in unknown)

    restored = await lsp.wait_published(rel, lambda p: "BOS020" not in _codes(p.diagnostics), since=mark)
    assert "BOS020" not in _codes(restored)


async def test_utf16_columns_after_emoji_and_cjk(lsp) -> None:
    rel = "ship/intl.yaml"
    line = '  - {id: hello, description: "🚀 デプロイ 计划 😀", agent: buidler}'
    text = f"kind: pipeline\nname: intl\nsteps:\n{line}\n"
    diagnostics = await lsp.open(rel, text)
    unknown = [d for d in diagnostics if d.code == "BOS020"]
    assert len(unknown) == 1
    start = line.index("buidler")
    # two emoji outside the BMP count twice in UTF-16
    assert start == 51 and lsp.utf16(line[:start]) == 53
    assert _rng(unknown[0]) == (3, 53, 3, 60)

    hover = await lsp.hover(rel, types.Position(line=3, character=55))
    assert hover is not None and hover.range is not None
    assert (hover.range.start.character, hover.range.end.character) == (53, 60)
    assert hover.contents.value == "**agent `buidler`** — unknown agent"
