"""builderos/* requests that need the run engine: answered clearly until the engine exists."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.server import BuilderOSServer

NOT_YET = "not available yet in this version of BuilderOS"


class EngineUnavailable(JsonRpcException):
    """A JSON-RPC error the editor shows as is (server error range)."""

    CODE = -32001
    MESSAGE = NOT_YET


def setup(server: BuilderOSServer) -> None:
    for method in protocol.ENGINE_REQUESTS:
        _register(server, method)


def _register(server: BuilderOSServer, method: str) -> None:
    @server.feature(method)
    def handler(ls: BuilderOSServer, params: Any) -> Any:
        raise EngineUnavailable(message=f"{method}: {NOT_YET}")
