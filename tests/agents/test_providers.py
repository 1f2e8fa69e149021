"""The providers against a real HTTP server on 127.0.0.1: both protocols, streaming and not, tool
calls assembled from deltas, usage, retries, timeouts, cancellation and one-line errors."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from typing import Any

import pytest

from agents.conftest import Sleeps
from agents.stub_llm import Reply, StubLLM
from builderos.agents.providers import (
    ChatRequest,
    HttpProvider,
    Message,
    ProviderConfig,
    ProviderError,
    ToolCall,
    provider_for,
)
from builderos.agents.providers.base import retry_after_seconds
from builderos.agents.tool_schemas import tool_set

KEY = "stub-secret-key-4b9e7c21d0"
ENV = {"STUB_KEY": KEY}


def openai(stub: StubLLM, sleeps: Sleeps | None = None, **overrides: Any) -> HttpProvider:
    profile = {
        "provider": "openai",
        "base_url": stub.openai_url,
        "model": "qwen-stub",
        "api_key_env": "STUB_KEY",
    }
    return provider_for(profile, profile_name="local", sleep=sleeps, environ=ENV, **overrides)


def anthropic(stub: StubLLM, sleeps: Sleeps | None = None, **overrides: Any) -> HttpProvider:
    profile = {
        "provider": "anthropic",
        "base_url": stub.url,
        "model": "claude-stub",
        "api_key_env": "ANTHROPIC_API_KEY",
    }
    env = {"ANTHROPIC_API_KEY": KEY}
    return provider_for(profile, profile_name="claude", sleep=sleeps, environ=env, **overrides)


def request(*tools: str) -> ChatRequest:
    return ChatRequest(
        [Message("system", "You are a test."), Message("user", "Read the README.")],
        tools=tool_set(tools).definitions,
    )


TOOL_CALLS = [("fs_read", {"path": "README.md"}), ("shell_run", {"command": ["pytest", "-q", "tests/ü"]})]


# -- happy paths -----------------------------------------------------------------------------------
async def test_openai_streaming_assembles_text_tool_calls_and_usage(stub: StubLLM) -> None:
    stub.push(Reply(text="Let me look at the files.", tool_calls=TOOL_CALLS, usage=(123, 45)))
    response = await openai(stub).complete(request("fs.read", "shell.run"))
    assert response.text == "Let me look at the files."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_0", "fs_read", {"path": "README.md"}),
        ("call_1", "shell_run", {"command": ["pytest", "-q", "tests/ü"]}),
    ]
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.reported) == (
        123,
        45,
        True,
    )
    assert response.stop_reason == "tool_calls"
    sent = stub.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["model"] == "qwen-stub"
    assert [t["function"]["name"] for t in sent.body["tools"]] == ["fs_read", "shell_run"]
    assert sent.body["tools"][0]["function"]["parameters"]["required"] == ["path"]
    assert sent.body["messages"][0] == {"role": "system", "content": "You are a test."}


async def test_openai_without_streaming(stub: StubLLM) -> None:
    stub.push(Reply(tool_calls=TOOL_CALLS[:1], usage=(7, 3)))
    response = await openai(stub, stream=False).complete(request("fs.read"))
    assert "stream" not in stub.requests[0].body
    assert response.text == ""
    assert response.tool_calls == [ToolCall("call_0", "fs_read", {"path": "README.md"})]
    assert response.usage.total == 10


async def test_openai_tool_history_is_sent_back(stub: StubLLM) -> None:
    stub.push(Reply(text="done"))
    messages = [
        Message("user", "go"),
        Message("assistant", "", [ToolCall("call_0", "fs_read", {"path": "a"})]),
        Message("tool", '{"content": "x"}', tool_call_id="call_0"),
    ]
    await openai(stub).complete(ChatRequest(messages))
    sent = stub.requests[0].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "fs_read", "arguments": '{"path": "a"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_0", "content": '{"content": "x"}'}


async def test_openai_usage_is_estimated_when_the_server_sends_none(stub: StubLLM) -> None:
    stub.push(Reply.error(400, "unrecognized field: stream_options"), Reply(text="hello world, at length"))
    response = await openai(stub).complete(request())
    assert stub.count == 2
    assert "stream_options" in stub.requests[0].body and "stream_options" not in stub.requests[1].body
    assert response.text == "hello world, at length"
    assert (
        not response.usage.reported and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    )


async def test_anthropic_streaming_assembles_text_tool_use_and_usage(stub: StubLLM) -> None:
    stub.push(Reply(text="Reading.", tool_calls=TOOL_CALLS, usage=(321, 54)))
    response = await anthropic(stub).complete(request("fs.read", "shell.run"))
    assert response.text == "Reading."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_0", "fs_read", {"path": "README.md"}),
        ("toolu_1", "shell_run", {"command": ["pytest", "-q", "tests/ü"]}),
    ]
    assert (response.usage.input_tokens, response.usage.output_tokens) == (321, 54)
    assert response.stop_reason == "tool_use"
    sent = stub.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == "You are a test."
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Read the README."}]}
    ]
    assert sent.body["max_tokens"] == 4096 and sent.body["stream"] is True
    assert [t["name"] for t in sent.body["tools"]] == ["fs_read", "shell_run"]
    assert "input_schema" in sent.body["tools"][0]


async def test_anthropic_without_streaming_and_tool_results_as_user_blocks(stub: StubLLM) -> None:
    stub.push(Reply(text="ok", usage=(5, 2)))
    messages = [
        Message("system", "sys"),
        Message("user", "go"),
        Message(
            "assistant",
            "reading",
            [ToolCall("toolu_0", "fs_read", {"path": "a"}), ToolCall("toolu_1", "fs_read", {"path": "b"})],
        ),
        Message("tool", "A", tool_call_id="toolu_0"),
        Message("tool", "denied", tool_call_id="toolu_1", is_error=True),
    ]
    response = await anthropic(stub, stream=False, max_tokens=99).complete(ChatRequest(messages))
    assert response.text == "ok" and response.usage.total == 7
    body = stub.requests[0].body
    assert body["max_tokens"] == 99 and "stream" not in body
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_0",
        "name": "fs_read",
        "input": {"path": "a"},
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_0", "content": "A"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "denied", "is_error": True},
        ],
    }


@pytest.mark.parametrize("quirk", ["ignore_stream", "no_blank_lines"])
async def test_openai_server_quirks(stub: StubLLM, quirk: str) -> None:
    stub.push(Reply(text="quirky", tool_calls=TOOL_CALLS[:1], usage=(4, 2), **{quirk: True}))
    response = await openai(stub).complete(request("fs.read"))
    assert response.text == "quirky" and response.usage.total == 6
    assert response.tool_calls == [ToolCall("call_0", "fs_read", {"path": "README.md"})]


async def test_anthropic_overloaded_mid_stream_is_retried(stub: StubLLM, sleeps: Sleeps) -> None:
    stub.push(Reply(overloaded=True), Reply(text="ok"))
    assert (await anthropic(stub, sleeps).complete(request())).text == "ok"
    assert stub.count == 2 and sleeps.durations == [1.0]


# -- retries -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [openai, anthropic])
async def test_retries_honour_retry_after_then_back_off(stub: StubLLM, sleeps: Sleeps, make: Any) -> None:
    stub.push(
        Reply.error(429, "slow down", headers={"Retry-After": "7"}),
        Reply.error(500, "oops"),
        Reply.error(503, "busy", headers={"retry-after-ms": "250"}),
        Reply(text="finally"),
    )
    response = await make(stub, sleeps, max_attempts=5).complete(request())
    assert response.text == "finally"
    assert sleeps.durations == [7.0, 2.0, 0.25]
    assert stub.count == 4


async def test_retry_after_as_an_http_date(stub: StubLLM, sleeps: Sleeps) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    stub.push(Reply.error(429, headers={"Retry-After": when}), Reply(text="ok"))
    await openai(stub, sleeps).complete(request())
    assert len(sleeps.durations) == 1 and 27.0 <= sleeps.durations[0] <= 30.0


def test_retry_after_parsing_and_cap() -> None:
    import httpx

    assert retry_after_seconds(httpx.Headers({"retry-after": "3"})) == 3.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert retry_after_seconds(httpx.Headers({"retry-after": past})) == 0.0


async def test_long_retry_after_is_capped_and_backoff_is_capped(stub: StubLLM, sleeps: Sleeps) -> None:
    stub.push(
        Reply.error(429, headers={"Retry-After": "86400"}),
        Reply.error(502),
        Reply.error(502),
        Reply.error(502),
        Reply(text="ok"),
    )
    provider = openai(
        stub, sleeps, max_attempts=5, retry_after_max=60.0, backoff_initial=1.0, backoff_max=5.0
    )
    await provider.complete(request())
    assert sleeps.durations == [60.0, 2.0, 4.0, 5.0]


async def test_gives_up_after_max_attempts(stub: StubLLM, sleeps: Sleeps) -> None:
    stub.push(*[Reply.error(503, "overloaded")] * 5)
    with pytest.raises(ProviderError) as info:
        await openai(stub, sleeps, max_attempts=3).complete(request())
    assert stub.count == 3
    assert sleeps.durations == [1.0, 2.0]
    message = str(info.value)
    assert "\n" not in message and "(503)" in message and "gave up after 3 attempts" in message
    assert info.value.retryable and info.value.kind == "server"


@pytest.mark.parametrize("make", [openai, anthropic])
@pytest.mark.parametrize(("fault", "stream"), [("malformed", True), ("malformed", False), ("cut", True)])
async def test_malformed_or_cut_is_retried_once(
    stub: StubLLM, sleeps: Sleeps, make: Any, fault: str, stream: bool
) -> None:
    bad = Reply(text="some text here", tool_calls=TOOL_CALLS, **{fault: True})
    stub.push(bad, Reply(text="good"))
    assert (await make(stub, sleeps, stream=stream).complete(request())).text == "good"
    assert stub.count == 2

    stub.push(bad, bad, Reply(text="never asked for"))
    with pytest.raises(ProviderError) as info:
        await make(stub, sleeps, stream=stream).complete(request())
    assert stub.count == 4  # retried once only, though max_attempts allows more
    assert info.value.kind == "protocol" and "\n" not in str(info.value)
    assert ("malformed" if fault == "malformed" else "cut") in str(info.value)


# -- timeouts and cancellation ---------------------------------------------------------------------
async def test_a_hang_hits_the_read_timeout_and_is_not_retried(stub: StubLLM, sleeps: Sleeps) -> None:
    stub.push(Reply(text="too late", hang=1.0), Reply(text="never asked for"))
    provider = openai(stub, sleeps, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await provider.complete(request())
    assert time.monotonic() - started < 0.9
    assert info.value.kind == "timeout" and info.value.retryable
    assert str(info.value).startswith(f"no response from {stub.openai_url} within 0.3s (read timeout)")
    await asyncio.sleep(0.9)  # the stub answers late, to nobody
    assert stub.count == 1 and sleeps.durations == []


async def test_cancellation_closes_the_stream(stub: StubLLM) -> None:
    stub.push(Reply(text="a long answer that stalls halfway", stall=3.0))
    task = asyncio.create_task(openai(stub).complete(request()))
    await asyncio.sleep(0.3)  # the stream is open and pinging
    assert not task.done()
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
    for _ in range(40):  # the stub notices the closed connection on its next write
        if stub.disconnects:
            break
        await asyncio.sleep(0.05)
    assert stub.disconnects == 1 and stub.count == 1


# -- one-line errors -----------------------------------------------------------------------------------
async def test_refused_key_is_one_line_without_the_key(stub: StubLLM) -> None:
    stub.push(Reply.error(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key"))
    with pytest.raises(ProviderError) as info:
        await anthropic(stub).complete(request())
    assert str(info.value) == "the API key in $ANTHROPIC_API_KEY was refused (401)"
    assert not info.value.retryable and stub.count == 1

    stub.push(Reply.error(403, f"forbidden for {KEY}"))
    with pytest.raises(ProviderError) as info:
        await openai(stub).complete(request())
    assert str(info.value) == "the API key in $STUB_KEY was refused (403)"


async def test_unknown_model_is_one_line(stub: StubLLM) -> None:
    stub.push(Reply.error(404, 'model "qwen-stub" not found, try pulling it first'))
    with pytest.raises(ProviderError) as info:
        await openai(stub).complete(request())
    assert info.value.kind == "model" and not info.value.retryable
    assert str(info.value) == (
        f"unknown model 'qwen-stub' at {stub.openai_url} (404): "
        'model "qwen-stub" not found, try pulling it first'
    )
    stub.push(Reply.error(400, "The model `x` does not exist", code="model_not_found"))
    with pytest.raises(ProviderError) as info:
        await openai(stub).complete(request())
    assert info.value.kind == "model"
    stub.push(
        Reply(
            status=404,
            body='{"type":"error","error":{"type":"not_found_error","message":"model: claude-stub"}}',
        )
    )
    with pytest.raises(ProviderError) as info:
        await anthropic(stub).complete(request())
    assert str(info.value).startswith(f"unknown model 'claude-stub' at {stub.url} (404)")


async def test_wrong_path_404_hints_at_base_url(stub: StubLLM, sleeps: Sleeps) -> None:
    profile = {"provider": "openai", "base_url": stub.url, "model": "m"}  # no /v1
    with pytest.raises(ProviderError) as info:
        await provider_for(profile, sleep=sleeps).complete(request())
    assert stub.count == 1 and not info.value.retryable
    assert "is base_url right?" in str(info.value)


async def test_an_unreachable_server_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    provider = provider_for({"provider": "openai", "base_url": base, "model": "m"})
    with pytest.raises(ProviderError) as info:
        await provider.complete(request())
    assert str(info.value) == f"cannot reach {base}: connection refused — is the server running?"
    assert info.value.kind == "unreachable" and provider.requests_sent == 1


async def test_a_missing_key_fails_before_any_request(stub: StubLLM) -> None:
    profile = {"provider": "openai", "base_url": stub.openai_url, "model": "m", "api_key_env": "NOPE_KEY"}
    with pytest.raises(ProviderError) as info:
        await provider_for(profile, profile_name="local", environ={}).complete(request())
    assert str(info.value) == "no API key: set $NOPE_KEY (model profile 'local' reads its key from it)"
    assert stub.count == 0


async def test_the_default_key_goes_only_to_the_vendor(stub: StubLLM) -> None:
    stub.push(Reply(text="hi"))
    profile = {"provider": "openai", "base_url": stub.openai_url, "model": "m"}
    await provider_for(profile, environ={"OPENAI_API_KEY": KEY}).complete(request())
    assert "authorization" not in stub.requests[0].headers
    vendor = ProviderConfig.from_profile({"provider": "openai", "model": "gpt-4o"})
    assert vendor.base_url == "https://api.openai.com/v1" and vendor.api_key_env == "OPENAI_API_KEY"
    assert vendor.api_key_required


def test_config_from_profile() -> None:
    config = ProviderConfig.from_profile(
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "timeout": "90s",
            "max_tokens": 512,
            "temperature": 0.2,
        },
        "claude",
        max_attempts=2,
    )
    assert (config.base_url, config.api_key_env, config.timeout, config.max_tokens) == (
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        90.0,
        512,
    )
    assert config.max_attempts == 2 and config.temperature == 0.2
    with pytest.raises(ProviderError, match="names no model"):
        ProviderConfig.from_profile({"provider": "openai"}, "local")
    with pytest.raises(ProviderError, match="expected openai or anthropic"):
        ProviderConfig.from_profile({"provider": "scripted"}, "offline")
