"""The agent loop against the stub server: tool calls through a ToolBox-like object, JSON answers
with one follow-up, the run budget, timeouts, and secrets kept out of events and errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agents.conftest import Sleeps
from agents.stub_llm import Reply, StubLLM
from builderos.agents import AgentRouter, Budget, LlmAgent, parse_json_answer, runtime_for
from builderos.engine.agents import AgentCall, ScriptedAgent
from builderos.engine.interfaces import StepFailed

KEY = "stub-secret-key-4b9e7c21d0"
PROJECT = {"name": "shop", "context_packs": ["company"]}
PACKS = {"company": {"id": "company", "version": "3", "facts": {"company": "Acme Shop"}}}
PROMPT_TEXT = {
    "name": "builder",
    "version": "1.2.0",
    "template": "You are the Builder for {{ project.name }} at {{ company }}. Goal: {{ goal }}",
    "output": {"format": "text"},
}
PROMPT_JSON = {
    **PROMPT_TEXT,
    "output": {
        "format": "json",
        "schema": {"type": "object", "required": ["files"], "properties": {"files": {"type": "array"}}},
    },
}
AGENT = {"name": "builder", "role": "Builder", "tools": ["fs.read", "fs.write", "shell.run"], "max_turns": 5}


class FakeTools:
    """Stands in for the engine's ToolBox: `async call(name, args) -> dict`."""

    def __init__(self, allowed: tuple[str, ...] = ("fs.read", "fs.write", "shell.run")) -> None:
        self.allowed = allowed
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, args))
        if name not in self.allowed:
            return {"error": f"denied by policy (agents/builder.yaml tools): {name} is not one of its tools"}
        if name == "fs.read":
            return {"path": args.get("path"), "content": f"# readme\napi key: {KEY}\n"}
        return {"ok": True}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        json.dumps(data)  # events must be JSON
        self.events.append((type_, data))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [d for t, d in self.events if t == type_]


