"""Anthropic Messages API: `POST {base_url}/v1/messages` with tools and `stream: true`.

The stream is server-sent events: `message_start` (input token usage), then per content block
`content_block_start` (`text` or `tool_use` with id and name), `content_block_delta` (`text_delta`
or `input_json_delta` pieces of the tool input's JSON text) and `content_block_stop`, then
`message_delta` (stop reason, output token usage) and `message_stop`; `ping` and `error` may come
at any point.
"""

from __future__ import annotations

import json
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

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096


def to_anthropic_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, messages): tool results become `tool_result` blocks of a user message, and
    consecutive messages of one role are merged (the API wants user and assistant to alternate)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            system.append(m.content)
            continue
        blocks: list[dict[str, Any]] = []
        if m.role == "tool":
            role = "user"
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": m.content,
            }
            if m.is_error:
                block["is_error"] = True
            blocks.append(block)
        else:
            role = m.role
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
        if not blocks:
            blocks.append({"type": "text", "text": "(empty)"})
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), out


@dataclass(slots=True)
class _Block:
    type: str
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    input: dict[str, Any] | None = None


class AnthropicProvider(HttpProvider):
    name = "anthropic"
    path = "/v1/messages"

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        system, messages = to_anthropic_messages(request.messages)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens or self.config.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        temperature = request.temperature if request.temperature is not None else self.config.temperature
        if temperature is not None:
            body["temperature"] = min(1.0, temperature)  # Anthropic's range is 0..1
        if self.config.stream:
            body["stream"] = True
        return body

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "anthropic-version": API_VERSION,
        }
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def parse_body(self, data: Any) -> ChatResponse:
        if not isinstance(data, dict):
            raise self.malformed("the response is not a JSON object")
        if data.get("type") == "error":
            err = data.get("error") or {}
            raise self.stream_error(str(err.get("message") or ""), str(err.get("type") or ""))
        content = data.get("content")
        if not isinstance(content, list):
            raise self.malformed("it has no `content`")
        text: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                text.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                raw = block.get("input")
                calls.append(
                    ToolCall(
                        str(block.get("id") or f"toolu_{len(calls)}"),
                        str(block.get("name") or ""),
                        raw if isinstance(raw, dict) else {},
                        None if isinstance(raw, dict) else "the input is not a JSON object",
                    )
                )
        usage = data.get("usage")
        return ChatResponse(
            "".join(text),
            calls,
            _usage(usage) if isinstance(usage, dict) else Usage(reported=False),
            data.get("stop_reason"),
            str(data.get("model") or self.model),
        )

    async def read_stream(self, response: httpx.Response) -> ChatResponse:
        blocks: dict[int, _Block] = {}
        usage = Usage(reported=False)
        stop_reason: str | None = None
        model = self.model
        stopped = False
        async for event in sse_events(response.aiter_lines()):
            try:
                data = json.loads(event.data)
            except ValueError as exc:
                raise self.malformed(f"a stream event is not JSON ({exc})") from None
            if not isinstance(data, dict):
                raise self.malformed("a stream event is not a JSON object")
            kind = str(data.get("type") or event.event)
            if kind == "message_start":
                message = data.get("message") or {}
                model = str(message.get("model") or model)
                if isinstance(message.get("usage"), dict):
                    start = _usage(message["usage"])
                    usage = Usage(start.input_tokens, max(usage.output_tokens, start.output_tokens))
            elif kind == "content_block_start":
                raw = data.get("content_block") or {}
                block = _Block(
                    str(raw.get("type") or ""), str(raw.get("id") or ""), str(raw.get("name") or "")
                )
                if block.type == "text" and raw.get("text"):
                    block.parts.append(str(raw["text"]))
                if block.type == "tool_use" and isinstance(raw.get("input"), dict) and raw["input"]:
                    block.input = raw["input"]
                blocks[int(data.get("index") or 0)] = block
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                target = blocks.get(int(data.get("index") or 0))
                if target is None:
                    raise self.malformed("a content_block_delta for a block that never started")
                if delta.get("type") == "text_delta":
                    target.parts.append(str(delta.get("text") or ""))
                elif delta.get("type") == "input_json_delta":
                    target.parts.append(str(delta.get("partial_json") or ""))
            elif kind == "message_delta":
                stop_reason = (data.get("delta") or {}).get("stop_reason") or stop_reason
                if isinstance(data.get("usage"), dict):
                    more = data["usage"]
                    usage = Usage(
                        usage.input_tokens or _usage(more).input_tokens,
                        int(more.get("output_tokens") or usage.output_tokens),
                    )
            elif kind == "message_stop":
                stopped = True
                break
            elif kind == "error":
                err = data.get("error") or {}
                raise self.stream_error(str(err.get("message") or ""), str(err.get("type") or ""))
        if not stopped:
            raise self.cut("no message_stop")
        text: list[str] = []
        calls: list[ToolCall] = []
        for i in sorted(blocks):
            block = blocks[i]
            if block.type == "text":
                text.append("".join(block.parts))
            elif block.type == "tool_use":
                if block.parts:
                    args, error = parse_arguments("".join(block.parts))
                else:
                    args, error = block.input or {}, None
                calls.append(ToolCall(block.id or f"toolu_{i}", block.name, args, error))
        return ChatResponse("".join(text), calls, usage, stop_reason, model)


def _usage(raw: dict[str, Any]) -> Usage:
    input_tokens = (
        int(raw.get("input_tokens") or 0)
        + int(raw.get("cache_creation_input_tokens") or 0)
        + int(raw.get("cache_read_input_tokens") or 0)
    )
    return Usage(input_tokens, int(raw.get("output_tokens") or 0), reported=True)
