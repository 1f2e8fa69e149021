"""The provider interface (chat with tools), and the HTTP machinery both real providers share.

`HttpProvider.complete` sends one request through `httpx.AsyncClient` and:
- retries 429, 408 and 5xx, honouring `Retry-After` (seconds or an HTTP date) and `retry-after-ms`,
  with capped exponential backoff otherwise, up to `max_attempts` requests in all;
- retries a malformed JSON body or a stream cut mid-way once;
- does not retry a read timeout or an unreachable server (the step's own `retries:` decide), so a
  late answer to a request given up on is never read;
- closes the response when the calling task is cancelled (the `async with` around the stream);
- turns every failure into a one-line `ProviderError` that never holds the API key.

The key is read from the environment variable the profile names, at request time, and only ever
goes into a request header.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

import httpx

from builderos.model.common import duration_seconds

Role = Literal["system", "user", "assistant", "tool"]
Sleep = Callable[[float], Awaitable[None]]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"})


# -- the data ------------------------------------------------------------------------------------
@dataclass(slots=True)
class ToolCall:
    """A tool call the model asked for (`name` is the wire name, e.g. `fs_read`)."""

    id: str
    name: str
    arguments: dict[str, Any]
    #: why the model's argument text did not parse as a JSON object (then `arguments` is empty)
    arguments_error: str | None = None


@dataclass(slots=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # for role "tool": the call it answers
    is_error: bool = False  # for role "tool": the result is an error


@dataclass(frozen=True, slots=True)
class ToolDef:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON Schema of the arguments


@dataclass(slots=True)
class ChatRequest:
    messages: list[Message]
    tools: list[ToolDef] = field(default_factory=list)
    temperature: float | None = None  # None: the profile's
    max_tokens: int | None = None  # None: the profile's


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    #: False when the server did not report usage and the counts are estimates (4 characters a token)
    reported: bool = True

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class ChatResponse:
    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    stop_reason: str | None = None
    model: str = ""


class Provider(Protocol):
    """A chat model with tools."""

    name: str  # "openai" | "anthropic"
    model: str
    base_url: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...


ErrorKind = Literal[
    "config",
    "auth",
    "model",
    "not_found",
    "unreachable",
    "timeout",
    "rate_limit",
    "server",
    "protocol",
    "request",
]


class ProviderError(Exception):
    """One line a person can act on; `retryable` tells whether the step may be tried again."""

    def __init__(self, message: str, *, kind: ErrorKind, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.status = status


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, error: ProviderError, delay: float | None = None, protocol: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay  # what the server asked for (Retry-After), if anything
        self.protocol = protocol  # a malformed body or a cut stream: retried once only


# -- configuration ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProviderConfig:
    provider: str
    model: str
    base_url: str
    api_key_env: str | None = None
    #: True when the key must be set (the vendor's own API, or `api_key_env` named in the profile)
    api_key_required: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0  # read timeout: the longest wait for the next bytes of a response
    connect_timeout: float = 10.0
    max_attempts: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0  # a longer Retry-After is cut to this
    stream: bool = True
    profile_name: str | None = None

    @classmethod
    def from_profile(
        cls, profile: Mapping[str, Any], profile_name: str | None = None, **overrides: Any
    ) -> ProviderConfig:
        """A config from a builderos.yaml model profile `{provider, base_url, model, api_key_env,
        temperature, max_tokens, timeout}`; keyword overrides win (e.g. `max_attempts=2`)."""
        from builderos.agents.providers import DEFAULTS  # the table lives beside the providers

        kind = str(profile.get("provider") or "")
        if kind not in DEFAULTS:
            raise ProviderError(
                f"model profile '{profile_name or '?'}' has provider '{kind}': expected openai or anthropic",
                kind="config",
                retryable=False,
            )
        default_url, default_env = DEFAULTS[kind]
        base_url = str(profile.get("base_url") or default_url).rstrip("/")
        # the vendor's default variable is read only for the vendor's own API: a key is never sent
        # to another server unless the profile names its variable
        named_env = profile.get("api_key_env")
        vendor = base_url == default_url
        api_key_env = str(named_env) if named_env else (default_env if vendor else None)
        required = bool(named_env) or vendor
        model = str(profile.get("model") or "")
        if not model:
            raise ProviderError(
                f"model profile '{profile_name or '?'}' names no model: add `model:` to it",
                kind="config",
                retryable=False,
            )
        timeout = profile.get("timeout")
        read_timeout = duration_seconds(timeout) if timeout is not None else 120.0
        temperature = profile.get("temperature")
        max_tokens = profile.get("max_tokens")
        config = cls(
            provider=kind,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            api_key_required=required,
            temperature=float(temperature) if temperature is not None else None,
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            timeout=read_timeout,
            connect_timeout=min(10.0, read_timeout),
            profile_name=profile_name,
        )
        return replace(config, **overrides) if overrides else config


def is_local_url(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


# -- helpers ----------------------------------------------------------------------------------------
def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def _cause_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 12:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def connect_reason(exc: BaseException) -> str:
    chain = _cause_chain(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "the host name does not resolve"
    if any(isinstance(e, httpx.ConnectTimeout) for e in chain):
        return "no answer to the connection attempt"
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower() or "all connection attempts failed" in text.lower():
        return "connection refused"
    return one_line(text, 120)


def error_message_of(body: bytes) -> tuple[str, str]:
    """(message, code or type) from an error body in the OpenAI, Anthropic or Ollama shape."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace").strip(), ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type") or ""
        return str(err.get("message") or ""), str(code)
    if isinstance(err, str):
        return err, ""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"]), str(data.get("type") or "")
    return "", ""


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


