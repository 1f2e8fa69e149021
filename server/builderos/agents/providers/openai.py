"""OpenAI Chat Completions, the protocol OpenAI, Ollama, vLLM, llama.cpp's server and LM Studio speak.

`POST {base_url}/chat/completions` with `tools` and `stream: true`: the reply is server-sent events
of `chat.completion.chunk` objects, tool calls arrive as deltas keyed by `index` (the name first,
then pieces of the argument text), usage comes in a last chunk with empty `choices` when
`stream_options.include_usage` is set, and `data: [DONE]` ends the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from builderos.agents.providers.base import (
    ChatRequest,
    ChatResponse,
    HttpProvider,
    Message,
    ToolCall,
    Usage,
    parse_arguments,
    sse_events,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content})
    return out


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIProvider(HttpProvider):
    name = "openai"
    path = "/chat/completions"

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(request.messages)}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        temperature = request.temperature if request.temperature is not None else self.config.temperature
        if temperature is not None:
            body["temperature"] = temperature
        max_tokens = request.max_tokens or self.config.max_tokens
        if max_tokens:
            body["max_tokens"] = max_tokens
        if self.config.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def fallback_body(self, body: dict[str, Any], status: int, message: str) -> dict[str, Any] | None:
        # a few older servers reject `stream_options`; usage is then estimated
        if "stream_options" in body and "stream_options" in message:
            return {k: v for k, v in body.items() if k != "stream_options"}
        return None

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return headers

    def parse_body(self, data: Any) -> ChatResponse:
        if not isinstance(data, dict):
            raise self.malformed("the response is not a JSON object")
        if "error" in data:
            message = data["error"].get("message") if isinstance(data["error"], dict) else data["error"]
            raise self.stream_error(str(message or ""), "")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.malformed("it has no `choices`")
        message = choices[0].get("message") or {}
        calls: list[ToolCall] = []
        for i, raw in enumerate(message.get("tool_calls") or []):
            fn = raw.get("function") or {}
            arguments = fn.get("arguments")
            if isinstance(arguments, dict):  # some servers send an object, not its text
                args, error = arguments, None
            else:
                args, error = parse_arguments(str(arguments or ""))
            calls.append(ToolCall(str(raw.get("id") or f"call_{i}"), str(fn.get("name") or ""), args, error))
        return ChatResponse(
            text=str(message.get("content") or ""),
            tool_calls=calls,
            usage=_usage(data.get("usage")),
            stop_reason=choices[0].get("finish_reason"),
            model=str(data.get("model") or self.model),
        )

    async def read_stream(self, response: httpx.Response) -> ChatResponse:
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        usage = Usage(reported=False)
        finish: str | None = None
        model = self.model
        done = False
        async for chunk in self._chunks(response):
            if chunk is None:
                done = True
                break
            if not isinstance(chunk, dict):
                raise self.malformed("a stream chunk is not a JSON object")
            if "error" in chunk:
                err = chunk["error"]
                message = err.get("message") if isinstance(err, dict) else err
                code = (err.get("code") or err.get("type")) if isinstance(err, dict) else ""
                raise self.stream_error(str(message or ""), str(code or ""))
            model = str(chunk.get("model") or model)
            if isinstance(chunk.get("usage"), dict):
                usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if content:
                    text.append(str(content))
                for raw in delta.get("tool_calls") or []:
                    _add_call_delta(calls, raw)
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
        if not done and finish is None:
            raise self.cut("no [DONE] and no finish_reason")
        tool_calls = []
        for i in sorted(calls):
            part = calls[i]
            args, error = parse_arguments("".join(part.arguments))
            tool_calls.append(ToolCall(part.id or f"call_{i}", part.name, args, error))
        return ChatResponse("".join(text), tool_calls, usage, finish, model)

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[Any]:
        """The JSON chunks of the stream, then None for `[DONE]`."""
        async for event in sse_events(response.aiter_lines()):
            # one chunk per event; a server that omits the blank lines between events gets them
            # joined by the SSE rules, so such data is read line by line
            lines = [event.data] if "\n" not in event.data else event.data.split("\n")
            for line in lines:
                if line.strip() == "[DONE]":
                    yield None
                    return
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise self.malformed(f"a stream chunk is not JSON ({exc})") from None


def _add_call_delta(calls: dict[int, _PartialCall], raw: Any) -> None:
    if not isinstance(raw, dict):
        return
    index = raw.get("index")
    if not isinstance(index, int):
        # servers that send whole calls without an index (older Ollama): match by id, else a new call
        found = next((i for i, c in calls.items() if raw.get("id") and c.id == raw.get("id")), None)
        index = found if found is not None else len(calls)
    part = calls.setdefault(index, _PartialCall())
    if raw.get("id"):
        part.id = str(raw["id"])
    fn = raw.get("function") or {}
    if fn.get("name"):
        part.name = str(fn["name"])
    arguments = fn.get("arguments")
    if isinstance(arguments, dict):
        part.arguments = [json.dumps(arguments)]
    elif arguments:
        part.arguments.append(str(arguments))


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage(reported=False)
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0), reported=True)
