"""Agent tool calls through the policy gate: allow, deny (with the rule), or ask a human first.

Every call becomes a `tool.call` and a `tool.result` event (arguments and results by hash in the
tool trace); a denial also becomes a `policy.denied` event and audit record, and the agent gets a
tool result that says why, so it can adapt.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from builderos.catalog import TOOLS
from builderos.engine import events as ev
from builderos.engine.actions import require_action
from builderos.engine.approvals import Change
from builderos.engine.interfaces import ActionInput, EffectLedger, StepFailed
from builderos.engine.runlog import sha256_json
from builderos.policy.paths import PathEscape, matches, resolve_in_workspace
from builderos.policy.rules import PolicyView

ALWAYS_DENIED_PATHS = (".git/**", ".git", "**/.git/**", ".builderos/**", "**/.env", ".env")

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

    async def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call; always returns a result for the agent (errors and denials included)."""
        self.calls += 1
        n = self.calls
        await self.emit(ev.TOOL_CALL, {"n": n, "tool": tool, "args": args, "args_sha256": sha256_json(args)})
        try:
            result = await self._decide_and_run(tool, args, n)
        except Denied as exc:
            await self.emit(ev.POLICY_DENIED, {"n": n, "tool": tool, "rule": exc.rule, "reason": str(exc)})
            result = {"error": f"denied by policy ({exc.rule}): {exc}"}
        except StepFailed as exc:
            result = {"error": str(exc), **exc.outputs}
        await self.emit(
            ev.TOOL_RESULT, {"n": n, "tool": tool, "result": result, "result_sha256": sha256_json(result)}
        )
        return result

    async def _decide_and_run(self, tool: str, args: dict[str, Any], n: int) -> dict[str, Any]:
        if tool not in self.agent_tools:
            raise Denied(
                f"agents/{self.agent}.yaml tools", f"{tool} is not one of agent '{self.agent}''s tools"
            )
        decision = self.policy.tool_decision(self.agent, tool)
        if not decision.allowed:
            raise Denied(decision.rule, f"{tool} is not allowed for '{self.agent}'")
        spec = TOOLS.get(tool)
        if spec is None:
            raise Denied("unknown tool", f"{tool} is not a tool BuilderOS knows")
        handler = getattr(self, "_" + tool.replace(".", "_"), None)
        if handler is None:
            raise Denied("unknown tool", f"{tool} is not available in this version")
        return await handler(args, n)  # type: ignore[no-any-return]

    # -- checks ------------------------------------------------------------------------------------
    def _path(self, raw: Any) -> str:
        try:
            rel = resolve_in_workspace(self.workspace, str(raw))
        except PathEscape as exc:
            raise Denied("paths: workspace only", str(exc)) from None
        paths = self.policy.section("paths")
        denied = matches(rel, [*ALWAYS_DENIED_PATHS, *list(paths.get("deny") or [])], ignore_case=True)
        if denied:
            raise Denied(f"paths.deny: {denied}", f"{rel} is a protected path")
        allow = list(paths.get("allow") or [])
        if self.policy.default == "deny" and not matches(rel, allow):
            raise Denied("paths.allow (default: deny)", f"{rel} is not under an allowed path")
        return rel

    async def _approval(self, tool: str, changes: list[Change], summary: str) -> None:
        rules = self.policy.approval_rules(tool)
        if not rules:
            return
        approved = await self.ask_approval(tool, rules[0].rule, changes, summary)
        if not approved:
            raise Denied(rules[0].rule, "a person denied this change")

    # -- tools -------------------------------------------------------------------------------------
    async def _fs_read(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        rel = self._path(args.get("path"))
        try:
            return {"path": rel, "content": (self.workspace / rel).read_text(errors="replace")}
        except OSError as exc:
            return {"path": rel, "error": exc.strerror or str(exc)}

    async def _fs_list(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        pattern = str(args.get("glob") or args.get("pattern") or "**/*")
        found = []
        for p in sorted(self.workspace.glob(pattern)):
            rel = p.relative_to(self.workspace).as_posix()
            if p.is_file() and not matches(rel, ALWAYS_DENIED_PATHS, ignore_case=True):
                found.append(rel)
        return {"files": found[:1000]}

    async def _fs_write(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        rel = self._path(args.get("path"))
        content = str(args.get("content", ""))
        target = self.workspace / rel
        while True:
            before = target.read_text(errors="replace") if target.is_file() else None
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
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command or []]
        if not argv:
            return {"error": "no command given"}
        commands = self.policy.section("commands")
        line = shlex.join(argv)
        denied = next((p for p in commands.get("deny") or [] if fnmatch.fnmatchcase(line, p)), None)
        if denied:
            raise Denied(f"commands.deny: {denied}", f"'{line}' is denied")
        allowed = next((p for p in commands.get("allow") or [] if fnmatch.fnmatchcase(line, p)), None)
        if allowed is None and self.policy.default == "deny":
            raise Denied("commands.allow (default: deny)", f"'{line}' is not an allowed command")
        await self._approval("shell.run", [], f"{self.agent} runs {line}")
        stub = self.stubs.get("shell.run")
        if isinstance(stub, dict):
            return {
                "exit_code": int(stub.get("exit_code", 0)),
                "stdout": str(stub.get("stdout", "")),
                "stderr": str(stub.get("stderr", "")),
            }
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(self.workspace),
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        out, err = await proc.communicate()
        return {
            "exit_code": proc.returncode,
            "stdout": out.decode(errors="replace")[-16000:],
            "stderr": err.decode(errors="replace")[-16000:],
        }

    async def _git_status(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        return await self._git("status", "--porcelain")

    async def _git_diff(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        return await self._git("diff")

    async def _git(self, *args: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=str(self.workspace),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return {
            "exit_code": proc.returncode,
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
        }

    async def _git_commit(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        await self._approval("git.commit", [], f"{self.agent} commits")
        return await require_action("git.commit").run(
            self._action_input(f"tool{n}", {"message": args.get("message", "")})
        )

    async def _http_fetch(self, args: dict[str, Any], n: int) -> dict[str, Any]:
        import httpx

        url = str(args.get("url", ""))
        host = urlparse(url).hostname or ""
        network = self.policy.section("network")
        if not any(fnmatch.fnmatchcase(host, p) for p in network.get("allow") or []):
            raise Denied("network.allow", f"host '{host}' is not allowed")
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
            response = await client.get(url)
        return {"status": response.status_code, "body": response.text[:16000]}

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
