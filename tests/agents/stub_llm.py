"""A local stand-in for an LLM server, speaking OpenAI Chat Completions and Anthropic Messages.

A real HTTP server on 127.0.0.1 (stdlib `ThreadingHTTPServer` in a thread), scripted by the test
with a queue of replies — text, tool calls, usage — streamed (server-sent events over chunked
transfer encoding) or not, as the request asks. Faults on demand: an error status with headers
(429 + Retry-After, 500, 401...), a hang before the answer, malformed JSON, a stream cut midway, a
stream that stalls after its first events (for cancellation). It records every request (path,
headers, JSON body) and counts client disconnections it noticed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer (or fault)."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (wire name, args)
    usage: tuple[int, int] = (10, 5)  # (input, output) tokens
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # a raw body sent as is (error documents)
    hang: float = 0.0  # seconds to wait before answering at all
    stall: float = 0.0  # seconds to keep the stream open (pinging) after its first events
    cut: bool = False  # the stream stops halfway and the connection closes
    malformed: bool = False  # a body or stream chunk that is not JSON
    raw_arguments: str | None = None  # the first tool call's argument text, as is
    ignore_stream: bool = False  # answer a streaming request with one JSON body
    no_blank_lines: bool = False  # SSE `data:` lines without the blank line between events
    overloaded: bool = False  # an Anthropic `error` event (overloaded_error) after the first event

    @classmethod
    def error(
        cls, status: int, message: str = "", code: str = "", headers: dict[str, str] | None = None
    ) -> Reply:
        err: dict[str, Any] = {"message": message or f"error {status}", "type": code or "error"}
        if code:
            err["code"] = code
        return cls(status=status, body=json.dumps({"error": err}), headers=dict(headers or {}))


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def openai_events(reply: Reply, model: str, include_usage: bool) -> list[str]:
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model}

    def delta(d: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps({**base, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]})

    events = [delta({"role": "assistant", "content": ""})]
    events += [delta({"content": p}) for p in _pieces(reply.text, 4)]
    for i, (name, args) in enumerate(reply.tool_calls):
        start = {
            "index": i,
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(delta({"tool_calls": [start]}))
        text = reply.raw_arguments if (i == 0 and reply.raw_arguments is not None) else json.dumps(args)
        for p in _pieces(text, 7):
            events.append(delta({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
    events.append(delta({}, "tool_calls" if reply.tool_calls else "stop"))
    if include_usage:
        usage = {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1]}
        events.append(
            json.dumps({**base, "choices": [], "usage": {**usage, "total_tokens": sum(reply.usage)}})
        )
    events.append("[DONE]")
    return [f"data: {e}\n\n" for e in events]


def openai_body(reply: Reply, model: str) -> dict[str, Any]:
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": reply.raw_arguments
                if (i == 0 and reply.raw_arguments is not None)
                else json.dumps(args),
            },
        }
        for i, (name, args) in enumerate(reply.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1]},
    }


def anthropic_events(reply: Reply, model: str) -> list[str]:
    out: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_stub",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": reply.usage[0], "output_tokens": 1},
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if reply.text:
        out.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        for p in _pieces(reply.text, 4):
            out.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": p},
                    },
                )
            )
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for i, (name, args) in enumerate(reply.tool_calls):
        block = {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}}
        out.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        )
        text = reply.raw_arguments if (i == 0 and reply.raw_arguments is not None) else json.dumps(args)
        for p in _pieces(text, 7):
            out.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": p},
                    },
                )
            )
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    out.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if reply.tool_calls else "end_turn"},
                "usage": {"output_tokens": reply.usage[1]},
            },
        )
    )
    out.append(("message_stop", {"type": "message_stop"}))
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in out]


def anthropic_body(reply: Reply, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for i, (name, args) in enumerate(reply.tool_calls):
        content.append({"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args})
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "usage": {"input_tokens": reply.usage[0], "output_tokens": reply.usage[1]},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small writes (SSE chunks) go out at once
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        stub = self.server.stub
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        stub._record(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        known = self.path in ("/v1/chat/completions", "/v1/messages")
        reply = stub._next() if known else Reply.error(404, f"no route {self.path}")
        try:
            self._answer(stub, reply, body if isinstance(body, dict) else {})
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            stub._disconnected()
            self.close_connection = True

    def _answer(self, stub: StubLLM, reply: Reply, body: dict[str, Any]) -> None:
        if reply.hang:
            stub._release.wait(reply.hang)
        model = str(body.get("model") or "stub-model")
        anthropic = self.path.endswith("/v1/messages")
        if reply.status != 200 or reply.body is not None:
            self._send(reply.status, (reply.body or "").encode(), reply.headers)
            return
        if not body.get("stream") or reply.ignore_stream:
            if reply.malformed:
                data = b'{"choices": [ {"message": '
            else:
                doc = anthropic_body(reply, model) if anthropic else openai_body(reply, model)
                data = json.dumps(doc).encode()
            self._send(200, data, reply.headers)
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = anthropic_events(reply, model) if anthropic else openai_events(reply, model, include_usage)
        if reply.malformed:
            events = [*events[:1], "data: {not json\n\n", *events[1:]]
        if reply.overloaded:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            events = [events[0], f"event: error\ndata: {json.dumps(error)}\n\n"]
        if reply.no_blank_lines:
            events = [e.replace("\n\n", "\n") for e in events]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        half = max(1, len(events) // 2)
        for i, event in enumerate(events):
            if reply.cut and i == half:
                self.close_connection = True  # no terminating chunk: the body is incomplete
                return
            if reply.stall and i == half:
                deadline = time.monotonic() + reply.stall
                while time.monotonic() < deadline and not stub._release.is_set():
                    self._chunk(b": ping\n\n")
                    time.sleep(0.05)
            self._chunk(event.encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: StubLLM

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up (timeouts, cancellations) are part of the tests


class StubLLM:
    """Start with `with StubLLM() as stub:`; `stub.push(Reply(...))` queues answers in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._cycle: list[Reply] = []  # answers repeated in turn once the queue is empty
        self._cycle_at = 0
        self._release = threading.Event()
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def push(self, *replies: Reply) -> StubLLM:
        with self._lock:
            self._queue.extend(replies)
        return self

    def cycle(self, *replies: Reply) -> StubLLM:
        """Answer with these replies in turn, forever, whenever the queue is empty (a flaky model)."""
        with self._lock:
            self._cycle = list(replies)
            self._cycle_at = 0
        return self

    def start(self) -> StubLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def _next(self) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._cycle:
                reply = self._cycle[self._cycle_at % len(self._cycle)]
                self._cycle_at += 1
                return reply
        return Reply.error(500, "stub: no reply queued")

    def _disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1
