"""builderos/deskList and builderos/deskApply: the editor's "Apply Desk…" and Desks view.

The work (rendering, writing, validating) runs in a thread so the daemon keeps answering; a bad
request is a JSON-RPC error with the same one-line message the CLI prints.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.server import BuilderOSServer

log = logging.getLogger("builderos.lsp")


class DeskRequestError(JsonRpcException):
    CODE = -32003
    MESSAGE = "desk request failed"


class DeskParamsInvalid(JsonRpcException):
    """The request itself is wrong (unknown desk, bad parameter): JSON-RPC 'invalid params'."""

    CODE = -32602
    MESSAGE = "invalid params"


def _plain(params: Any) -> dict[str, Any]:
    """pygls hands over an attrs object or a dict; either way, a plain dict."""
    from builderos.lsp.run_service import _params

    data = _params(params)
    return data if isinstance(data, dict) else {}


def desk_list(root: Path) -> dict[str, Any]:
    from builderos.desks.catalog import discover
    from builderos.desks.describe import describe

    return {"desks": [describe(d) for d in discover(root)]}


def desk_apply(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    from builderos.desks.apply import apply_desk

    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise DeskParamsInvalid(message=f"{protocol.DESK_APPLY}: 'name' is required (a desk name)")
    given = params.get("params") or {}
    if not isinstance(given, dict):
        raise DeskParamsInvalid(message=f"{protocol.DESK_APPLY}: 'params' must be an object")
    dest_text = params.get("dest")
    dest = root if not dest_text else Path(str(dest_text))
    if not dest.is_absolute():
        dest = root / dest
    result = apply_desk(
        name,
        given,
        dest,
        root,
        dry_run=bool(params.get("dryRun")),
        force=bool(params.get("force")),
        source="daemon",
    )
    return result.as_dict()


def setup(server: BuilderOSServer) -> None:
    from builderos.desks.errors import DeskError

    async def run(method: str, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except JsonRpcException:
            raise
        except DeskError as exc:
            message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
            if exc.usage:
                raise DeskParamsInvalid(message=message) from None
            raise DeskRequestError(message=message) from None
        except Exception as exc:  # answered as an error, the daemon lives on
            log.exception("%s failed", method)
            raise DeskRequestError(message=f"{method}: {exc}") from None

    def root(ls: BuilderOSServer) -> Path:
        if ls.index is None:
            raise DeskRequestError(message="no workspace is open")
        return ls.index.root

    @server.feature(protocol.DESK_LIST)
    async def on_desk_list(ls: BuilderOSServer, params: Any) -> Any:
        return await run(protocol.DESK_LIST, desk_list, root(ls))

    @server.feature(protocol.DESK_APPLY)
    async def on_desk_apply(ls: BuilderOSServer, params: Any) -> Any:
        return await run(protocol.DESK_APPLY, desk_apply, root(ls), _plain(params))
