"""MCP servers declared in builderos.yaml (`mcp.servers`), reached over stdio with the `mcp` SDK.

A server starts on the first call a run makes to one of its tools and stops when the run ends.
Each connection lives in a task of its own: the SDK's streams are anyio context managers that must
be entered and left by the same task, while the calls come from whichever step needs them. Calls
to one server are served in order; a call that outlives its time-out is cancelled, and its late
answer is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builderos.engine.interfaces import StepFailed

SERVICE_KEY = "mcp"
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 120.0
STDERR_TAIL = 600


@dataclass(frozen=True, slots=True)
class McpTool:
    """A tool a server offers: `mcp.<server>.<name>` in BuilderOS."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]

    @property
    def qualified(self) -> str:
        return f"mcp.{self.server}.{self.name}"


def split_tool(tool: str) -> tuple[str, str] | None:
    """`mcp.<server>.<tool>` → (server, tool); None for any other name."""
    parts = tool.split(".", 2)
    if len(parts) != 3 or parts[0] != "mcp" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


@dataclass(slots=True)
class _Job:
    tool: str
    args: dict[str, Any]
    done: asyncio.Future[dict[str, Any]]


@dataclass(slots=True)
class _Connection:
    """One server process and its session, owned by one task."""

    name: str
    command: str
    args: list[str]
    env: dict[str, str]
    cwd: Path
    tools: asyncio.Future[list[McpTool]] = field(init=False)
    jobs: asyncio.Queue[_Job | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.tools = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        self.task = asyncio.create_task(self._serve(), name=f"mcp:{self.name}")

    async def _serve(self) -> None:
        from mcp import ClientSession  # imported on first use: the SDK is large
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=self.command, args=self.args, env=self.env or None, cwd=str(self.cwd)
        )
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            try:
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    listing = await session.list_tools()
                    self.tools.set_result(
                        [
                            McpTool(self.name, t.name, t.description or "", dict(t.input_schema or {}))
                            for t in listing.tools
                        ]
                    )
                    await self._answer(session)
            except Exception as exc:  # the SDK raises groups, OSErrors, protocol errors alike
                reason = self._why(exc, errlog)
                if not self.tools.done():
                    self.tools.set_exception(StepFailed(reason, retryable=False))
                self._fail_pending(reason)

    async def _answer(self, session: Any) -> None:
        while (job := await self.jobs.get()) is not None:
            if job.done.done():  # its caller gave up (timed out or was cancelled) before it was sent
                continue
            call = asyncio.ensure_future(session.call_tool(job.tool, job.args))
            job.done.add_done_callback(_cancel_with(call))
            try:
                result = await call
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not call.cancelled() or (task is not None and task.cancelling()):
                    raise
                continue  # the caller timed out: its answer, if it ever comes, is dropped
            except Exception as exc:
                if not job.done.done():
                    job.done.set_exception(StepFailed(f"mcp.{self.name}.{job.tool}: {_one_line(exc)}"))
                continue
            if not job.done.done():
                job.done.set_result(_result(result))
        self._fail_pending("the run ended")

    def _fail_pending(self, reason: str) -> None:
        while not self.jobs.empty():
            job = self.jobs.get_nowait()
            if job is not None and not job.done.done():
                job.done.set_exception(StepFailed(f"MCP server '{self.name}': {reason}"))

    def _why(self, exc: BaseException, errlog: Any) -> str:
        errlog.seek(0)
        tail = errlog.read()[-STDERR_TAIL:].strip().replace("\n", " | ")
        text = f"MCP server '{self.name}' ({self.command}) stopped: {_one_line(exc)}"
        return f"{text}; its last output: {tail}" if tail else text

    async def close(self) -> None:
        if self.task is None:
            return
        self.jobs.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 5.0)
        except (TimeoutError, Exception):
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


