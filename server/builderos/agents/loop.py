"""The agent loop with a real model: render the prompt, offer the agent's tools, run its tool calls
through the policy gate, and return the final answer (parsed when the prompt asks for JSON).

One turn is one model request. A turn whose reply calls tools runs each call (in order, through
`call.tools.call`) and sends the results back as tool messages; a reply without tool calls is the
final answer. A JSON answer that does not parse (or does not match the prompt's schema) gets ONE
follow-up turn that quotes the error; a second failure fails the step.

Events: `llm.request` (turn, model, profile, prompt name@version, the new messages redacted) and
`llm.response` (turn, text, tool calls, tokens {input, output}), both through the redactor; a `log`
event when the run's budget is 80% used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from builderos.agents.budget import Budget
from builderos.agents.providers import (
    ChatRequest,
    ChatResponse,
    Message,
    Provider,
    ProviderError,
    ToolCall,
    Usage,
    provider_for,
)
from builderos.agents.providers.base import Sleep
from builderos.agents.render import Rendered, render_prompt
from builderos.agents.tool_schemas import ToolSet, tool_set
from builderos.engine import events as ev
from builderos.engine.agents import AgentCall, AgentRuntime
from builderos.engine.interfaces import Outputs, StepFailed
from builderos.policy.redact import MASK, Redactor

DEFAULT_MAX_TURNS = 12
TOOL_RESULT_LIMIT = 20_000  # characters of one tool result sent back to the model
EVENT_TEXT_LIMIT = 4_000  # characters of one message body in an llm.request event

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?[ \t]*```$", re.DOTALL)
_FENCE_ANYWHERE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


# -- JSON answers --------------------------------------------------------------------------------
def parse_json_answer(text: str) -> Any:
    """The answer as JSON, with ```json fences stripped; ValueError saying why it does not parse."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("the answer is empty")
    fenced = _FENCE.match(stripped)
    candidate = fenced.group(1) if fenced else stripped
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as exc:
        inner = _FENCE_ANYWHERE.search(stripped)
        if inner is not None and not fenced:
            try:
                return json.loads(inner.group(1))
            except json.JSONDecodeError:
                pass
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_error(value: Any, schema: Any, path: str = "$") -> str | None:
    """The first place `value` breaks a JSON Schema's `type`, `required`, `properties`, `items` or
    `enum` (a deliberately small subset), or None."""
    if not isinstance(schema, Mapping):
        return None
    expected = schema.get("type")
    if isinstance(expected, str | list):
        names = [expected] if isinstance(expected, str) else [str(t) for t in expected]
        ok = False
        for name in names:
            kinds = _TYPES.get(name)
            if kinds is None:
                ok = True
            elif isinstance(value, bool) and name in ("integer", "number"):
                continue
            elif isinstance(value, kinds):
                ok = True
        if not ok:
            return f"{path} should be {' or '.join(names)}, not {type(value).__name__}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{path} should be one of {json.dumps(enum)}"
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                return f"{path} lacks the required key '{key}'"
        props = schema.get("properties")
        if isinstance(props, Mapping):
            for key, sub in props.items():
                if key in value:
                    err = schema_error(value[key], sub, f"{path}.{key}")
                    if err:
                        return err
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            err = schema_error(item, schema["items"], f"{path}[{i}]")
            if err:
                return err
    return None


# -- the loop ------------------------------------------------------------------------------------
class LlmAgent:
    """An AgentRuntime backed by a chat model with tools."""

    def __init__(
        self,
        provider: Provider,
        *,
        profile_name: str | None = None,
        budget: Budget | None = None,
        project: Mapping[str, Any] | None = None,
        context_packs: Mapping[str, Mapping[str, Any]] | None = None,
        redactor: Redactor | None = None,
        secret_env: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        temperature: float | None = None,
    ) -> None:
        self.provider = provider
        self.profile_name = profile_name
        self.budget = budget
        self.project = dict(project or {})
        self.context_packs = dict(context_packs or {})
        self.redactors = [r for r in (redactor, Redactor(secret_env, environ=environ)) if r is not None]
        self.max_turns = max_turns
        self.temperature = temperature

    def redact(self, value: Any) -> Any:
        for r in self.redactors:
            value = r.data(value)
        return value

    def redact_text(self, text: str) -> str:
        for r in self.redactors:
            text = r.text(text)
        return text

    # -- messages
    def render(self, call: AgentCall) -> Rendered:
        prompt = call.prompt or {}
        template = prompt.get("template")
        if not isinstance(template, str):
            lines = [f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in call.inputs.items()]
            template = "\n".join(lines) or "Do your task."
        return render_prompt(
            template,
            inputs=call.inputs,
            project=self.project,
            packs=self.context_packs,
            agent=call.agent,
        )

    def system_message(self, call: AgentCall, tools: Sequence[str]) -> str:
        agent = call.agent
        name = str(agent.get("name") or call.step_id)
        role = agent.get("role")
        project = self.project.get("name")
        who = f"You are {name}" + (f", the {role} agent" if role else ", an agent")
        where = f" of the project {project}" if project else ""
        lines = [f"{who}{where}, working in a workspace through BuilderOS."]
        if tools:
            lines.append(
                "You can call these tools: "
                + ", ".join(tools)
                + ". Paths are relative to the workspace root. A result with an `error` says what "
                "went wrong (a denial by the policy included): adapt instead of repeating the call."
            )
        lines.append("When you are done, reply with your final answer and no tool calls.")
        output = (call.prompt or {}).get("output")
        if isinstance(output, Mapping) and output.get("format") == "json":
            lines.append("Your final answer must be a single JSON document, with no prose around it.")
            schema = output.get("schema")
            if isinstance(schema, Mapping):
                lines.append("It must match this JSON Schema: " + json.dumps(schema, ensure_ascii=False))
        return "\n".join(lines)

    def _event_messages(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in messages:
            if m.role == "assistant":  # already in the llm.response event of the turn before
                continue
            if m.role == "tool":  # the result itself is in the tool.result event
                out.append({"role": "tool", "tool_call_id": m.tool_call_id})
                continue
            body = self.redact_text(m.content)
            if len(body) > EVENT_TEXT_LIMIT:
                body = body[:EVENT_TEXT_LIMIT] + f"… ({len(body):,} characters)"
            out.append({"role": m.role, "content": body})
        return out

    # -- one step
    async def run(self, call: AgentCall) -> Outputs:
        agent_tools = [t for t in call.agent.get("tools") or [] if isinstance(t, str)]
        mcp_tools = [t for t in agent_tools if t.startswith("mcp.")]
        tools = tool_set(agent_tools, await call.tools.describe_mcp(mcp_tools) if mcp_tools else None)
        rendered = self.render(call)
        prompt = call.prompt or {}
        prompt_ref = f"{prompt.get('name')}@{prompt.get('version')}" if prompt.get("name") else None
        call.provenance.update(
            {
                "context_packs": rendered.context_packs,
                "missing_context_pack_ids": rendered.missing_context_pack_ids,
                "model": self.provider.model,
                "provider": self.provider.name,
            }
        )
        messages: list[Message] = [
            Message("system", self.redact_text(self.system_message(call, list(tools.names.values())))),
            Message("user", self.redact_text(rendered.text)),
        ]
        output = prompt.get("output")
        wants_json = isinstance(output, Mapping) and output.get("format") == "json"
        schema = output.get("schema") if isinstance(output, Mapping) else None
        max_turns = int(call.agent.get("max_turns") or self.max_turns)
        temperature = call.agent.get("temperature")
        temperature = float(temperature) if temperature is not None else self.temperature
        tokens = {"input": 0, "output": 0}
        sent = 0  # messages already shown in an llm.request event
        turn = 0
        limit = max_turns
        repaired = False
        while True:
            if turn >= limit:
                raise StepFailed(
                    f"agent '{call.agent.get('name') or call.step_id}' used its {max_turns} turns without "
                    "a final answer (raise its max_turns, or ask for less in one step)",
                    retryable=False,
                )
            turn += 1
            response_on_record = self._from_record(call, turn, tools)
            if response_on_record is not None:  # a resumed step: this turn was answered before
                response = response_on_record
                tokens["input"] += response.usage.input_tokens
                tokens["output"] += response.usage.output_tokens
                call.provenance["tokens"] = dict(tokens)
                sent = len(messages)
            else:
                if self.budget is not None:
                    self.budget.check()
                request_event: dict[str, Any] = {
                    "turn": turn,
                    "model": self.provider.model,
                    "provider": self.provider.name,
                    "profile": self.profile_name or call.model_profile,
                    "prompt": prompt_ref,
                    "tools": list(tools.names.values()),
                    "messages": self._event_messages(messages[sent:]),
                }
                if turn == 1:
                    request_event.update(
                        {
                            "context_packs": rendered.context_packs,
                            "missing_context_pack_ids": rendered.missing_context_pack_ids,
                            "unknown_variables": rendered.unknown_variables,
                        }
                    )
                sent = len(messages)
                await call.emit(ev.LLM_REQUEST, request_event)
                try:
                    response = await self.provider.complete(
                        ChatRequest(messages=messages, tools=tools.definitions, temperature=temperature)
                    )
                except ProviderError as exc:
                    raise StepFailed(self.redact_text(str(exc)), retryable=exc.retryable) from None
                tokens["input"] += response.usage.input_tokens
                tokens["output"] += response.usage.output_tokens
                call.provenance["tokens"] = dict(tokens)
                await call.emit(ev.LLM_RESPONSE, self._response_event(turn, response, tools))
                await self._charge(call, response)
            messages.append(Message("assistant", response.text, list(response.tool_calls)))
            if response.tool_calls:
                for tc in response.tool_calls:
                    messages.append(
                        await self._run_tool(call, tools, tc.id, tc.name, tc.arguments, tc.arguments_error)
                    )
                continue
            text = response.text
            if not wants_json:
                return {"text": text}
            try:
                data = parse_json_answer(text)
                problem = schema_error(data, schema)
            except ValueError as exc:
                data, problem = None, f"it is not valid JSON: {exc}"
            else:
                if problem is not None:
                    problem = f"it does not match the prompt's schema: {problem}"
            if problem is None:
                return {"text": text, "json": data}
            if repaired:
                raise StepFailed(
                    f"the answer of step '{call.step_id}' is not the JSON its prompt asks for, even after "
                    f"one follow-up: {problem}",
                    outputs={"text": text},
                    retryable=False,
                )
            repaired = True
            limit = max(limit, turn + 1)
            messages.append(
                Message(
                    "user",
                    f"Your answer cannot be used: {problem}. Reply again with only the JSON document — "
                    "no prose, no code fences.",
                )
            )

    def _from_record(self, call: AgentCall, turn: int, tools: ToolSet) -> ChatResponse | None:
        """The response an earlier process of this run got for `turn`, when it can stand for the
        model's (the log and the budget have it already). A redacted one cannot — it would feed
        `[REDACTED]` back as if the model had said it — so from there on the model is asked again."""
        found = next((r for r in call.recorded if r.get("turn") == turn), None)
        if found is None or MASK in json.dumps(found, ensure_ascii=False, default=str):
            call.recorded = []
            return None
        wire = {tool: name for name, tool in tools.names.items()}
        calls = [
            ToolCall(
                str(c.get("id") or f"call_{turn}_{i}"),
                wire.get(str(c.get("tool")), str(c.get("tool"))),
                dict(c.get("args") or {}),
            )
            for i, c in enumerate(found.get("tool_calls") or [])
            if isinstance(c, Mapping)
        ]
        raw_tokens = found.get("tokens")
        used: Mapping[str, Any] = raw_tokens if isinstance(raw_tokens, Mapping) else {}
        return ChatResponse(
            text=str(found.get("text") or ""),
            tool_calls=calls,
            usage=Usage(int(used.get("input") or 0), int(used.get("output") or 0)),
            stop_reason=found.get("stop_reason"),
            model=str(found.get("model") or self.provider.model),
        )

    async def _charge(self, call: AgentCall, response: ChatResponse) -> None:
        if self.budget is None:
            return
        warning = self.budget.charge(
            {"input": response.usage.input_tokens, "output": response.usage.output_tokens},
            response.model or self.provider.model,
        )
        if warning:
            await call.emit(ev.LOG, {"level": "warning", "message": warning})

    def _response_event(self, turn: int, response: ChatResponse, tools: ToolSet) -> dict[str, Any]:
        data: dict[str, Any] = {
            "turn": turn,
            "model": response.model or self.provider.model,
            "text": self.redact_text(response.text),
            "tool_calls": [
                {"id": c.id, "tool": tools.tool_for(c.name), "args": self.redact(c.arguments)}
                for c in response.tool_calls
            ],
            "tokens": {"input": response.usage.input_tokens, "output": response.usage.output_tokens},
            "stop_reason": response.stop_reason,
        }
        if not response.usage.reported:
            data["tokens_estimated"] = True
        return data

    async def _run_tool(
        self,
        call: AgentCall,
        tools: ToolSet,
        call_id: str,
        wire: str,
        args: dict[str, Any],
        args_error: str | None,
    ) -> Message:
        tool = tools.tool_for(wire)
        if args_error is not None:
            result: dict[str, Any] = {
                "error": f"{tool} was not run: {args_error}; call it again with a JSON object as arguments"
            }
        else:
            result = await call.tools.call(tool, args)
        content = json.dumps(self.redact(result), ensure_ascii=False, default=str)
        if len(content) > TOOL_RESULT_LIMIT:
            content = content[:TOOL_RESULT_LIMIT] + f"… (truncated: {len(content):,} characters in all)"
        return Message("tool", content, tool_call_id=call_id, is_error="error" in result)


# -- the factory ---------------------------------------------------------------------------------------
def runtime_for(
    profile: Mapping[str, Any],
    budget: Budget | None = None,
    *,
    profile_name: str | None = None,
    project: Mapping[str, Any] | None = None,
    context_packs: Mapping[str, Mapping[str, Any]] | None = None,
    redactor: Redactor | None = None,
    environ: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
    **provider_overrides: Any,
) -> AgentRuntime | None:
    """The runtime of a model profile: None for `scripted` (the engine keeps its ScriptedAgent), an
    LlmAgent for `openai` and `anthropic`. A profile that cannot work (unknown provider, no model)
    raises StepFailed, not retryable. `provider_overrides` set ProviderConfig fields."""
    kind = profile.get("provider")
    if kind in (None, "", "scripted"):
        return None
    try:
        provider = provider_for(
            profile,
            profile_name=profile_name,
            client=client,
            sleep=sleep,
            environ=environ,
            **provider_overrides,
        )
    except ProviderError as exc:
        raise StepFailed(str(exc), retryable=False) from None
    env_name = provider.config.api_key_env
    return LlmAgent(
        provider,
        profile_name=profile_name,
        budget=budget,
        project=project,
        context_packs=context_packs,
        redactor=redactor,
        secret_env=[env_name] if env_name else [],
        environ=environ,
    )


class AgentRouter:
    """An AgentRuntime for a whole run: each call goes to the runtime of its agent's model profile
    (`call.model_profile`, else `models.default`); scripted profiles go to `fallback`."""

    def __init__(
        self,
        profiles: Mapping[str, Mapping[str, Any]],
        fallback: AgentRuntime,
        *,
        default_profile: str | None = None,
        budget: Budget | None = None,
        **runtime_kwargs: Any,
    ) -> None:
        self.profiles = profiles
        self.fallback = fallback
        self.default_profile = default_profile
        self.budget = budget
        self.runtime_kwargs = runtime_kwargs
        self._runtimes: dict[str, AgentRuntime | None] = {}

    @classmethod
    def for_project(
        cls,
        project: Mapping[str, Any],
        fallback: AgentRuntime,
        *,
        context_packs: Mapping[str, Mapping[str, Any]] | None = None,
        redactor: Redactor | None = None,
        budget: Budget | None = None,
        **runtime_kwargs: Any,
    ) -> AgentRouter:
        """From builderos.yaml data: its model profiles, default profile and `budgets:`."""
        models = project.get("models")
        models = models if isinstance(models, Mapping) else {}
        profiles = models.get("profiles")
        return cls(
            profiles if isinstance(profiles, Mapping) else {},
            fallback,
            default_profile=str(models["default"]) if models.get("default") else None,
            budget=budget if budget is not None else Budget.from_project(project),
            project=project,
            context_packs=context_packs,
            redactor=redactor,
            **runtime_kwargs,
        )

    def runtime(self, profile_name: str | None) -> AgentRuntime:
        name = profile_name or self.default_profile
        if name is None:
            return self.fallback
        if name not in self._runtimes:
            profile = self.profiles.get(name)
            self._runtimes[name] = (
                runtime_for(profile, self.budget, profile_name=name, **self.runtime_kwargs)
                if isinstance(profile, Mapping)
                else None
            )
        return self._runtimes[name] or self.fallback

    async def run(self, call: AgentCall) -> Outputs:
        return await self.runtime(call.model_profile).run(call)
