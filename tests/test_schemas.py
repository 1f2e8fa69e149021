"""The models accept the SPEC's examples and the example workspace, and schemas/ matches them.

The pydantic models are the reference for every file format; schemas/*.schema.json are
generated from them, so a test fails whenever the checked-in schemas are out of date.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from builderos.model import (
    KIND_MODELS,
    EvalSuite,
    Pipeline,
    Prompt,
    Retries,
    Scenario,
    Step,
    duration_seconds,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schemas"
SHOP = Path(__file__).resolve().parent / "fixtures" / "workspaces" / "shop"


def _load_gen_schemas() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "scripts" / "gen_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_schemas", module)
    spec.loader.exec_module(module)
    return module


gen_schemas = _load_gen_schemas()


# --- SPEC §2 examples -------------------------------------------------------------------------

SPEC_EXAMPLES: dict[str, str] = {
    "project": """
version: 1
name: acme-shop
stack: [python]
envs: [dev, stage, prod]
models:
  default: offline                      # profile used when an agent names none
  profiles:
    offline: {provider: scripted}       # deterministic, no network; responses from scenarios or the desk's script
    local:   {provider: openai, base_url: "http://localhost:11434/v1", model: "qwen2.5-coder:7b"}
    claude:  {provider: anthropic, model: "claude-sonnet-4-5", api_key_env: ANTHROPIC_API_KEY}
context_packs: [company]                # ids of context/*.json, merged in this order, then runtime vars
budgets: {run_tokens: 200000, run_usd: 2.0}
""",  # noqa: E501
    "agent": """
kind: agent
name: builder
role: Builder            # Builder | Tester | DocWriter | Reviewer | Deployer | DataEngineer | any string
prompt: builder@^1.2     # name@range: exact 1.2.0, ^1.2, ~1.2, 1.x, ">=1.5 <2.0", latest
model: local             # a profile from builderos.yaml (default: models.default)
tools: [fs.read, fs.write, shell.run]
max_turns: 12
""",
    "prompt": """
kind: prompt
name: builder
version: 1.2.0
changelog:
  - {version: 1.2.0, notes: "Ask for a test with every change"}
  - {version: 1.1.0, notes: "Return a JSON plan"}
inputs: [goal, plan]
template: |
  You are the Builder for {{ project.name }}. Goal: {{ goal }}
output: {format: json}   # text | json, with an optional JSON Schema under `schema:`
""",
    "pipeline": """
kind: pipeline
name: feature
description: plan → generate → test → pr → deploy preview → verify
inputs:
  goal: {type: string, required: true}
concurrency: 4
steps:
  - id: plan
    agent: builder
    with: {goal: "${{ inputs.goal }}"}
  - id: generate
    agent: builder
    needs: [plan]
    with: {plan: "${{ steps.plan.outputs.text }}"}
    retries: {max: 2, backoff: exponential, initial: 1s, max_delay: 30s}
    timeout: 10m
  - id: test
    needs: [generate]
    run: pytest -q                    # a command step (shell.run)
  - id: docs
    agent: docwriter
    needs: [generate]                 # runs beside `test`
  - id: review
    agent: reviewer
    needs: [test, docs]
    if: "${{ steps.test.outputs.exit_code == 0 }}"
  - id: pr
    uses: git.pr                      # a built-in action
    needs: [review]
    gate: approval                    # always ask a human here
  - id: preview
    uses: deploy
    with: {env: stage}
    needs: [pr]
  - id: verify
    uses: http.check
    with: {url: "${{ steps.preview.outputs.url }}/health", expect_status: 200}
    needs: [preview]
    on_failure: rollback              # a step id or built-in action to run when this step fails
""",
    "policy": """
version: 1
default: deny
agents:
  builder: {tools: [fs.read, fs.write, shell.run]}
  tester:  {tools: [fs.read, shell.run]}
paths:
  allow: ["src/**", "tests/**", "docs/**", "README.md"]
  deny:  ["**/.env", ".git/**", "secrets/**"]
commands:
  allow: ["pytest *", "ruff *", "python -m *"]
network:
  allow: ["localhost", "api.github.com"]
secrets:
  env: [OPENAI_API_KEY, GITHUB_TOKEN]
  patterns: ["sk-[A-Za-z0-9]{20,}", "ghp_[A-Za-z0-9]{36}"]
