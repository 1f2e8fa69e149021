"""What the editor's views need beyond runs: the workspace's symbols, deployments and a rollback.

`builderos/workspaceIndex` feeds the Pipelines, Agents, Prompts, Policies and Scenarios views from
the daemon's index (the same one the validator uses), so the views never parse YAML themselves.
`builderos/deployments` reads `.builderos/deployments/<env>/` (the current pointer and its history);
`builderos/deploymentRollback {env}` switches an environment back to the release that was live
before the current one, appending to its history and to the audit chain like a rollback step does.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.server import BuilderOSServer
from builderos.prompts.refs import sort_versions
from builderos.workspace.index import Workspace

log = logging.getLogger("builderos.lsp")


class EditorRequestError(JsonRpcException):
    CODE = -32003
    MESSAGE = "editor request failed"


def _plain(params: Any) -> dict[str, Any]:
    from builderos.lsp.run_service import _params

    return _params(params)


def _inputs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    raw = data.get("inputs")
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, spec in raw.items():
        spec = spec if isinstance(spec, dict) else {}
        entry: dict[str, Any] = {
            "type": str(spec.get("type", "string")),
            "required": bool(spec.get("required", False)),
        }
        if "default" in spec:
            entry["default"] = spec["default"]
        if isinstance(spec.get("description"), str):
            entry["description"] = spec["description"]
        out[str(name)] = entry
    return out


def workspace_index(ws: Workspace) -> dict[str, Any]:
    """The symbols the views list, with the file each one is defined in (relative to the root)."""
    sym = ws.symbols
    pipelines = []
    for name, refs in sorted(sym.pipelines.items()):
        data = refs[0].data
        steps = data.get("steps")
        step_ids = [
            str(s["id"])
            for s in (steps if isinstance(steps, list) else [])
            if isinstance(s, dict) and "id" in s
        ]
        pipelines.append(
            {
                "name": name,
                "file": refs[0].path,
                "description": data.get("description") if isinstance(data.get("description"), str) else "",
                "inputs": _inputs(data),
                "steps": step_ids,
            }
        )
    agents = [
        {
            "name": name,
            "file": refs[0].path,
            "role": str(refs[0].data.get("role", "")),
            "prompt": str(refs[0].data.get("prompt", "")),
            "model": str(refs[0].data.get("model", "")),
        }
        for name, refs in sorted(sym.agents.items())
    ]
    prompts = []
    for name, versions in sorted(sym.prompts.items()):
        by_version = {v.version: v for v in versions}
        ordered = sort_versions(list(by_version))
        prompts.append(
            {
                "name": name,
                "versions": [
                    {
                        "version": v,
                        "file": by_version[v].ref.path,
                        "snapshot": by_version[v].snapshot,
                    }
                    for v in ordered
                ],
            }
        )
    scenarios = [
        {"name": name, "file": refs[0].path, "pipeline": str(refs[0].data.get("pipeline", ""))}
        for name, refs in sorted(sym.scenarios.items())
    ]
    policies = []
    if sym.policy is not None:
        data = sym.policy.data
        rules = data.get("approvals")
        policies.append(
            {
                "file": sym.policy.path,
                "default": str(data.get("default", "")),
                "agents": sorted(str(a) for a in (data.get("agents") or {})),
                "approvals": [r for r in (rules if isinstance(rules, list) else []) if isinstance(r, dict)],
            }
        )
    return {
        "pipelines": pipelines,
        "agents": agents,
        "prompts": prompts,
        "scenarios": scenarios,
        "policies": policies,
        "envs": list(sym.envs),
    }


def deployments(root: Path, envs: list[str]) -> dict[str, Any]:
    """Every environment declared or deployed to: its current release, the one before, its history."""
    from builderos.engine.actions.deploy import env_dir, previous_release, read_current, read_history

    store_dir = root / ".builderos"
    found = set(envs)
    base = store_dir / "deployments"
    if base.is_dir():
        found.update(p.name for p in base.iterdir() if p.is_dir())
    out = []
    for env in sorted(found, key=lambda e: (envs.index(e) if e in envs else len(envs), e)):
        folder = env_dir(store_dir, env)
        current = read_current(folder)
        history = read_history(folder)
        out.append(
            {
                "env": env,
                "current": current,
                "previous": previous_release(history, current),
                "history": history[-20:],
            }
        )
    return {"environments": out}


async def rollback(server: BuilderOSServer, env: str) -> dict[str, Any]:
    """Point `env` back at the release live before the current one; history and audit record it."""
    from builderos.engine.actions.deploy import (
        append_history_once,
        env_dir,
        is_complete,
        previous_release,
        read_current,
        read_history,
        write_current,
    )
    from builderos.store.db import AuditEntry, Batch, Store

    assert server.index is not None
    store = await Store.open(server.index.root / ".builderos")  # its own writer, like the CLI's
    try:
        folder = env_dir(store.root, env)
        current = read_current(folder)
        if current is None:
            raise EditorRequestError(message=f"deploymentRollback: '{env}' has no current release")
        target = previous_release(read_history(folder), current)
        if target is None or not is_complete(folder / target):
            raise EditorRequestError(
                message=f"deploymentRollback: '{env}' has no earlier release to go back to"
                f" (current: {current})"
            )
        at = store.clock.iso()
        entry = {
            "action": "rollback",
            "env": env,
            "release": target,
            "previous": current,
            "run_id": "editor",
            "step_id": f"rollback@{at}",
            "ts": at,
        }
        await asyncio.to_thread(append_history_once, folder, entry)
        await asyncio.to_thread(write_current, folder, target)
        await store.write(
            Batch(
                audit=[
                    AuditEntry(
                        actor={"type": "user", "id": "editor", "source": "daemon"},
                        action="deploy.rollback",
                        entity_type="deployment",
                        entity_id=env,
                        details={"from": current, "to": target},
                    )
                ],
            )
        )
    finally:
        await store.close()
    return {"env": env, "current": target, "previous": current}


def setup(server: BuilderOSServer) -> None:
    @server.feature(protocol.WORKSPACE_INDEX)
    async def on_index(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            if ls.index is None:
                return _empty()
            return workspace_index(ls.index)

        try:
            return await ls.on_worker(work)
        except Exception as exc:
            log.exception("workspaceIndex failed")
            raise EditorRequestError(message=f"{protocol.WORKSPACE_INDEX}: {exc}") from None

    @server.feature(protocol.DEPLOYMENTS)
    async def on_deployments(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        if ls.index is None:
            return {"environments": []}
        index = ls.index
        try:
            envs = await ls.on_worker(lambda: list(index.symbols.envs))  # after the indexing in flight
            return await asyncio.to_thread(deployments, index.root, envs)
        except Exception as exc:
            log.exception("deployments failed")
            raise EditorRequestError(message=f"{protocol.DEPLOYMENTS}: {exc}") from None

    @server.feature(protocol.DEPLOYMENT_ROLLBACK)
    async def on_rollback(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        env = _plain(params).get("env")
        if not isinstance(env, str) or not env:
            raise EditorRequestError(message='deploymentRollback needs an env (hint: {"env": "stage"})')
        try:
            return await rollback(ls, env)
        except JsonRpcException:
            raise
        except Exception as exc:
            log.exception("rollback failed")
            raise EditorRequestError(message=f"{protocol.DEPLOYMENT_ROLLBACK}: {exc}") from None


def _empty() -> dict[str, Any]:
    return {"pipelines": [], "agents": [], "prompts": [], "scenarios": [], "policies": [], "envs": []}
