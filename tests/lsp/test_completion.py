"""Completion: keys, enum values, references and `${{ }}` paths, also in a file that does not parse."""

from __future__ import annotations

import pytest
from lsprotocol import types

#: the tests of a module share one daemon (see conftest), so they share its event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")

FEATURE = "ship/feature.yaml"


def _labels(items: list[types.CompletionItem]) -> list[str]:
    return [i.label for i in items]


def _edit_range(item: types.CompletionItem) -> tuple[int, int, int, int]:
    assert isinstance(item.text_edit, types.TextEdit)
    r = item.text_edit.range
    return (r.start.line, r.start.character, r.end.line, r.end.character)


async def test_step_keys_enum_values_agents_and_needs(lsp) -> None:
    text = lsp.text(FEATURE).replace("    timeout: 10m\n", "    timeout: 10m\n    \n")
    text = text.replace("    agent: docwriter\n", "    agent: do\n")
    text = text.replace("backoff: exponential", "backoff: ")
    text = text.replace("needs: [test, docs]", "needs: [test, ]")
    await lsp.open(FEATURE, text)

    # keys of a step that are not written yet, each inserting `key: ` with the field's documentation
    keys = await lsp.completion(FEATURE, types.Position(line=17, character=4))
    assert _labels(keys) == [
        "name",
        "description",
        "run",
        "uses",
        "env",
        "if",
        "gate",
        "on_failure",
        "outputs",
        "continue_on_error",
    ]
    gate = next(i for i in keys if i.label == "gate")
    assert isinstance(gate.text_edit, types.TextEdit) and gate.text_edit.new_text == "gate: "
    assert gate.insert_text_format == types.InsertTextFormat.Snippet
    assert _edit_range(gate) == (17, 4, 17, 4)
    assert isinstance(gate.documentation, types.MarkupContent)
    assert gate.documentation.value == (
        "`approval` makes the run wait for a human before this step starts.\n\nExamples: `approval`"
    )

    # enum values of a Literal, inside a flow mapping
    backoff = await lsp.completion(FEATURE, lsp.pos(FEATURE, "backoff: ", offset=len("backoff: ")))
    assert _labels(backoff) == ["exponential", "fixed", "linear"]

    # agent names, replacing what is typed
    agents = await lsp.completion(FEATURE, lsp.pos(FEATURE, "agent: do", offset=len("agent: do")))
    assert _labels(agents) == ["builder", "docwriter", "reviewer", "tester"]
    assert _edit_range(agents[1]) == (22, 11, 22, 13)
    assert agents[1].detail == "DocWriter"

    # step ids in a flow `needs` list: not the step itself, not the ones already listed
    needs = await lsp.completion(FEATURE, lsp.pos(FEATURE, "needs: [test, ]", offset=len("needs: [test, ")))
    assert _labels(needs) == ["plan", "generate", "docs", "pr", "preview", "verify"]
    assert needs[0].detail == "agent: builder"


async def test_block_needs_uses_and_expression_paths_while_the_file_is_broken(lsp) -> None:
    text = lsp.text(FEATURE).replace(
        "    needs: [generate]\n    run: pytest", "    needs:\n      - \n    run: pytest"
    )
    text = text.replace("    uses: deploy\n", "    uses: \n")
    # an unterminated quote: the file does not parse any more
    text = text.replace('plan: "${{ steps.plan.outputs.text }}"}', 'plan: "${{ steps.plan.outputs.')
    diagnostics = await lsp.open(FEATURE, text)
    assert [d.code for d in diagnostics] == ["BOS001"]

    outputs_at = lsp.pos(FEATURE, "steps.plan.outputs.", offset=len("steps.plan.outputs."))
    outputs = await lsp.completion(FEATURE, outputs_at)
    assert _labels(outputs) == ["text", "json"]
    assert outputs[0].documentation.value == "the agent's final answer"
    assert _edit_range(outputs[0]) == (
        outputs_at.line,
        outputs_at.character,
        outputs_at.line,
        outputs_at.character,
    )

    steps = await lsp.completion(FEATURE, lsp.pos(FEATURE, "steps.plan", offset=len("steps.")))
    assert _labels(steps) == ["plan", "test", "docs", "review", "pr", "preview", "verify"]
    assert _edit_range(steps[0])[1:4:2] == (lsp.pos(FEATURE, "steps.plan").character + 6,) * 2

    roots = await lsp.completion(FEATURE, lsp.pos(FEATURE, "${{ steps.plan", offset=len("${{ ")))
    assert _labels(roots)[:4] == ["inputs", "steps", "env", "run"]
    inputs = await lsp.completion(FEATURE, lsp.pos(FEATURE, "inputs.goal", offset=len("inputs.")))
    assert _labels(inputs) == ["goal"]

    block_needs = await lsp.completion(FEATURE, lsp.pos(FEATURE, "      - \n", offset=len("      - ")))
    assert _labels(block_needs) == ["plan", "generate", "docs", "review", "pr", "preview", "verify"]

    actions = await lsp.completion(FEATURE, lsp.pos(FEATURE, "    uses: \n", offset=len("    uses: ")))
    assert _labels(actions) == [
        "git.branch",
        "git.commit",
        "git.pr",
        "deploy",
        "rollback",
        "http.check",
        "fs.write",
        "desk.apply",
        "eval.gate",
    ]
    assert (
        actions[2].documentation.value
        == "Prepare a pull request: a branch with the run's commits and a description."
    )


