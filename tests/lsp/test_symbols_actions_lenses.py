"""Document symbols, quick fixes and code lenses (with the commands behind them)."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from builderos import protocol

#: the tests of a module share one daemon (see conftest), so they share its event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")

FEATURE = "ship/feature.yaml"


def _r(r: types.Range) -> tuple[int, int, int, int]:
    return (r.start.line, r.start.character, r.end.line, r.end.character)


async def test_document_symbols_are_hierarchical(lsp) -> None:
    await lsp.open(FEATURE)
    (pipeline,) = await lsp.symbols(FEATURE)
    assert (pipeline.name, pipeline.kind) == ("feature", types.SymbolKind.Module)
    assert _r(pipeline.range) == (0, 0, 42, 0)
    assert _r(pipeline.selection_range) == (1, 6, 1, 13)
    children = pipeline.children or []
    assert [(c.name, c.kind, c.detail) for c in children] == [
        ("goal", types.SymbolKind.Variable, "string"),
        ("plan", types.SymbolKind.Function, "agent: builder"),
        ("generate", types.SymbolKind.Function, "agent: builder"),
        ("test", types.SymbolKind.Function, "run: pytest -q"),
        ("docs", types.SymbolKind.Function, "agent: docwriter"),
        ("review", types.SymbolKind.Function, "agent: reviewer"),
        ("pr", types.SymbolKind.Function, "uses: git.pr"),
        ("preview", types.SymbolKind.Function, "uses: deploy"),
        ("verify", types.SymbolKind.Function, "uses: http.check"),
    ]
    plan = children[1]
    assert _r(plan.range) == (7, 4, 10, 31)
    assert _r(plan.selection_range) == (7, 8, 7, 12)

    await lsp.open("builderos.yaml")
    (project,) = await lsp.symbols("builderos.yaml")
    assert project.name == "shop" and project.kind == types.SymbolKind.Package
    assert [(c.name, c.detail, _r(c.selection_range)) for c in project.children or []] == [
        ("offline", "scripted", (8, 4, 8, 11)),
        ("local", "openai", (9, 4, 9, 9)),
        ("claude", "anthropic", (10, 4, 10, 10)),
    ]
    for rel, expected in [
        ("agents/builder.yaml", ("builder", types.SymbolKind.Class, "Builder · builder@^1.2")),
        ("prompts/builder.yaml", ("builder@1.2.0", types.SymbolKind.Interface, None)),
        ("scenarios/add-health.yaml", ("add-health", types.SymbolKind.Event, "pipeline feature")),
        ("evals/builder-basic.yaml", ("builder-basic", types.SymbolKind.Event, "prompt builder@1.2.0")),
    ]:
        (symbol,) = await lsp.symbols(rel)
        assert (symbol.name, symbol.kind, symbol.detail if expected[2] else None) == expected


async def test_every_quick_fix(lsp) -> None:
    text = lsp.text(FEATURE)
    text = text.replace("    agent: builder\n    needs: [plan]", "    agent: 'buidler'\n    needs: [plan]")
    text = text.replace("backoff: exponential", "backoff: exponentail").replace(
        "    timeout: 10m", "    timeot: 10m"
    )
    text = text.replace("  - id: test\n", "  - \n")  # the step loses its id
    text = text.replace("retries: {max: 2, ", "retries: {")
    text = text.replace("    with: {env: stage}\n", "")
    diagnostics = await lsp.open(FEATURE, text)
    fixable = [d for d in diagnostics if d.data and ("replacement" in d.data or "missing_key" in d.data)]
    actions = await lsp.code_actions(FEATURE, fixable)
    got = []
    for action in actions:
        assert action.kind == types.CodeActionKind.QuickFix
        assert action.diagnostics and action.edit and action.edit.changes
        (edits,) = action.edit.changes.values()
        got += [(action.title, _r(e.range), e.new_text) for e in edits]
    assert got == [
        ("Change to 'builder'", (12, 11, 12, 20), "'builder'"),
        ("Add missing key 'max'", (15, 63, 15, 63), ", max: "),
        ("Change to 'exponential'", (15, 23, 15, 34), "exponential"),
        ("Change to 'timeout'", (16, 4, 16, 10), "timeout"),
        ("Add missing key 'id'", (19, 66, 19, 66), "\n    id: "),
        ("Add missing key 'with.env'", (35, 15, 35, 15), "\n    with:\n      env: "),
    ]
    # all fixes at once (as an editor's "fix all" would), then fill in the values of the added keys
    fixed = lsp.apply(text, [e for a in actions for e in next(iter(a.edit.changes.values()))])
    assert (
        "    retries: {backoff: exponential, initial: 1s, max_delay: 30s, max: }\n    timeout: 10m\n" in fixed
    )
    assert "    agent: 'builder'\n" in fixed
    assert "    run: pytest -q                    # a command step (shell.run)\n    id: \n" in fixed
    assert "    uses: deploy\n    needs: [pr]\n    with:\n      env: \n" in fixed
    fixed = (
        fixed.replace("max: }", "max: 2}")
        .replace("    id: \n", "    id: test\n")
        .replace("env: \n", "env: stage\n")
    )
    after = await lsp.change(FEATURE, fixed)
    assert {d.code for d in after} == {"BOS041"}


async def test_code_lenses_and_their_commands(lsp) -> None:
    await lsp.open(FEATURE)
    lenses = await lsp.code_lenses(FEATURE)
    assert [(lens.command.title, lens.command.command, _r(lens.range)) for lens in lenses] == [
        ("▶ Run", protocol.CMD_RUN_PIPELINE, (1, 0, 1, 4)),
        ("Approval plan", protocol.CMD_APPROVAL_PLAN, (1, 0, 1, 4)),
    ]
    assert list(lenses[0].command.arguments) == [{"uri": lsp.uri(FEATURE), "pipeline": "feature"}]

    plan = await lsp.execute(lenses[1].command)
    assert [(p["step"], p["rules"]) for p in plan] == [
        ("plan", ["fs.write by builder: approvals[0] {action: fs.write}"]),
        ("generate", ["fs.write by builder: approvals[0] {action: fs.write}"]),
        ("docs", ["fs.write by docwriter: approvals[0] {action: fs.write}"]),
        ("pr", ["gate: approval on this step"]),
    ]
    assert plan[3]["range"] == {"start": {"line": 29, "character": 8}, "end": {"line": 29, "character": 10}}

    with pytest.raises(JsonRpcException) as run:  # ▶ Run starts runs; this pipeline needs its input
        await lsp.execute(lenses[0].command)
    assert "missing required input 'goal'" in run.value.message

    expected = {
        "scenarios/add-health.yaml": [
            ("▶ Run scenario", protocol.CMD_RUN_SCENARIO),
            ("Update golden", protocol.CMD_UPDATE_GOLDEN),
        ],
        "evals/builder-basic.yaml": [("▶ Run eval", protocol.CMD_RUN_EVAL)],
        "prompts/builder.yaml": [("Diff with previous version", protocol.CMD_PROMPT_DIFF)],
        "prompts/tester.yaml": [],  # no older version to compare with
        "agents/builder.yaml": [],
    }
    for rel, titles in expected.items():
        found = await lsp.code_lenses(rel)
        assert [(lens.command.title, lens.command.command) for lens in found] == titles
        for lens in found:
            if lens.command.command == protocol.CMD_RUN_EVAL:  # implemented (tests/evals)
                answer = await lsp.execute(lens.command)
                assert [r["suite"] for r in answer["results"]] == ["builder-basic"]
                continue
            if lens.command.command in (protocol.CMD_RUN_SCENARIO, protocol.CMD_UPDATE_GOLDEN):
                answer = await lsp.execute(lens.command)  # implemented (tests/scenarios)
                assert [r["name"] for r in answer["results"]] == ["add-health"]
                continue
            if lens.command.command == protocol.CMD_PROMPT_DIFF:  # implemented (tests/prompts)
                answer = await lsp.execute(lens.command)
                assert (answer["name"], answer["to"]) == ("builder", "1.2.0")
                continue
            with pytest.raises(JsonRpcException) as refused:
                await lsp.execute(lens.command)
            assert "not available yet" in refused.value.message
    (diff,) = await lsp.code_lenses("prompts/builder.yaml")
    assert list(diff.command.arguments) == [
        {"uri": lsp.uri("prompts/builder.yaml"), "prompt": "builder", "version": "1.2.0", "previous": "1.1.0"}
    ]
    assert _r(diff.range) == (2, 0, 2, 7)