approvals:
  - {action: fs.write}                          # every file change is shown and approved
  - {action: git.push, branch: main}
  - {action: deploy, env: prod}
envs:
  prod: {approvals: [{action: "*"}]}
""",
    "scenario": """
kind: scenario
name: add-health
pipeline: feature
inputs: {goal: "Add a /health endpoint"}
stubs:
  llm:
    - {step: plan, respond: "1. add the route 2. add a test"}
    - {step: generate, tool_calls: [{tool: fs.write, args: {path: src/app/health.py, content: "def health():\\n    return 'ok'\\n"}}]}
  tools:
    shell.run: {exit_code: 0, stdout: "2 passed"}
  approvals: approve-all
expect:
  status: succeeded
  steps: {test: succeeded, review: succeeded}
  files: {src/app/health.py: {contains: "def health"}}
  golden: scenarios/golden/add-health.trace.json   # compared with ids and times normalised
""",  # noqa: E501
    "eval": """
kind: eval
name: builder-basic
prompt: builder@1.2.0
require_pass_rate: 0.9
repeat: 3
cases:
  - name: writes a test
    vars: {goal: "add a health check"}
    assert:
      - {type: contains, value: "def test_"}
      - {type: json_path, path: "$.files[0].path", equals: "tests/test_health.py"}
      - {type: expr, value: "len(output.files) >= 2"}
""",
    "desk": """
kind: desk
name: python-service
version: 1.0.0
description: A Python service with tests, a feature pipeline and safe policies
parameters:
  package: {type: string, pattern: "^[a-z_][a-z0-9_]*$", required: true}
  license: {type: enum, values: [MIT, Apache-2.0], default: MIT}