def _cancel_with(call: asyncio.Future[Any]) -> Any:
    """A done-callback: when the caller gives up on its answer, the request is cancelled too."""

    def callback(done: asyncio.Future[dict[str, Any]]) -> None:
        if done.cancelled():
            call.cancel()

    return callback


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _one_line(exc.exceptions[0])
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _result(result: Any) -> dict[str, Any]:
    """A CallToolResult as the agent and the record see it: text, structured content, error flag."""
    texts = [str(getattr(c, "text", "")) for c in result.content or [] if getattr(c, "type", "") == "text"]
    out: dict[str, Any] = {"content": "\n".join(texts)}
    others = [getattr(c, "type", "?") for c in result.content or [] if getattr(c, "type", "") != "text"]
    if others:
        out["other_content"] = others
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        out["structured"] = structured
    if getattr(result, "is_error", False):
        out["error"] = out["content"] or "the tool reported an error"
    return out


class McpHub:
    """The declared MCP servers of a workspace, for one run (a service the engine closes at the end)."""

    def __init__(self, servers: dict[str, Any], workspace: Path) -> None:
        self.specs = {name: spec for name, spec in servers.items() if isinstance(spec, dict)}
        self.workspace = workspace
        self.connections: dict[str, _Connection] = {}
        self.calls = 0

    def declared(self, server: str) -> bool:
        return server in self.specs

    def _connection(self, server: str) -> _Connection:
        found = self.connections.get(server)
        if found is not None:
            return found
        spec = self.specs.get(server)
        if spec is None:
            raise StepFailed(f"no MCP server '{server}' in builderos.yaml (mcp.servers)", retryable=False)
        env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
        if env:  # the SDK's safe default environment (PATH, HOME…) plus the declared variables
            env = {**_default_env(), **env}
        conn = _Connection(
            server,
            str(spec.get("command")),
            [str(a) for a in spec.get("args") or []],
            env,
            self.workspace,
        )
        conn.start()
        self.connections[server] = conn
        return conn

    async def tools(self, server: str) -> list[McpTool]:
        conn = self._connection(server)
        try:
            return await asyncio.wait_for(asyncio.shield(conn.tools), START_TIMEOUT_S)
        except TimeoutError:
            raise StepFailed(
                f"MCP server '{server}' did not answer within {START_TIMEOUT_S:g}s of starting"
            ) from None

    async def describe(self, tool: str) -> McpTool | None:
        """The server's description of `mcp.<server>.<tool>` (None when it does not offer it)."""
        parts = split_tool(tool)
        if parts is None:
            return None
        return next((t for t in await self.tools(parts[0]) if t.name == parts[1]), None)

    async def call(self, tool: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
        parts = split_tool(tool)
        if parts is None:
            raise StepFailed(f"{tool} is not an MCP tool name (mcp.<server>.<tool>)", retryable=False)
        server, name = parts
        offered = await self.tools(server)
        if not any(t.name == name for t in offered):
            known = ", ".join(sorted(t.name for t in offered)) or "none"
            raise StepFailed(
                f"MCP server '{server}' has no tool '{name}' (it offers: {known})", retryable=False
            )
        conn = self._connection(server)
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.calls += 1
        conn.jobs.put_nowait(_Job(name, args, done))
        try:
            return await asyncio.wait_for(done, timeout)
        except TimeoutError:
            raise StepFailed(f"{tool} did not answer within {timeout:g}s") from None

    async def close(self) -> None:
        for conn in list(self.connections.values()):
            await conn.close()
        self.connections.clear()


def _default_env() -> dict[str, str]:
    from mcp.client.stdio import get_default_environment

    return dict(get_default_environment())


def hub_for(services: dict[str, Any], project: dict[str, Any], workspace: Path) -> McpHub | None:
    """The run's hub (made on first use), or None when builderos.yaml declares no MCP server."""
    hub = services.get(SERVICE_KEY)
    if isinstance(hub, McpHub):
        return hub
    mcp = project.get("mcp") if isinstance(project, dict) else None
    servers = mcp.get("servers") if isinstance(mcp, dict) else None
    if not isinstance(servers, dict) or not servers:
        return None
    hub = McpHub(servers, workspace)
    services[SERVICE_KEY] = hub
    return hub


__all__ = ["McpHub", "McpTool", "hub_for", "split_tool"]
