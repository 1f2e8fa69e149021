"""Agent tool calls through the policy gate: allow, deny (with the rule), or ask a human first.

Every call becomes a `tool.call` and a `tool.result` event (arguments and results by hash in the
tool trace); a denial also becomes a `policy.denied` event and audit record, and the agent gets a
tool result that says why, so it can adapt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builderos.catalog import TOOLS
from builderos.engine import events as ev
from builderos.engine.actions import require_action
from builderos.engine.approvals import Change
from builderos.engine.interfaces import ActionInput, EffectLedger, StepFailed
from builderos.engine.mcp_hub import McpHub, McpTool, split_tool
from builderos.engine.runlog import sha256_json
from builderos.policy.paths import (
    PathEscape,
    denied_by,
    glob_regex,
    matches,
    resolve_in_workspace,
    unusable_character,
)
from builderos.policy.redact import Redactor
from builderos.policy.rules import PolicyView

ALWAYS_DENIED_PATHS = (
    ".git/**",
    ".git",
    "**/.git/**",
    "**/.git",
    ".builderos/**",
    ".builderos",
    "**/.env",
    ".env",
)
#: Folders fs.list never walks into (besides the denied ones): nothing an agent needs lives there.
NEVER_LISTED_DIRS = (".git", ".builderos")
READ_LIMIT = 1024 * 1024
LIST_LIMIT = 1000
OUTPUT_LIMIT = 16000
COMMAND_TIMEOUT_S = 600.0
_BLANK = re.compile(r"\s")
_LAST_BLANK = re.compile(r"\s\S*\Z")

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
AskApproval = Callable[[str, str, list[Change], str], Awaitable[bool]]


class Denied(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


@dataclass(slots=True)
class ToolBox:
    """The tools of one agent for one step."""

    workspace: Path
    agent: str
    agent_tools: list[str]
    policy: PolicyView
    emit: Emit
    ask_approval: AskApproval
    ledger: EffectLedger
    run_id: str
    step_id: str
    log: Callable[[str], None]
    stubs: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    #: The step attempt these tools serve. When given, commands go through the effect ledger keyed by
    #: attempt and call number, so a resumed run does not run again a command that already ran (a
    #: retry, a new attempt, does run it again).
    attempt: int | None = None
    #: Redacts what the ledger keeps of a command's result (default: the policy's secrets).
    redact: Callable[[Any], Any] | None = None
    #: Answers allowed calls instead of running them (replay: results from the record), by
    #: tool, arguments and call number; None runs the tool.
    answer: Callable[[str, dict[str, Any], int], Awaitable[dict[str, Any] | None]] | None = None
    #: The run's MCP servers (builderos.yaml `mcp.servers`); None when none are declared.
    mcp: McpHub | None = None

    async def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call; always returns a result for the agent (errors and denials included)."""
        self.calls += 1
        n = self.calls
        if not isinstance(args, dict):
            args = {"_": args}
        await self.emit(ev.TOOL_CALL, {"n": n, "tool": tool, "args": args, "args_sha256": sha256_json(args)})
        try:
            result = await self._decide_and_run(tool, args, n)
        except Denied as exc:
            await self.emit(ev.POLICY_DENIED, {"n": n, "tool": tool, "rule": exc.rule, "reason": str(exc)})
            result = {"error": f"denied by policy ({exc.rule}): {exc}", "denied": True, "rule": exc.rule}
        except StepFailed as exc:
            result = {**exc.outputs, "error": str(exc)}
        except (OSError, ValueError) as exc:
            # the tool itself failed (a missing program, an unreadable file): the agent reads why
            result = {"error": f"{tool} failed: {exc}"}
        await self.emit(
            ev.TOOL_RESULT, {"n": n, "tool": tool, "result": result, "result_sha256": sha256_json(result)}
        )
        return result

    async def _decide_and_run(self, tool: str, args: dict[str, Any], n: int) -> dict[str, Any]:
        if not isinstance(tool, str) or (TOOLS.get(tool) is None and not self._declared_mcp(tool)):
            raise Denied("unknown tool", f"{tool!r} is not a tool BuilderOS knows")
        if tool not in self.agent_tools:
            raise Denied(f"agent {self.agent}: tools", f"{tool} is not one of agent '{self.agent}''s tools")
        decision = self.policy.tool_decision(self.agent, tool)
        if not decision.allowed:
            raise Denied(decision.rule, f"{tool} is not allowed for '{self.agent}'")
        if self.answer is not None:
            if tool in ("fs.read", "fs.write", "fs.delete"):
                self._path(args.get("path"))  # the policy's path rules still decide
            answered = await self.answer(tool, args, n)
            if answered is not None:
                return answered
        if split_tool(tool) is not None:
            return await self._mcp_call(tool, args, n)
        handler = getattr(self, "_" + tool.replace(".", "_"), None)
        if handler is None:
            raise Denied("unknown tool", f"{tool} is not available in this version")
        return await handler(args, n)  # type: ignore[no-any-return]

    # -- checks ------------------------------------------------------------------------------------
    def _path(self, raw: Any) -> str:
        """The workspace-relative path the policy lets this call touch, or Denied (with the rule)."""
        try:
            rel = resolve_in_workspace(self.workspace, raw)
        except PathEscape as exc:
            raise Denied("paths: workspace only", str(exc)) from None
        why = self._path_refusal(rel)
        if why is not None:
            raise Denied(*why)
        return rel

    def _path_refusal(self, rel: str) -> tuple[str, str] | None:
        paths = self.policy.section("paths")
        denied = denied_by(rel, [*ALWAYS_DENIED_PATHS, *list(paths.get("deny") or [])])
        if denied:
            return f"paths.deny: {denied}", f"{rel} is a protected path"
        allow = [p for p in paths.get("allow") or [] if isinstance(p, str)]
        if self.policy.default == "deny" and not matches(rel, allow):
            return "paths.allow (default: deny)", f"{rel} is not under an allowed path"
        return None

    async def _approval(self, tool: str, changes: list[Change], summary: str) -> None:
        rules = self.policy.approval_rules(tool)
        if not rules:
            return
        approved = await self.ask_approval(tool, rules[0].rule, changes, summary)
        if not approved:
            raise Denied(rules[0].rule, "a person denied this change")

    # -- tools -------------------------------------------------------------------------------------
    def _declared_mcp(self, tool: str) -> bool:
        """`mcp.<server>.<tool>` of a server builderos.yaml declares (whether it offers the tool is
        the server's to say, at call time)."""
        parts = split_tool(tool)
        return parts is not None and self.mcp is not None and self.mcp.declared(parts[0])

    async def _mcp_call(self, tool: str, args: dict[str, Any], n: int) -> dict[str, Any]:
        """A tool of a declared MCP server: approval rules as for any tool, once through the ledger
        (a resumed run gets the recorded answer instead of calling the server again)."""
        server, _name = split_tool(tool) or ("", "")
        if self.mcp is None or not self.mcp.declared(server):
            raise Denied("mcp.servers", f"no MCP server '{server}' is declared in builderos.yaml")
        hub = self.mcp
        await self._approval(tool, [], f"{self.agent} calls {tool}")

        async def perform() -> dict[str, Any]:
            return await hub.call(tool, args)

        async def reconcile(_intent: Any) -> dict[str, Any] | None:
            return None  # a server's effects cannot be looked up: the call is made again

        attempt = f"a{self.attempt}:" if self.attempt is not None else ""
        return await self.ledger.once(
            f"{self.run_id}:{self.step_id}:{attempt}tool{n}:{tool}",
            "mcp.call",
            {"tool": tool, "args_sha256": sha256_json(args)},
            perform,
            reconcile,
        )

    async def describe_mcp(self, tools: list[str]) -> dict[str, McpTool]:
        """What the declared servers say of the agent's MCP tools (for the model's tool list)."""
        out: dict[str, McpTool] = {}
        for tool in tools:
            parts = split_tool(tool)
            if parts is None or self.mcp is None or not self.mcp.declared(parts[0]):
                continue
            try:
                found = await self.mcp.describe(tool)
            except StepFailed as exc:
                self.log(f"{tool}: {exc}")
                continue
            if found is not None:
                out[tool] = found
        return out

    async def _fs_read(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        rel = self._path(args.get("path"))
        target = self.workspace / rel
        if not target.is_file():
            return {"path": rel, "error": "no such file" if not target.exists() else "not a regular file"}
        try:
            with target.open("rb") as fh:
                data = fh.read(READ_LIMIT + 1)
        except OSError as exc:
            return {"path": rel, "error": exc.strerror or str(exc)}
        if len(data) <= READ_LIMIT:
            return {"path": rel, "content": data.decode("utf-8", "replace")}
        return {
            "path": rel,
            "content": _head(data[:READ_LIMIT].decode("utf-8", "replace"), READ_LIMIT, cut=True),
            "truncated": True,
        }

    async def _fs_list(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        """Files of the workspace matching a glob, walked without following links; only files the
        policy would let the agent read are listed."""
        raw = args.get("glob", args.get("pattern")) or "**/*"
        if not isinstance(raw, str) or unusable_character(raw) is not None:
            raise Denied("paths: workspace only", f"not a usable glob: {raw!r}")
        pattern = raw[2:] if raw.startswith("./") else raw
        parts = pattern.split("/")
        if pattern.startswith(("/", "~")) or ".." in parts or "\\" in pattern:
            raise Denied("paths: workspace only", f"{raw} reaches outside the workspace")
        regex = glob_regex(pattern)
        root = Path(os.path.realpath(self.workspace))
        found: list[str] = []
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d.lower() not in NEVER_LISTED_DIRS)
            base = Path(folder).relative_to(root).as_posix()
            for name in sorted(files):
                rel = name if base == "." else f"{base}/{name}"
                if not regex.match(rel):
                    continue
                try:
                    resolved = resolve_in_workspace(root, rel)
                except PathEscape:
                    continue
                if self._path_refusal(rel) is None and self._path_refusal(resolved) is None:
                    found.append(rel)
                if len(found) >= LIST_LIMIT:
                    return {"files": found, "truncated": True}
        return {"files": found}

    async def _fs_write(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        rel = self._path(args.get("path"))
        content = str(args.get("content", ""))
        target = self.workspace / rel
        while True:
            before = target.read_text(errors="replace") if target.is_file() else None
            if before == content:
                break  # nothing would change, so there is nothing to approve (e.g. a resumed run's own write)
            change = Change(rel, before, content)
            await self._approval("fs.write", [change], f"{self.agent} writes {rel}")
            now = target.read_text(errors="replace") if target.is_file() else None
            if now == before:
                break
            self.log(f"{rel} changed while its approval waited; asking again with the new diff")
        return await require_action("fs.write").run(
            self._action_input(f"tool{n}", {"path": rel, "content": content})
        )

    async def _fs_delete(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        rel = self._path(args.get("path"))
        target = self.workspace / rel
        before = target.read_text(errors="replace") if target.is_file() else None
        if before is None:
            return {"path": rel, "deleted": False}
        await self._approval("fs.delete", [Change(rel, before, None)], f"{self.agent} deletes {rel}")

        async def perform() -> dict[str, Any]:
            target.unlink(missing_ok=True)
            return {"path": rel, "deleted": True}

        async def reconcile(_intent: Any) -> dict[str, Any] | None:
            return None if target.exists() else {"path": rel, "deleted": True}

        return await self.ledger.once(
            f"{self.run_id}:{self.step_id}:tool{n}", "fs.delete", {"path": rel}, perform, reconcile
        )

    async def _shell_run(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        command = args.get("command", args.get("argv"))
        if isinstance(command, str) and any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in command):
            raise Denied("commands: shell syntax", f"{command!r} holds a line break or control character")
        try:
            if isinstance(command, str):
                argv = shlex.split(command)
            elif isinstance(command, list) and all(isinstance(a, str) for a in command):
                argv = list(command)
            else:
                raise ValueError(f"give the command as a string or a list of strings, not {command!r}")
        except ValueError as exc:
            raise Denied("commands: not a command", str(exc)) from None
        decision = self.policy.command_decision(argv)
        line = shlex.join(argv)
        if not decision.allowed:
            raise Denied(decision.rule, decision.reason or f"'{line}' may not run")
        await self._approval("shell.run", [], f"{self.agent} runs {line}")
        stub = self.stubs.get("shell.run")
        if isinstance(stub, dict):
            return {
                "exit_code": int(stub.get("exit_code", 0)),
                "stdout": str(stub.get("stdout", "")),
                "stderr": str(stub.get("stderr", "")),
            }
        if self.attempt is None:
            return await self._exec(argv, args)

        async def perform() -> dict[str, Any]:
            result = await self._exec(argv, args)
            return dict(self._redact(result))

        async def reconcile(_intent: Any) -> dict[str, Any] | None:
            return None  # nobody knows whether an interrupted command finished: it runs again

        return await self.ledger.once(
            f"{self.run_id}:{self.step_id}:a{self.attempt}:tool{n}:shell.run",
            "shell.run",
            {"argv": self._redact(argv)},
            perform,
            reconcile,
        )

    def _redact(self, value: Any) -> Any:
        if self.redact is None:
            self.redact = Redactor.from_policy(self.policy.data).data
        return self.redact(value)

    async def _exec(self, argv: list[str], args: dict[str, Any]) -> dict[str, Any]:
        """Run a command (no shell) in its own process group; secrets named by the policy stay out
        of its environment."""
        line = shlex.join(argv)
        secret_names = set(self.policy.section("secrets").get("env") or [])
        env = {k: v for k, v in {**os.environ, **self.env}.items() if k not in secret_names}
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(self.workspace),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        timeout = _seconds(args.get("timeout"), COMMAND_TIMEOUT_S)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            _kill_group(proc)
            await proc.wait()
            return {"error": f"'{line}' timed out after {timeout:g}s", "exit_code": None}
        except BaseException:
            _kill_group(proc)  # the step was cancelled or timed out: the command stops with it
            raise
        return {
            "exit_code": proc.returncode,
            "stdout": _tail(out.decode(errors="replace")),
            "stderr": _tail(err.decode(errors="replace")),
        }

    async def _git_status(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        return await self._git("status", "--porcelain", "--", *self._git_excludes())

    async def _git_diff(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        return await self._git("diff", "--no-ext-diff", "--no-textconv", "--", *self._git_excludes())

    def _git_excludes(self) -> list[str]:
        """Pathspecs that keep denied files (their names and contents) out of git's answers."""
        deny = [p for p in self.policy.section("paths").get("deny") or [] if isinstance(p, str)]
        return [".", *(f":(exclude,glob,icase){p}" for p in (*ALWAYS_DENIED_PATHS, *deny))]

    async def _git(self, *args: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=str(self.workspace),
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return {
            "exit_code": proc.returncode,
            "stdout": _tail(out.decode(errors="replace")),
            "stderr": _tail(err.decode(errors="replace")),
        }

    async def _git_commit(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        await self._approval("git.commit", [], f"{self.agent} commits")
        # a commit message is a record that outlives the run (and the effect ledger keeps it): no secrets
        message = self._redact(str(args.get("message") or ""))
        return await require_action("git.commit").run(self._action_input(f"tool{n}", {"message": message}))

    async def _http_fetch(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        import httpx

        raw = args.get("url")
        if not isinstance(raw, str) or unusable_character(raw) is not None:
            raise Denied("network: not a URL", f"not a usable URL: {raw!r}")
        try:
            # the URL is parsed by the client that fetches it, so the host checked is the host reached
            url = httpx.URL(raw)
        except (httpx.InvalidURL, ValueError) as exc:
            raise Denied("network: not a URL", f"{raw!r} is not a URL ({exc})") from None
        if url.scheme not in ("http", "https"):
            raise Denied("network: http and https only", f"{raw!r} is not an http(s) URL")
        if url.userinfo:
            raise Denied("network: no credentials in URLs", f"{raw!r} carries user information")
        if not url.host:
            raise Denied("network: not a URL", f"{raw!r} names no host")
        decision = self.policy.host_decision(url.host, url.port)
        if not decision.allowed:
            raise Denied(decision.rule, f"host '{url.host}' is not allowed")
        try:
            async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            return {"url": str(url), "error": f"{type(exc).__name__}: {exc}"}
        out: dict[str, Any] = {"status": response.status_code, "body": _head(response.text, OUTPUT_LIMIT)}
        if response.is_redirect:
            out["location"] = response.headers.get("location")  # not followed: fetch it if allowed
        return out

    def _action_input(self, suffix: str, params: dict[str, Any]) -> ActionInput:
        return ActionInput(
            workspace=self.workspace,
            store_dir=self.workspace / ".builderos",
            run_id=self.run_id,
            step_id=f"{self.step_id}.{suffix}",
            attempt=1,
            params=params,
            ledger=self.ledger,
            log=self.log,
            env=self.env,
            services=self.services,
        )


def _tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """The end of `text`, cut at a blank so no secret is left half there (a half secret is not
    recognised by the redactor, but it is still half a secret)."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    blank = _BLANK.search(cut)
    return "[…]" + (cut[blank.start() :] if blank else "")


def _head(text: str, limit: int, *, cut: bool = False) -> str:
    """The start of `text` (already cut elsewhere when `cut`), cut at a blank (see `_tail`)."""
    if len(text) <= limit and not cut:
        return text
    kept = text[:limit]
    last = _LAST_BLANK.search(kept)
    return (kept[: last.start() + 1] if last else "") + "[…]"


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return min(float(value), default)
    return default


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