def make_call(
    tools: FakeTools,
    emit: Recorder,
    prompt: dict[str, Any] | None = PROMPT_TEXT,
    agent: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> AgentCall:
    return AgentCall(
        run_id="01RUN",
        step_id="generate",
        attempt=1,
        agent=dict(agent or AGENT),
        prompt=prompt,
        inputs=inputs if inputs is not None else {"goal": "add /health"},
        workspace=Path("."),
        tools=tools,  # type: ignore[arg-type]
        emit=emit,
        model_profile="local",
    )


def openai_agent(stub: StubLLM, budget: Budget | None = None, **overrides: Any) -> LlmAgent:
    profile = {
        "provider": "openai",
        "base_url": stub.openai_url,
        "model": "qwen-stub",
        "api_key_env": "STUB_KEY",
    }
    runtime = runtime_for(
        profile,
        budget,
        profile_name="local",
        project=PROJECT,
        context_packs=PACKS,
        environ={"STUB_KEY": KEY},
        sleep=Sleeps(),
        **overrides,
    )
    assert isinstance(runtime, LlmAgent)
    return runtime


def anthropic_agent(stub: StubLLM) -> LlmAgent:
    profile = {
        "provider": "anthropic",
        "base_url": stub.url,
        "model": "claude-stub",
        "api_key_env": "ANTHROPIC_API_KEY",
    }
    runtime = runtime_for(
        profile,
        profile_name="claude",
        project=PROJECT,
        context_packs=PACKS,
        environ={"ANTHROPIC_API_KEY": KEY},
        sleep=Sleeps(),
    )
    assert isinstance(runtime, LlmAgent)
    return runtime


async def test_tool_calls_run_through_the_toolbox_and_the_loop_finishes(stub: StubLLM) -> None:
    stub.push(
        Reply(
            text="Reading first.",
            tool_calls=[("fs_read", {"path": "README.md"}), ("shell_run", {"command": "pytest -q"})],
            usage=(100, 20),
        ),
        Reply(
            tool_calls=[("fs_write", {"path": "src/app/health.py", "content": "def health(): ..."})],
            usage=(150, 30),
        ),
        Reply(text="Added the endpoint and its test.", usage=(200, 10)),
    )
    tools, emit = FakeTools(), Recorder()
    call = make_call(tools, emit)
    outputs = await openai_agent(stub).run(call)

    assert outputs == {"text": "Added the endpoint and its test."}
    assert tools.calls == [
        ("fs.read", {"path": "README.md"}),
        ("shell.run", {"command": "pytest -q"}),
        ("fs.write", {"path": "src/app/health.py", "content": "def health(): ..."}),
    ]
    assert stub.count == 3
    first = stub.requests[0].body
    assert [t["function"]["name"] for t in first["tools"]] == ["fs_read", "fs_write", "shell_run"]
    assert first["messages"][1] == {
        "role": "user",
        "content": "You are the Builder for shop at Acme Shop. Goal: add /health",
    }
    assert "builder, the Builder agent of the project shop" in first["messages"][0]["content"]
    second = stub.requests[1].body["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool", "tool"]
    assert second[3]["tool_call_id"] == "call_0" and second[4]["tool_call_id"] == "call_1"
    assert KEY not in second[3]["content"] and "[REDACTED]" in second[3]["content"]  # redacted for the model

    requests, responses = emit.of("llm.request"), emit.of("llm.response")
    assert [r["turn"] for r in requests] == [1, 2, 3] and [r["turn"] for r in responses] == [1, 2, 3]
    assert requests[0]["prompt"] == "builder@1.2.0" and requests[0]["profile"] == "local"
    assert requests[0]["model"] == "qwen-stub" and requests[0]["context_packs"] == [
        {"id": "company", "version": "3"}
    ]
    assert requests[0]["missing_context_pack_ids"] == []
    assert responses[0]["tokens"] == {"input": 100, "output": 20}
    assert responses[0]["tool_calls"][0] == {"id": "call_0", "tool": "fs.read", "args": {"path": "README.md"}}
    assert responses[2]["text"] == "Added the endpoint and its test."
    assert call.provenance["tokens"] == {"input": 450, "output": 60}


async def test_anthropic_loop_with_a_fenced_json_answer(stub: StubLLM) -> None:
    stub.push(
        Reply(tool_calls=[("fs_read", {"path": "README.md"})]),
        Reply(text='```json\n{"summary": "ok", "files": [{"path": "src/app/health.py"}]}\n```'),
    )
    tools, emit = FakeTools(), Recorder()
    outputs = await anthropic_agent(stub).run(make_call(tools, emit, PROMPT_JSON))
    assert outputs["json"] == {"summary": "ok", "files": [{"path": "src/app/health.py"}]}
    assert tools.calls == [("fs.read", {"path": "README.md"})]
    second = stub.requests[1].body
    assert second["messages"][-1]["role"] == "user"
    assert second["messages"][-1]["content"][0]["type"] == "tool_result"
    assert second["messages"][-1]["content"][0]["tool_use_id"] == "toolu_0"
    assert "JSON Schema" in second["system"]


async def test_json_answer_gets_one_follow_up(stub: StubLLM) -> None:
    stub.push(Reply(text="Here is my plan: add a route."), Reply(text='{"files": [{"path": "a.py"}]}'))
    emit = Recorder()
    outputs = await openai_agent(stub).run(make_call(FakeTools(), emit, PROMPT_JSON))
    assert outputs == {"text": '{"files": [{"path": "a.py"}]}', "json": {"files": [{"path": "a.py"}]}}
    follow_up = stub.requests[1].body["messages"][-1]
    assert follow_up["role"] == "user" and "not valid JSON" in follow_up["content"]
    assert emit.of("llm.request")[1]["messages"] == [{"role": "user", "content": follow_up["content"]}]


async def test_json_answer_that_fails_twice_fails_the_step(stub: StubLLM) -> None:
    stub.push(
        Reply(text="not json"), Reply(text='{"summary": "no files key"}'), Reply(text="never asked for")
    )
    with pytest.raises(StepFailed) as info:
        await openai_agent(stub).run(make_call(FakeTools(), Recorder(), PROMPT_JSON))
    assert not info.value.retryable
    assert "even after one follow-up" in str(info.value) and "lacks the required key 'files'" in str(
        info.value
    )
    assert info.value.outputs == {"text": '{"summary": "no files key"}'}
    assert stub.count == 2


async def test_max_turns_stops_a_model_that_never_answers(stub: StubLLM) -> None:
    stub.push(*[Reply(tool_calls=[("fs_read", {"path": "README.md"})])] * 3)
    agent = {**AGENT, "max_turns": 2}
    with pytest.raises(StepFailed, match="used its 2 turns without a final answer"):
        await openai_agent(stub).run(make_call(FakeTools(), Recorder(), agent=agent))
    assert stub.count == 2


async def test_only_the_agents_tools_are_offered_and_others_are_denied(stub: StubLLM) -> None:
    stub.push(
        Reply(
            tool_calls=[("git_commit", {"message": "x"}), ("fs_read", {"path": "a"})],
            raw_arguments="{bad json",
        ),
        Reply(text="done"),
    )
    tools, emit = FakeTools(allowed=("fs.read",)), Recorder()
    await openai_agent(stub).run(make_call(tools, emit, agent={**AGENT, "tools": ["fs.read"]}))
    assert [t["function"]["name"] for t in stub.requests[0].body["tools"]] == ["fs_read"]
    # the first call's arguments did not parse: it is answered with an error, never run
    assert tools.calls == [("fs.read", {"path": "a"})]
    results = [m for m in stub.requests[1].body["messages"] if m["role"] == "tool"]
    assert "not valid JSON" in results[0]["content"]


async def test_budget_warns_at_80_percent_and_stops_at_100(stub: StubLLM) -> None:
    budget = Budget(run_tokens=100)
    stub.push(
        Reply(tool_calls=[("fs_read", {"path": "a"})], usage=(30, 10)),
        Reply(tool_calls=[("fs_read", {"path": "b"})], usage=(35, 10)),
        Reply(tool_calls=[("fs_read", {"path": "c"})], usage=(20, 10)),
        Reply(text="never asked for"),
    )
    emit = Recorder()
    with pytest.raises(StepFailed) as info:
        await openai_agent(stub, budget).run(make_call(FakeTools(), emit))
    assert str(info.value) == "run budget exceeded: 115 of 100 tokens"
    assert not info.value.retryable
    assert emit.of("log") == [{"level": "warning", "message": "budget 80% used: 85 of 100 tokens"}]
    assert stub.count == 3 and len(emit.of("llm.response")) == 3
    # the budget is the run's: the next step stops before it asks the model anything
    with pytest.raises(StepFailed, match="run budget exceeded"):
        await openai_agent(stub, budget).run(make_call(FakeTools(), Recorder()))
    assert stub.count == 3


def test_budget_numbers() -> None:
    budget = Budget(run_tokens=200_000)
    assert budget.charge({"input": 150_000, "output": 9_999}) is None
    assert budget.charge(1) == "budget 80% used: 160,000 of 200,000 tokens"
    assert budget.charge(1) is None  # once
    with pytest.raises(StepFailed, match=r"^run budget exceeded: 200,412 of 200,000 tokens$"):
        budget.charge({"input": 40_000, "output": 411})

    dollars = Budget(run_usd=2.0, prices={"my-model": {"input": 10.0, "output": 30.0}})
    assert dollars.charge({"input": 100_000, "output": 10_000}, "my-model") is None  # $1.30
    assert (
        dollars.charge({"input": 10_000, "output": 10_000}, "my-model") == "budget 80% used: $1.70 of $2.00"
    )
    assert dollars.charge({"input": 1_000_000}, "llama-local") is None  # unpriced: free
    with pytest.raises(StepFailed, match=r"run budget exceeded: \$2\.30 of \$2\.00"):
        dollars.charge({"output": 20_000}, "my-model")
    assert Budget().price_of("claude-sonnet-4-5") is not None
    assert Budget.from_project({"budgets": {"run_tokens": 5}}).run_tokens == 5


async def test_a_hang_fails_the_step_and_no_late_answer_is_acted_on(stub: StubLLM) -> None:
    stub.push(Reply(tool_calls=[("fs_write", {"path": "src/x.py", "content": "late"})], hang=1.0))
    tools, emit = FakeTools(), Recorder()
    with pytest.raises(StepFailed) as info:
        await openai_agent(stub, timeout=0.3).run(make_call(tools, emit))
    assert "read timeout" in str(info.value) and info.value.retryable
    await asyncio.sleep(0.9)  # the stub sends its late answer now
    assert stub.count == 1
    assert tools.calls == []
    assert emit.of("llm.response") == [] and len(emit.of("llm.request")) == 1


async def test_the_key_is_sent_but_never_in_events_or_errors(stub: StubLLM) -> None:
    stub.push(Reply(tool_calls=[("fs_read", {"path": "README.md"})]), Reply(text=f"The key is {KEY}."))
    emit = Recorder()
    call = make_call(FakeTools(), emit, inputs={"goal": f"use {KEY} to deploy"})
    outputs = await openai_agent(stub).run(call)
    assert stub.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(stub.requests[0].body) and KEY not in json.dumps(stub.requests[1].body)
    assert KEY not in json.dumps(emit.events)
    assert "[REDACTED]" in emit.of("llm.response")[1]["text"]
    assert outputs["text"] == f"The key is {KEY}."  # the step's own output is the engine's to redact

    stub.push(Reply.error(401, f"Incorrect API key provided: {KEY}"))
    emit = Recorder()
    with pytest.raises(StepFailed) as info:
        await openai_agent(stub).run(make_call(FakeTools(), emit))
    assert str(info.value) == "the API key in $STUB_KEY was refused (401)"
    assert not info.value.retryable and KEY not in json.dumps(emit.events)


async def test_missing_context_packs_are_reported(stub: StubLLM) -> None:
    stub.push(Reply(text="ok"))
    emit = Recorder()
    call = make_call(FakeTools(), emit, agent={**AGENT, "context_packs": ["team", "company"]})
    await openai_agent(stub).run(call)
    first = emit.of("llm.request")[0]
    assert first["missing_context_pack_ids"] == ["team"]
    assert call.provenance["missing_context_pack_ids"] == ["team"]


async def test_runtime_for_and_the_router(stub: StubLLM) -> None:
    assert runtime_for({"provider": "scripted"}) is None
    with pytest.raises(StepFailed, match="names no model"):
        runtime_for({"provider": "openai"}, profile_name="local")

    project = {
        "name": "shop",
        "models": {
            "default": "offline",
            "profiles": {
                "offline": {"provider": "scripted"},
                "local": {"provider": "openai", "base_url": stub.openai_url, "model": "qwen-stub"},
            },
        },
        "budgets": {"run_tokens": 1000},
    }
    scripted = ScriptedAgent([{"step": "generate", "respond": "scripted answer"}])
    router = AgentRouter.for_project(project, scripted, context_packs=PACKS)
    assert router.budget is not None and router.budget.run_tokens == 1000
    stub.push(Reply(text="model answer", usage=(3, 4)))
    call = make_call(FakeTools(), Recorder())
    assert (await router.run(call))["text"] == "model answer"
    call.model_profile = None  # models.default: offline
    assert (await router.run(call))["text"] == "scripted answer"
    assert router.budget.tokens == 7


def test_parse_json_answer() -> None:
    assert parse_json_answer('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_answer("```\n[1, 2]\n```") == [1, 2]
    assert parse_json_answer('  {"a": "```"}  ') == {"a": "```"}
    assert parse_json_answer('Sure! Here it is:\n```json\n{"a": 2}\n```\nAnything else?') == {"a": 2}
    with pytest.raises(ValueError, match="line 1 column"):
        parse_json_answer("{'a': 1}")
    with pytest.raises(ValueError, match="empty"):
        parse_json_answer("   ")
