"""Hover: the documentation of keys, and summaries of what references point at."""

from __future__ import annotations

import pytest
from lsprotocol import types

#: the tests of a module share one daemon (see conftest), so they share its event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")

FEATURE = "ship/feature.yaml"


def _value(hover: types.Hover | None) -> str:
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.kind == types.MarkupKind.Markdown
    return hover.contents.value


def _range(hover: types.Hover | None) -> tuple[int, int, int, int]:
    assert hover is not None and hover.range is not None
    r = hover.range
    return (r.start.line, r.start.character, r.end.line, r.end.character)


async def test_key_documentation(lsp) -> None:
    await lsp.open(FEATURE)
    retries = await lsp.hover(FEATURE, lsp.pos(FEATURE, "retries:", offset=2))
    assert _value(retries) == (
        "**retries** — integer or Retries\n\n"
        "Retry a failed step: a number of retries, or {max, backoff, initial, max_delay}.\n\n"
        'Examples: `2`, `{"max": 2, "backoff": "exponential", "initial": "1s", "max_delay": "30s"}`'
    )
    assert _range(retries) == (15, 4, 15, 11)

    backoff = await lsp.hover(FEATURE, lsp.pos(FEATURE, "backoff:", offset=1))
    assert _value(backoff).startswith("**backoff** — one of exponential, fixed, linear\n\nHow the wait grows")
    assert _value(backoff).endswith("Values: `exponential`, `fixed`, `linear`")

    name = await lsp.hover(FEATURE, types.Position(line=1, character=1))
    assert _value(name).startswith("**name** (required) — text\n\nThe pipeline's name")


async def test_references_agent_step_action_and_output(lsp) -> None:
    await lsp.open(FEATURE)
    agent = await lsp.hover(FEATURE, lsp.pos(FEATURE, "agent: builder", offset=9))
    assert _value(agent) == (
        "**agent `builder`** — Builder\n\n"
        "Plans a change and writes the code with a test\n\n"
        "- prompt: `builder@^1.2` → 1.2.0\n"
        "- model: `offline`\n"
        "- tools: `fs.read`, `fs.write`, `shell.run`\n\n"
        "Defined in `agents/builder.yaml`"
    )
    assert _range(agent) == (8, 11, 8, 18)

    need = await lsp.hover(FEATURE, lsp.pos(FEATURE, "needs: [test, docs]", offset=len("needs: [te")))
    assert _value(need) == (
        "**step `test`** — command step: `pytest -q`\n\n"
        "Needs: `generate` · outputs: `exit_code`, `stdout`, `stderr`"
    )
    assert _range(need) == (26, 12, 26, 16)

    in_expression = await lsp.hover(FEATURE, lsp.pos(FEATURE, "steps.plan.outputs", offset=len("steps.pl")))
    assert (
        _value(in_expression)
        == "**step `plan`** — agent step: `builder`\n\nNeeds: none · outputs: `text`, `json`"
    )

    output = await lsp.hover(FEATURE, lsp.pos(FEATURE, "outputs.url", offset=len("outputs.u")))
    assert _value(output) == "**output `url` of step `preview`** — where the release is served"

    action = await lsp.hover(FEATURE, lsp.pos(FEATURE, "uses: http.check", offset=8))
    assert _value(action) == (
        "**action `http.check`** — Request a URL and compare the status code.\n\n"
        "Parameters:\n"
        "- `url` (required) — URL to request\n"
        "- `expect_status` — expected status (default 200)\n"
        "- `timeout` — seconds\n\n"
        "Outputs:\n"
        "- `status` — HTTP status code\n"
        "- `ok` — whether it matched\n"
        "- `body` — response body (truncated)"
    )


async def test_prompt_reference_shows_the_resolved_version_and_its_changelog(lsp) -> None:
    rel = "agents/builder.yaml"
    await lsp.open(rel)
    prompt = await lsp.hover(rel, lsp.pos(rel, "builder@^1.2", offset=3))
    assert _value(prompt) == (
        "**prompt `builder@^1.2`** → version **1.2.0** (`prompts/builder.yaml`)\n\n"
        "Plans and writes a code change, always with a test\n\n"
        "Changelog 1.2.0: Ask for a test with every change\n\n"
        "Inputs: `goal`, `plan` · output: json\n\n"
        "Versions: 1.2.0, 1.1.0"
    )
    assert _range(prompt) == (4, 8, 4, 20)

    older = await lsp.change(rel, lsp.text(rel).replace("builder@^1.2", "builder@~1.1"))
    assert "BOS022" not in [d.code for d in older]
    hover = await lsp.hover(rel, lsp.pos(rel, "builder@~1.1", offset=3))
    assert "→ version **1.1.0** (`prompts/builder@1.1.0.yaml`)" in _value(hover)
    assert "Changelog 1.1.0: Return a JSON plan" in _value(hover)
