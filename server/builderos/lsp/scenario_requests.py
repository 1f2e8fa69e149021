"""Scenarios, replay and run diffs in the daemon: `builderos/scenarios`, `builderos/scenarioRun`,
`builderos/replay`, `builderos/runDiff`, and the scenario code lenses' commands.

Each request opens the workspace's store for its own use (closed afterwards) and runs in the
daemon's loop; the runs it records reach the editor through the run service's store watcher.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.server import BuilderOSServer

log = logging.getLogger("builderos.lsp")
T = TypeVar("T")
ACTOR = {"type": "user", "id": "editor", "source": "daemon"}


class ScenarioRequestError(JsonRpcException):
    """A one-line reason the editor shows as is."""

    CODE = -32003
    MESSAGE = "scenario request failed"


def _plain(params: Any) -> dict[str, Any]:
    from builderos.lsp.run_service import _params

    return _params(params)


def _root(ls: BuilderOSServer) -> Path:
    if ls.index is None:
        raise ScenarioRequestError(message="no workspace is open")
    return Path(ls.index.root)


async def _with_store(ls: BuilderOSServer, fn: Callable[[Any], Awaitable[T]]) -> T:
    from builderos.engine.inputs import InputError
    from builderos.engine.preflight import PreflightError
    from builderos.engine.runner import RunError
    from builderos.replay.run import ReplayError
    from builderos.scenarios.run import ScenarioError
    from builderos.store.db import Store, StoreError

    try:
        store = await Store.open(_root(ls) / ".builderos")
    except StoreError as exc:
        raise ScenarioRequestError(message=f"{exc} (hint: {exc.hint})") from None
    try:
        return await fn(store)
    except (ScenarioError, ReplayError, PreflightError, InputError, RunError) as exc:
        hint = getattr(exc, "hint", "")
        raise ScenarioRequestError(message=f"{exc}" + (f" (hint: {hint})" if hint else "")) from None
    finally:
        await store.close()


async def scenario_run(ls: BuilderOSServer, names: list[str] | None, update_golden: bool) -> dict[str, Any]:
    from builderos.scenarios.run import ScenarioRunner

    async def go(store: Any) -> dict[str, Any]:
        runner = ScenarioRunner(_root(ls), store, actor=ACTOR)
        results = await runner.run(names, update_golden=update_golden)
        return {"results": [r.as_dict() for r in results]}

    return await _with_store(ls, go)


def _names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioRequestError(message="names must be a list of scenario names")
    return list(value) or None


def _command_scenario(args: tuple[Any, ...]) -> list[str]:
    """The lens passes `[{uri, scenario}]`; a bare name is accepted too."""
    first = args[0] if args else None
    if isinstance(first, list):
        first = first[0] if first else None
    data = _plain(first) if first is not None and not isinstance(first, str) else first
    name = data.get("scenario") if isinstance(data, dict) else data
    if not isinstance(name, str) or not name:
        raise ScenarioRequestError(message="the command needs a scenario name ({scenario: NAME})")
    return [name]


def setup(server: BuilderOSServer) -> None:
    @server.feature(protocol.SCENARIOS)
    async def on_scenarios(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        from builderos.scenarios.run import scenario_list

        if ls.index is None:
            return {"scenarios": []}
        index = ls.index
        return {"scenarios": await ls.on_worker(lambda: scenario_list(index))}

    @server.feature(protocol.SCENARIO_RUN)
    async def on_scenario_run(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        p = _plain(params)
        return await _guard(
            protocol.SCENARIO_RUN, scenario_run(ls, _names(p.get("names")), bool(p.get("updateGolden")))
        )

    @server.command(protocol.CMD_RUN_SCENARIO)
    async def on_run_scenario(ls: BuilderOSServer, *args: Any) -> dict[str, Any]:
        return await _guard(protocol.CMD_RUN_SCENARIO, scenario_run(ls, _command_scenario(args), False))

    @server.command(protocol.CMD_UPDATE_GOLDEN)
    async def on_update_golden(ls: BuilderOSServer, *args: Any) -> dict[str, Any]:
        return await _guard(protocol.CMD_UPDATE_GOLDEN, scenario_run(ls, _command_scenario(args), True))

    @server.feature(protocol.REPLAY)
    async def on_replay(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        from builderos.replay.run import replay

        run_id = _plain(params).get("runId")
        if not isinstance(run_id, str) or not run_id:
            raise ScenarioRequestError(message="replay needs a runId")
        return await _guard(
            protocol.REPLAY, _with_store(ls, lambda store: replay(_root(ls), store, run_id, ACTOR))
        )

    @server.feature(protocol.RUN_DIFF)
    async def on_run_diff(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        from builderos.cli.common import UserError
        from builderos.cli.diff_cmd import diff_runs

        p = _plain(params)
        a, b = p.get("runA"), p.get("runB")
        if not isinstance(a, str) or not isinstance(b, str):
            raise ScenarioRequestError(message="runDiff needs runA and runB")

        async def go(store: Any) -> dict[str, Any]:
            try:
                return await diff_runs(store, a, b)
            except UserError as exc:
                raise ScenarioRequestError(message=f"{exc} (hint: {exc.hint})") from None

        return await _guard(protocol.RUN_DIFF, _with_store(ls, go))


async def _guard(method: str, work: Awaitable[T]) -> T:
    try:
        return await work
    except JsonRpcException:
        raise
    except Exception as exc:  # answered as an error, the daemon lives on
        log.exception("%s failed", method)
        raise ScenarioRequestError(message=f"{method}: {type(exc).__name__}: {exc}") from None
