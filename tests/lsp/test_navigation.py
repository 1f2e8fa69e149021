"""Definition, references and rename across files, with exact ranges."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

#: the tests of a module share one daemon (see conftest), so they share its event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")

FEATURE = "ship/feature.yaml"
SCENARIO = "scenarios/add-health.yaml"


def _where(lsp, locations: list[types.Location]) -> list[tuple[str, int, int, int, int]]:
    out = []
    for loc in locations:
        rel = unquote(loc.uri)[len(lsp.root.as_uri()) + 1 :]
        r = loc.range
        out.append((rel, r.start.line, r.start.character, r.end.line, r.end.character))
    return out


def _edits(lsp, edit: types.WorkspaceEdit | None) -> dict[str, list[tuple[int, int, int, int, str]]]:
    assert edit is not None and edit.changes is not None
    out = {}
    for uri, edits in edit.changes.items():
        rel = unquote(uri)[len(lsp.root.as_uri()) + 1 :]
        out[rel] = [
            (e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character, e.new_text)
            for e in edits
        ]
    return out


async def test_definition_across_files(lsp) -> None:
    await lsp.open(FEATURE)
    agent = await lsp.definition(FEATURE, lsp.pos(FEATURE, "agent: docwriter", offset=8))
    assert _where(lsp, agent) == [("agents/docwriter.yaml", 1, 6, 1, 15)]
    need = await lsp.definition(FEATURE, lsp.pos(FEATURE, "needs: [plan]", offset=9))
    assert _where(lsp, need) == [(FEATURE, 7, 8, 7, 12)]
    expression = await lsp.definition(FEATURE, lsp.pos(FEATURE, "steps.preview", offset=len("steps.p")))
    assert _where(lsp, expression) == [(FEATURE, 33, 8, 33, 15)]
    declared_output = await lsp.definition(FEATURE, lsp.pos(FEATURE, "outputs.text", offset=len("outputs.t")))
    assert _where(lsp, declared_output) == [(FEATURE, 10, 14, 10, 18)]
    on_id = await lsp.definition(FEATURE, lsp.pos(FEATURE, "id: plan", offset=5))
    assert _where(lsp, on_id) == [(FEATURE, 7, 8, 7, 12)]

    agent_file = "agents/docwriter.yaml"
    await lsp.open(agent_file)
    prompt = await lsp.definition(agent_file, lsp.pos(agent_file, "docwriter@~1.0", offset=2))
    assert _where(lsp, prompt) == [("prompts/docwriter.yaml", 1, 6, 1, 15)]
    pack = await lsp.definition(agent_file, lsp.pos(agent_file, "[company]", offset=2))
    assert _where(lsp, pack) == [("context/company.json", 1, 9, 1, 16)]

    builder = "agents/builder.yaml"
    await lsp.open(builder)
    profile = await lsp.definition(builder, lsp.pos(builder, "model: offline", offset=8))
    assert _where(lsp, profile) == [("builderos.yaml", 8, 4, 8, 11)]
    older = await lsp.change(builder, lsp.text(builder).replace("builder@^1.2", "builder@1.1.0"))
    assert "BOS022" not in [d.code for d in older]
    pinned = await lsp.definition(builder, lsp.pos(builder, "builder@1.1.0", offset=1))
    assert _where(lsp, pinned) == [("prompts/builder@1.1.0.yaml", 1, 6, 1, 13)]

    await lsp.open(SCENARIO)
    pipeline = await lsp.definition(SCENARIO, lsp.pos(SCENARIO, "pipeline: feature", offset=11))
    assert _where(lsp, pipeline) == [(FEATURE, 1, 6, 1, 13)]
    stub = await lsp.definition(SCENARIO, lsp.pos(SCENARIO, "{step: review", offset=8))
    assert _where(lsp, stub) == [(FEATURE, 24, 8, 24, 14)]

    nothing = await lsp.definition(FEATURE, types.Position(line=0, character=1))
    assert nothing == []


async def test_references_across_files(lsp) -> None:
    await lsp.open(FEATURE)
    at = lsp.pos(FEATURE, "agent: builder", offset=8)
    with_declaration = await lsp.references(FEATURE, at, declaration=True)
    assert _where(lsp, with_declaration) == [
        ("agents/builder.yaml", 1, 6, 1, 13),
        ("builderos.policy.yaml", 3, 2, 3, 9),
        (FEATURE, 8, 11, 8, 18),
        (FEATURE, 12, 11, 12, 18),
    ]
    without = await lsp.references(FEATURE, at, declaration=False)
    assert _where(lsp, without) == [
        ("builderos.policy.yaml", 3, 2, 3, 9),
        (FEATURE, 8, 11, 8, 18),
        (FEATURE, 12, 11, 12, 18),
    ]

    step = await lsp.references(FEATURE, lsp.pos(FEATURE, "id: plan", offset=5))
    assert _where(lsp, step) == [
        (SCENARIO, 7, 13, 7, 17),
        (SCENARIO, 23, 10, 23, 14),
        (FEATURE, 7, 8, 7, 12),
        (FEATURE, 13, 12, 13, 16),
        (FEATURE, 14, 56, 14, 60),
    ]
    # `test` is a step of hotfix too: the ids of another pipeline are not the same step
    test_step = await lsp.references(FEATURE, lsp.pos(FEATURE, "id: test", offset=5))
    assert {where[0] for where in _where(lsp, test_step)} == {FEATURE, SCENARIO}


async def test_rename_a_step_id(lsp) -> None:
    await lsp.open(FEATURE)
    at = lsp.pos(FEATURE, "needs: [plan]", offset=10)
    prepared = await lsp.prepare_rename(FEATURE, at)
    assert isinstance(prepared, types.PrepareRenamePlaceholder)
    assert prepared.placeholder == "plan"
    assert (prepared.range.start.line, prepared.range.start.character, prepared.range.end.character) == (
        13,
        12,
        16,
    )

    edit = await lsp.rename(FEATURE, at, "design")
    assert _edits(lsp, edit) == {
        FEATURE: [(7, 8, 7, 12, "design"), (13, 12, 13, 16, "design"), (14, 56, 14, 60, "design")],
        SCENARIO: [(7, 13, 7, 17, "design"), (23, 10, 23, 14, "design")],
    }
    renamed = lsp.apply(lsp.text(FEATURE), edit.changes[lsp.uri(FEATURE)])
    assert "id: design" in renamed and "needs: [design]" in renamed and "steps.design.outputs.text" in renamed
    diagnostics = await lsp.change(FEATURE, renamed)
    assert {d.code for d in diagnostics} == {"BOS041"}


async def test_rename_an_agent(lsp) -> None:
    rel = "agents/builder.yaml"
    await lsp.open(rel)
    edit = await lsp.rename(rel, lsp.pos(rel, "name: builder", offset=7), "maker")
    assert _edits(lsp, edit) == {
        rel: [(1, 6, 1, 13, "maker")],
        "builderos.policy.yaml": [(3, 2, 3, 9, "maker")],
        FEATURE: [(8, 11, 8, 18, "maker"), (12, 11, 12, 18, "maker")],
    }
    policy_uri = lsp.uri("builderos.policy.yaml")
    policy = lsp.apply((lsp.root / "builderos.policy.yaml").read_text(), edit.changes[policy_uri])
    assert policy.splitlines()[3] == "  maker:   {tools: [fs.read, fs.write, shell.run]}"

    # an inline agent of builderos.yaml, used by a pipeline that is open but not saved yet
    project = lsp.text("builderos.yaml") + "agents:\n  - {name: helper, role: Tester, tools: [fs.read]}\n"
    await lsp.open("builderos.yaml", project)
    extra = "ship/extra.yaml"
    await lsp.open(extra, "kind: pipeline\nname: extra\nsteps:\n  - id: check\n    agent: helper\n")
    edit = await lsp.rename(extra, lsp.pos(extra, "helper", offset=2), "aide")
    assert _edits(lsp, edit) == {
        "builderos.yaml": [(15, 11, 15, 17, "aide")],
        extra: [(4, 11, 4, 17, "aide")],
    }


async def test_rename_is_refused_clearly_elsewhere(lsp) -> None:
    await lsp.open(FEATURE)
    with pytest.raises(JsonRpcException) as refused:
        await lsp.prepare_rename(FEATURE, lsp.pos(FEATURE, "uses: git.pr", offset=7))
    assert refused.value.code == types.LSPErrorCodes.RequestFailed
    assert refused.value.message.startswith(
        "BuilderOS can rename step ids and agent names only, not an action"
    )
    with pytest.raises(JsonRpcException) as on_key:
        await lsp.prepare_rename(FEATURE, types.Position(line=0, character=1))
    assert "not this position" in on_key.value.message
    with pytest.raises(JsonRpcException) as bad_name:
        await lsp.rename(FEATURE, lsp.pos(FEATURE, "id: plan", offset=5), "two words")
    assert bad_name.value.message == (
        "'two words' is not a valid step name: use a letter or _ followed by letters, digits, _ or -"
    )