files: template/           # copied with ${{ params.x }} substituted, in contents and in file names
requires: {builderos: ">=0.1"}
""",
    "context": '{"id": "company", "version": "3", "facts": {}}',
}


def _parse(kind: str) -> dict[str, Any]:
    data = yaml.safe_load(SPEC_EXAMPLES[kind])
    assert isinstance(data, dict)
    return data


def test_every_kind_has_a_spec_example() -> None:
    assert set(SPEC_EXAMPLES) == set(KIND_MODELS)


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))
def test_model_accepts_spec_example(kind: str) -> None:
    KIND_MODELS[kind].model_validate(_parse(kind))


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))
def test_model_rejects_unknown_top_level_key(kind: str) -> None:
    data = _parse(kind)
    data["colour"] = "blue"
    with pytest.raises(ValidationError) as info:
        KIND_MODELS[kind].model_validate(data)
    errors = info.value.errors()
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", ("colour",))]


def test_unknown_nested_key_is_reported_at_its_location() -> None:
    data = _parse("pipeline")
    data["steps"][1]["retries"] = {"max": 2, "backof": "fixed"}
    data["steps"][2]["agnet"] = "tester"
    with pytest.raises(ValidationError) as info:
        Pipeline.model_validate(data)
    forbidden = {e["loc"] for e in info.value.errors() if e["type"] == "extra_forbidden"}
    assert ("steps", 2, "agnet") in forbidden
    # union members add a segment to `loc`: "object" or "count" for retries
    assert ("steps", 1, "retries", "object", "backof") in forbidden


def test_keyword_keys_use_aliases() -> None:
    pipeline = Pipeline.model_validate(_parse("pipeline"))
    review = next(step for step in pipeline.steps if step.id == "review")
    assert review.if_ == "${{ steps.test.outputs.exit_code == 0 }}"
    assert pipeline.steps[0].with_ == {"goal": "${{ inputs.goal }}"}
    dumped = review.model_dump(by_alias=True, exclude_unset=True)
    assert "if" in dumped and "if_" not in dumped
    # populate_by_name: the Python names work too
    assert Step.model_validate({"id": "x", "run": "true", "if_": True, "with_": {"a": 1}}).if_ is True

    suite = EvalSuite.model_validate(_parse("eval"))
    assert [a.type for a in suite.cases[0].assert_] == ["contains", "json_path", "expr"]

    prompt = Prompt.model_validate(
        {"name": "p", "version": "1.0.0", "template": "t", "output": {"schema": {}}}
    )
    assert prompt.output.schema_ == {}


def test_step_may_omit_agent_run_and_uses() -> None:
    # Exactly-one-of is BOS013, reported by the validator, not by the model.
    step = Step.model_validate({"id": "nothing"})
    assert (step.agent, step.run, step.uses) == (None, None, None)
    Step.model_validate({"id": "both", "agent": "builder", "run": "pytest -q"})


@pytest.mark.parametrize("value", ["1s", "10m", "1.5h", "500ms", 30, 2.5, 0])
def test_duration_accepts(value: str | float) -> None:
    assert Step.model_validate({"id": "s", "timeout": value}).timeout == value


@pytest.mark.parametrize("value", ["10 minutes", "1d", "m", "", -1, float("inf"), True, [1]])
def test_duration_rejects_with_one_error(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Step.model_validate({"id": "s", "timeout": value})
    [error] = info.value.errors()
    assert error["loc"] == ("timeout",)
    assert error["type"] in ("duration_format", "duration_range", "duration_type")


def test_duration_seconds() -> None:
    assert duration_seconds("500ms") == 0.5
    assert duration_seconds("1.5h") == 5400
    assert duration_seconds("10m") == 600
    assert duration_seconds(30) == 30
    with pytest.raises(ValueError):
        duration_seconds("10 minutes")


def test_retries_is_a_count_or_an_object() -> None:
    assert Step.model_validate({"id": "s", "retries": 3}).retry_policy == Retries(max=3)
    step = Step.model_validate({"id": "s", "retries": {"max": 2, "backoff": "fixed", "jitter": True}})
    assert step.retry_policy == Retries(max=2, backoff="fixed", jitter=True)
    assert Step.model_validate({"id": "s"}).retry_policy is None
    for bad in (-1, True, {"max": 1, "backoff": "random"}):
        with pytest.raises(ValidationError):
            Step.model_validate({"id": "s", "retries": bad})


def test_scenario_approvals_forms() -> None:
    for approvals in ("approve-all", "deny-all", [{"step": "pr", "decision": "deny", "comment": "no"}]):
        Scenario.model_validate({"name": "s", "pipeline": "p", "stubs": {"approvals": approvals}})
    with pytest.raises(ValidationError):
        Scenario.model_validate({"name": "s", "pipeline": "p", "stubs": {"approvals": "maybe"}})


def test_kind_must_match_the_model() -> None:
    data = _parse("agent")
    data["kind"] = "pipeline"
    with pytest.raises(ValidationError) as info:
        KIND_MODELS["agent"].model_validate(data)
    assert info.value.errors()[0]["loc"] == ("kind",)


# --- generated schemas ------------------------------------------------------------------------


def test_checked_in_schemas_are_up_to_date() -> None:
    rendered: dict[str, str] = gen_schemas.render_schemas()
    assert set(rendered) == {f"{kind}.schema.json" for kind in KIND_MODELS}
    stale = [
        name
        for name, text in rendered.items()
        if not (SCHEMA_DIR / name).is_file() or (SCHEMA_DIR / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"out of date: {stale}; run: python scripts/gen_schemas.py"


def test_render_is_deterministic() -> None:
    assert gen_schemas.render_schemas() == gen_schemas.render_schemas()


def _schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in KIND_MODELS:
        yield kind, json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))


def _object_schemas(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema with `properties`, skipping values such as examples and defaults."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield where, node
        for key, value in node.items():
            if key in ("examples", "default", "const", "enum"):
                continue
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    yield from _object_schemas(prop, f"{where}.{name}")
            else:
                yield from _object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _object_schemas(item, f"{where}[{index}]")


def test_schema_metadata() -> None:
    for kind, schema in _schemas():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"https://builderos.dev/schemas/{kind}.schema.json"
        assert schema["title"]
        assert schema["description"]
        assert schema["additionalProperties"] is False
        assert "kind" in schema["properties"]


def test_every_property_has_a_description() -> None:
    missing = []
    for kind, schema in _schemas():
        for where, obj in _object_schemas(schema, kind):
            assert obj.get("description"), f"{where} has no description"
            missing += [
                f"{where}.{name}" for name, prop in obj["properties"].items() if not prop.get("description")
            ]
    assert not missing


def test_schemas_use_yaml_key_names() -> None:
    schemas = dict(_schemas())
    step = schemas["pipeline"]["$defs"]["Step"]["properties"]
    assert {"if", "with"} <= set(step) and not {"if_", "with_"} & set(step)
    case = schemas["eval"]["$defs"]["EvalCase"]["properties"]
    assert "assert" in case
    assert "schema" in schemas["prompt"]["$defs"]["PromptOutput"]["properties"]
    assert "json" in schemas["scenario"]["$defs"]["LlmStub"]["properties"]


def test_enum_like_values_are_offered() -> None:
    schemas = dict(_schemas())
    backoff = schemas["pipeline"]["$defs"]["Retries"]["properties"]["backoff"]
    assert backoff["enum"] == ["exponential", "fixed", "linear"]
    provider = schemas["project"]["$defs"]["ModelProfile"]["properties"]["provider"]
    assert provider["enum"] == ["scripted", "openai", "anthropic"]


# --- the example workspace --------------------------------------------------------------------

FOLDER_KINDS = {
    "agents": "agent",
    "prompts": "prompt",
    "ship": "pipeline",
    "scenarios": "scenario",
    "evals": "eval",
}


def kind_of(rel: PurePosixPath) -> str | None:
    """The kind a workspace file has by its location (SPEC §1), or None for other files."""
    parts = rel.parts
    if rel == PurePosixPath("builderos.yaml"):
        return "project"
    if rel == PurePosixPath("builderos.policy.yaml"):
        return "policy"
    if len(parts) == 2 and parts[0] in FOLDER_KINDS and rel.suffix in (".yaml", ".yml"):
        return FOLDER_KINDS[parts[0]]
    if len(parts) == 2 and parts[0] == "context" and rel.suffix == ".json":
        return "context"
    if len(parts) == 3 and parts[0] == "desks" and parts[2] == "desk.yaml":
        return "desk"
    return None


def _workspace_documents() -> list[tuple[str, str, Any]]:
    documents = []
    for path in sorted(SHOP.rglob("*")):
        rel = PurePosixPath(path.relative_to(SHOP).as_posix())
        kind = kind_of(rel) if path.is_file() else None
        if kind is None:
            continue
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if rel.suffix == ".json" else yaml.safe_load(text)
        documents.append((str(rel), kind, data))
    return documents


WORKSPACE_DOCUMENTS = _workspace_documents()


def test_example_workspace_uses_every_kind() -> None:
    assert {kind for _, kind, _ in WORKSPACE_DOCUMENTS} == set(KIND_MODELS)


def test_example_workspace_has_no_unclassified_yaml() -> None:
    classified = {rel for rel, _, _ in WORKSPACE_DOCUMENTS}
    stray = [
        p.relative_to(SHOP).as_posix()
        for p in SHOP.rglob("*.y*ml")
        if "template" not in p.relative_to(SHOP).parts and p.relative_to(SHOP).as_posix() not in classified
    ]
    assert not stray


@pytest.mark.parametrize(
    ("rel", "kind", "data"), WORKSPACE_DOCUMENTS, ids=[d[0] for d in WORKSPACE_DOCUMENTS]
)
def test_example_workspace_file_is_valid(rel: str, kind: str, data: Any) -> None:
    model: BaseModel = KIND_MODELS[kind].model_validate(data)
    assert model.model_dump()["kind"] == kind


def test_example_workspace_prompt_versions_match_file_names() -> None:
    prompts = {
        rel: Prompt.model_validate(data) for rel, kind, data in WORKSPACE_DOCUMENTS if kind == "prompt"
    }
    assert {(p.name, p.version) for p in prompts.values()} >= {("builder", "1.2.0"), ("builder", "1.1.0")}
    for rel, prompt in prompts.items():
        stem = PurePosixPath(rel).stem
        assert stem in (prompt.name, f"{prompt.name}@{prompt.version}")
        assert prompt.version in {entry.version for entry in prompt.changelog}


def test_example_desk_template_uses_a_parameter() -> None:
    readme = (SHOP / "desks" / "shop-desk" / "template" / "README.md").read_text(encoding="utf-8")
    assert "${{ params.package }}" in readme