@dataclass(slots=True)
class SseEvent:
    event: str
    data: str


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    """Server-sent events from a stream of lines (`event:`, `data:`, blank line ends an event)."""
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield SseEvent(event or "message", "\n".join(data))


# -- the shared HTTP provider ---------------------------------------------------------------------------
class HttpProvider:
    """Retries, timeouts, cancellation and one-line errors; subclasses speak the wire protocol."""

    name = ""
    path = ""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.model = config.model
        self.base_url = config.base_url
        self._client = client
        self._sleep: Sleep = sleep or asyncio.sleep
        self._environ = environ
        self.requests_sent = 0
        self._key: str | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- what subclasses provide
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        raise NotImplementedError

    def headers(self, api_key: str | None) -> dict[str, str]:
        raise NotImplementedError

    async def read_stream(self, response: httpx.Response) -> ChatResponse:
        raise NotImplementedError

    def parse_body(self, data: Any) -> ChatResponse:
        raise NotImplementedError

    def fallback_body(self, body: dict[str, Any], status: int, message: str) -> dict[str, Any] | None:
        """A body to send instead when the server rejected an optional field (400); None: give up."""
        return None

    # -- the key
    def api_key(self) -> str | None:
        env_name = self.config.api_key_env
        if not env_name:
            return None
        source = os.environ if self._environ is None else self._environ
        key = source.get(env_name, "").strip()
        if key:
            return key
        if self.config.api_key_required:
            profile = f"model profile '{self.config.profile_name}'" if self.config.profile_name else "it"
            raise ProviderError(
                f"no API key: set ${env_name} ({profile} reads its key from it)",
                kind="config",
                retryable=False,
            )
        return None

    def redact(self, text: str) -> str:
        key = self._key
        return text.replace(key, "[REDACTED]") if key and len(key) >= 4 else text

    @property
    def url(self) -> str:
        return self.base_url + self.path

    # -- one completion
    async def complete(self, request: ChatRequest) -> ChatResponse:
        key = self.api_key()
        self._key = key
        body = self.build_body(request)
        client = self._client or httpx.AsyncClient(
            timeout=self._timeout(), follow_redirects=False, verify=self._ssl_context()
        )
        try:
            return await self._complete(client, body, key)
        finally:
            if self._client is None:
                await client.aclose()

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:  # building one costs ~40 ms: once per provider
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.config.connect_timeout,
            read=self.config.timeout,
            write=self.config.timeout,
            pool=self.config.connect_timeout,
        )

    async def _complete(
        self, client: httpx.AsyncClient, body: dict[str, Any], key: str | None
    ) -> ChatResponse:
        attempt = 0
        protocol_retried = False
        while True:
            attempt += 1
            try:
                response = await self._attempt(client, body, key)
            except _BodyFallback as fb:
                body = fb.body
                attempt -= 1  # the server refused an optional field; not a failed attempt
                continue
            except _Retry as r:
                if attempt >= self.config.max_attempts or (r.protocol and protocol_retried):
                    err = r.error
                    if attempt > 1:
                        err = ProviderError(
                            f"{err} (gave up after {attempt} attempts)",
                            kind=err.kind,
                            retryable=err.retryable,
                            status=err.status,
                        )
                    raise err from None
                protocol_retried = protocol_retried or r.protocol
                backoff = min(self.config.backoff_max, self.config.backoff_initial * 2 ** (attempt - 1))
                delay = backoff if r.delay is None else min(r.delay, self.config.retry_after_max)
                await self._sleep(delay)
                continue
            if not response.usage.reported:
                response.usage = Usage(
                    estimate_tokens(json.dumps(body.get("messages", ""), ensure_ascii=False))
                    + estimate_tokens(str(body.get("system", ""))),
                    estimate_tokens(response.text)
                    + sum(estimate_tokens(json.dumps(c.arguments)) for c in response.tool_calls),
                    reported=False,
                )
            return response

    async def _attempt(
        self, client: httpx.AsyncClient, body: dict[str, Any], key: str | None
    ) -> ChatResponse:
        try:
            self.requests_sent += 1
            async with client.stream(
                "POST", self.url, json=body, headers=self.headers(key), timeout=self._timeout()
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._http_error(response, body, key)
                content_type = response.headers.get("content-type", "")
                if body.get("stream") and not content_type.startswith("application/json"):
                    return await self.read_stream(response)
                # not streaming, or a server that answered a streaming request with one JSON body
                raw = await response.aread()
                try:
                    data = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise self.malformed(f"the response body is not JSON ({exc})") from None
                return self.parse_body(data)
        except httpx.ConnectTimeout:
            raise ProviderError(
                f"cannot reach {self.base_url}: no answer within {self.config.connect_timeout:g}s "
                "— is the server running?",
                kind="unreachable",
                retryable=True,
            ) from None
        except httpx.ConnectError as exc:
            raise ProviderError(
                f"cannot reach {self.base_url}: {connect_reason(exc)} — is the server running?",
                kind="unreachable",
                retryable=True,
            ) from None
        except httpx.TimeoutException:
            raise ProviderError(
                f"no response from {self.base_url} within {self.config.timeout:g}s (read timeout); "
                "raise the profile's `timeout` for a slow model",
                kind="timeout",
                retryable=True,
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise self.cut(one_line(str(exc) or type(exc).__name__, 120)) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"request to {self.base_url} failed: {self.redact(one_line(str(exc), 160))}",
                kind="request",
                retryable=True,
            ) from None

    # -- errors
    def malformed(self, detail: str) -> _Retry:
        return _Retry(
            ProviderError(
                f"{self.base_url} sent a malformed response: {detail}", kind="protocol", retryable=True
            ),
            protocol=True,
        )

    def cut(self, detail: str) -> _Retry:
        return _Retry(
            ProviderError(
                f"the response stream from {self.base_url} was cut before its end ({detail})",
                kind="protocol",
                retryable=True,
            ),
            protocol=True,
        )

    def stream_error(self, message: str, code: str) -> Exception:
        """An error event inside a stream (e.g. Anthropic's `overloaded_error`)."""
        text = self.redact(one_line(message or code or "unknown error"))
        if code in ("overloaded_error", "api_error", "rate_limit_error", "server_error"):
            return _Retry(
                ProviderError(
                    f"{self.base_url} reported an error mid-stream: {text}", kind="server", retryable=True
                )
            )
        return ProviderError(
            f"{self.base_url} reported an error mid-stream: {text}", kind="server", retryable=False
        )

    def _http_error(self, response: httpx.Response, body: dict[str, Any], key: str | None) -> Exception:
        status = response.status_code
        message, code = error_message_of(response.content)
        message = self.redact(one_line(message))
        if status in (401, 403):
            if key is not None and self.config.api_key_env:
                text = f"the API key in ${self.config.api_key_env} was refused ({status})"
            else:
                text = (
                    f"{self.base_url} refused the request ({status}): it needs an API key — put it in an "
                    "environment variable and name that variable in the profile's api_key_env"
                )
            return ProviderError(text, kind="auth", retryable=False, status=status)
        lowered = f"{code} {message}".lower()
        if code == "model_not_found" or (
            status in (400, 404) and "model" in lowered and ("not found" in lowered or "not_found" in lowered)
        ):
            detail = f": {message}" if message else ""
            return ProviderError(
                f"unknown model '{self.model}' at {self.base_url} ({status}){detail}",
                kind="model",
                retryable=False,
                status=status,
            )
        if status == 404:
            return ProviderError(
                f"{self.url} was not found (404) — is base_url right? (OpenAI-compatible servers usually "
                "end in /v1)",
                kind="not_found",
                retryable=False,
                status=status,
            )
        detail = f": {message}" if message else ""
        if status in RETRY_STATUSES:
            kind: ErrorKind = "rate_limit" if status == 429 else "server"
            what = "rate limited by" if status == 429 else "server error from"
            return _Retry(
                ProviderError(
                    f"{what} {self.base_url} ({status}){detail}", kind=kind, retryable=True, status=status
                ),
                delay=retry_after_seconds(response.headers),
            )
        if status == 400:
            fallback = self.fallback_body(body, status, message)
            if fallback is not None:
                return _BodyFallback(fallback)
        return ProviderError(
            f"{self.base_url} rejected the request ({status}){detail}",
            kind="request",
            retryable=False,
            status=status,
        )


class _BodyFallback(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("retry with a simpler body")
        self.body = body


def parse_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    """A tool call's argument text as an object, or ({}, why it is not one)."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        return {}, f"the arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return {}, "the arguments are not a JSON object"
    return value, None