async def test_prompt_versions_tools_profiles_and_run_outputs(lsp) -> None:
    agent = "agents/builder.yaml"
    text = (
        lsp.text(agent)
        .replace("prompt: builder@^1.2", "prompt: builder@")
        .replace("model: offline", "model: ")
    )
    text = text.replace("tools: [fs.read, fs.write, shell.run]", "tools: [fs.read, ]")
    await lsp.open(agent, text)
    prompts = await lsp.completion(agent, lsp.pos(agent, "builder@", offset=len("builder@")))
    assert _labels(prompts)[:5] == [
        "builder@1.2.0",
        "builder@1.1.0",
        "builder@^1.2",
        "builder@^1.1",
        "builder@latest",
    ]
    assert "tester@1.0.0" in _labels(prompts) and "tester@^1.0" in _labels(prompts)
    assert _edit_range(prompts[0]) == (4, 8, 4, 16)
    assert prompts[1].documentation.value == "Return a JSON plan"
    assert prompts[2].detail == "resolves to 1.2.0"

    profiles = await lsp.completion(agent, lsp.pos(agent, "model: ", offset=len("model: ")))
    assert _labels(profiles) == ["claude", "local", "offline"]
    project = lsp.text("builderos.yaml") + "mcp:\n  servers:\n    github: {command: github-mcp}\n"
    assert [d.code for d in await lsp.open("builderos.yaml", project) if d.severity == 1] == []
    tools = await lsp.completion(agent, lsp.pos(agent, "fs.read, ", offset=len("fs.read, ")))
    assert _labels(tools) == [
        "fs.read",
        "fs.list",
        "fs.write",
        "fs.delete",
        "shell.run",
        "git.status",
        "git.diff",
        "git.commit",
        "http.fetch",
        "mcp.github.",
    ]

    hotfix = "ship/hotfix.yaml"
    text = lsp.text(hotfix).replace(
        '{message: "${{ inputs.message }}"}', '{message: "${{ steps.test.outputs. }}"}'
    )
    await lsp.open(hotfix, text)
    run_outputs = await lsp.completion(hotfix, lsp.pos(hotfix, "outputs.", offset=len("outputs.")))
    assert _labels(run_outputs) == ["exit_code", "stdout", "stderr"]
    await lsp.change(hotfix, text.replace("${{ steps.test.outputs. }}", "${{ run. }}"))
    run_fields = await lsp.completion(hotfix, lsp.pos(hotfix, "run. }}", offset=len("run.")))
    assert _labels(run_fields) == ["id", "pipeline", "attempt", "workspace", "started_at", "trigger"]
    await lsp.change(hotfix, text.replace("run: pytest -q", 'run: "pytest -q ${{ env. }}"'))
    env = await lsp.completion(hotfix, lsp.pos(hotfix, "env. }}", offset=len("env.")))
    assert _labels(env) == ["PYTHONDONTWRITEBYTECODE"]  # from the step's env


async def test_context_packs_default_profile_and_policy_agents(lsp) -> None:
    agent = "agents/docwriter.yaml"
    await lsp.open(agent, lsp.text(agent).replace("context_packs: [company]", "context_packs: [co]"))
    packs = await lsp.completion(agent, lsp.pos(agent, "[co]", offset=3))
    assert _labels(packs) == ["company"]
    assert packs[0].detail == "context/company.json"

    project = "builderos.yaml"
    await lsp.open(project, lsp.text(project).replace("  default: offline", "  default: "))
    profiles = await lsp.completion(project, lsp.pos(project, "  default: ", offset=len("  default: ")))
    assert _labels(profiles) == ["claude", "local", "offline"]

    policy = "builderos.policy.yaml"
    await lsp.open(policy, lsp.text(policy).replace("  reviewer:  {tools: [fs.read]}\n", "  \n"))
    names = await lsp.completion(policy, lsp.pos(policy, "  \npaths:", offset=2))
    assert _labels(names) == ["reviewer"]  # the agents the policy does not list yet
