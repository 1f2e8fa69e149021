"""Registers the builderos/run* requests; the run service behind them is imported on first use.

Keeping the engine out of start-up lets the daemon answer `initialize` sooner (see prefetch.py).
"""

from __future__ import annotations

import logging
from typing import Any

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.server import BuilderOSServer

log = logging.getLogger("builderos.lsp")

RUN_METHODS = (
    protocol.RUN_START,
    protocol.RUN_RESUME,
    protocol.RUN_CANCEL,
    protocol.RUNS,
    protocol.RUN,
    protocol.TIMELINE,
    protocol.APPROVALS,
    protocol.APPROVAL_RESOLVE,
    protocol.PROVENANCE,
    protocol.AUDIT_VERIFY,
)


class RunsUnavailable(JsonRpcException):
    CODE = -32002
    MESSAGE = "run request failed"


def setup(server: BuilderOSServer) -> None:
    loaded: dict[str, Any] = {}

    def table() -> dict[str, Any]:
        if not loaded:
            from builderos.lsp import run_service

            service = run_service.RunService(server)
            server.runs = service
            loaded.update(run_service.handlers(server, service))
            loaded["__service__"] = service
        return loaded

    for method in RUN_METHODS:
        _register(server, method, table)

    @server.command(protocol.CMD_RUN_PIPELINE)
    async def run_pipeline(ls: BuilderOSServer, *args: Any) -> Any:
        """The "▶ Run" lens: start the pipeline with the inputs given (or its defaults)."""
        from builderos.lsp.run_service import _params

        params = _params(args[0] if len(args) == 1 else (args[0][0] if args and args[0] else {}))
        try:
            return await table()[protocol.RUN_START](
                {
                    "pipeline": params.get("pipeline"),
                    "inputs": params.get("inputs") or {},
                    "scenario": params.get("scenario"),
                }
            )
        except JsonRpcException:
            raise
        except Exception as exc:
            log.exception("run from the code lens failed")
            raise RunsUnavailable(message=f"{protocol.CMD_RUN_PIPELINE}: {exc}") from None

    async def on_start() -> None:
        from builderos.lsp import run_service

        await run_service.on_start(server, table()["__service__"])

    server.on_ready.append(on_start)


def _register(server: BuilderOSServer, method: str, table: Any) -> None:
    @server.feature(method)
    async def handler(ls: BuilderOSServer, params: Any) -> Any:
        from builderos.lsp.run_service import _params

        try:
            return await table()[method](_params(params))
        except JsonRpcException:
            raise
        except Exception as exc:  # answered as an error, the daemon lives on
            log.exception("%s failed", method)
            raise RunsUnavailable(message=f"{method}: {exc}") from None
