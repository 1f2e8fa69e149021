"""Prompt rendering with context packs, and the tool schemas offered to models."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from builderos.agents.render import merge_context_packs, render_prompt, render_template
from builderos.agents.tool_schemas import TOOL_SCHEMAS, tool_set, wire_name
from builderos.catalog import TOOLS

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "shop"


def test_the_shop_builder_prompt() -> None:
    project = yaml.safe_load((SHOP / "builderos.yaml").read_text())
    prompt = yaml.safe_load((SHOP / "prompts" / "builder.yaml").read_text())
    company = json.loads((SHOP / "context" / "company.json").read_text())
    agent = yaml.safe_load((SHOP / "agents" / "builder.yaml").read_text())
    rendered = render_prompt(
        prompt["template"],
        inputs={"goal": "Add a /health endpoint"},
        project=project,
        packs={"company": company},
        agent=agent,
    )
    assert rendered.text.startswith(
        "You are the Builder for shop.\nGoal: Add a /health endpoint\nPlan so far: \n"
    )
    assert rendered.unknown_variables == ["plan"]  # `plan` is an input of a later step
    assert rendered.missing_context_pack_ids == []
    assert rendered.context_packs == [{"id": "company", "version": "3"}]


def test_context_packs_merge_in_order_then_runtime_vars() -> None:
    packs = {
        "base": {
            "id": "base",
            "version": 1,
            "facts": {"lang": "Python", "style": {"tests": "pytest", "fmt": "black"}},
        },
        "team": {"id": "team", "version": "2", "facts": {"style": {"fmt": "ruff format"}, "owner": "team-a"}},
        "agent-extra": {
            "id": "agent-extra",
            "version": "1",
            "facts": {"owner": "team-b", "lang": "Python 3.11"},
        },
    }
    template = (
        "{{ context.facts.lang }}|{{ context.facts.style.tests }}|{{ facts.style.fmt }}|{{ owner }}|"
        "{{ context.packs }}|{{ lang }}"
    )
    rendered = render_prompt(
        template,
        inputs={"lang": "Go"},
        project={"name": "p", "context_packs": ["base", "gone", "team"]},
        agent={"name": "a", "context_packs": ["agent-extra", "team", "also-gone"]},
        packs=packs,
    )
    # later packs win, `facts` merges deeply, and an input (a runtime var) beats a fact
    assert rendered.text == 'Python 3.11|pytest|ruff format|team-b|["base", "team", "agent-extra"]|Go'
    assert rendered.missing_context_pack_ids == ["gone", "also-gone"]
    assert [p["id"] for p in rendered.context_packs] == ["base", "team", "agent-extra"]
    assert rendered.unknown_variables == []


def test_merge_does_not_touch_the_packs() -> None:
    packs = {
        "a": {"id": "a", "version": 1, "facts": {"x": {"y": 1}}},
        "b": {"id": "b", "version": 1, "facts": {"x": {"z": 2}}},
    }
    merged = merge_context_packs(["a", "b"], packs)
    assert merged.facts == {"x": {"y": 1, "z": 2}}
    assert packs["a"]["facts"] == {"x": {"y": 1}}


def test_values_paths_and_unknowns() -> None:
    scope = {
        "files": [{"path": "a.py"}, {"path": "b.py"}],
        "plan": {"steps": 2},
        "ok": True,
        "none": None,
        "n": 3,
        "project": {"name": "shop"},
    }
    text, unknown = render_template(
        "{{files.0.path}} {{ files[1].path }} {{ plan }} {{ ok }} [{{ none }}] {{ n }} {{ project.name }} "
        "[{{ missing }}] [{{ project.nope }}] [{{ files.9.path }}] [{{ n | upper }}] "
        "[{{ __import__('os') }}]",
        scope,
    )
    assert text == 'a.py b.py {"steps": 2} true [] 3 shop [] [] [] [] []'
    assert unknown == ["missing", "project.nope", "files.9.path", "n | upper", "__import__('os')"]


def test_text_outside_tags_is_kept() -> None:
    template = 'Answer with JSON: {"summary": "...", "files": [{"path": "..."}]}. {{ x }}{{x}}'
    text, unknown = render_template(template, {"x": "!"})
    assert text == 'Answer with JSON: {"summary": "...", "files": [{"path": "..."}]}. !!'
    assert unknown == []


def test_every_tool_has_a_schema_and_a_wire_name() -> None:
    assert set(TOOL_SCHEMAS) == set(TOOLS)
    for name, schema in TOOL_SCHEMAS.items():
        assert schema["type"] == "object"
        assert set(schema.get("required", [])) <= set(schema["properties"]), name
    assert TOOL_SCHEMAS["shell.run"]["properties"]["command"]["anyOf"][1]["type"] == "array"
    tools = tool_set(["fs.read", "shell.run", "fs.read", "mcp.a_b.c", "mcp.a.b_c"])
    assert [d.name for d in tools.definitions] == ["fs_read", "shell_run", "mcp_a_b_c", "mcp_a_b_c_2"]
    assert tools.tool_for("fs_read") == "fs.read" and tools.tool_for("mcp_a_b_c_2") == "mcp.a.b_c"
    assert tools.tool_for("rm_rf") == "rm_rf"  # unknown: passed through, and the policy gate denies it
    assert tools.definitions[0].description == TOOLS["fs.read"].summary
    assert wire_name("mcp.git-hub.create issue") == "mcp_git-hub_create_issue"
