"""`builderos/promptDiff {name, from?, to?}` and the "Diff with previous version" lens command
(`builderos.diffPromptWithPrevious`), both answering `{name, from, to, fromText, toText, diff}` from
the daemon's live index (unsaved editor text included); the editor opens its diff view from it."""

from __future__ import annotations

import logging
import re
from typing import Any

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.server import BuilderOSServer

log = logging.getLogger("builderos.lsp")


class PromptRequestFailed(JsonRpcException):
    CODE = -32003
    MESSAGE = "prompt request failed"


def plain(params: Any) -> dict[str, Any]:
    """pygls hands custom params over as namedtuple-like objects (or a one-item argument list)."""
    if params is None:
        return {}
    if isinstance(params, dict):
        return params
    if hasattr(params, "_asdict"):  # (a namedtuple is a tuple too: this test comes first)
        return {k: plain(v) if hasattr(v, "_asdict") else v for k, v in params._asdict().items()}
    if isinstance(params, list | tuple):
        return plain(params[0]) if params else {}
    return dict(vars(params)) if hasattr(params, "__dict__") else {}


async def prompt_diff(ls: BuilderOSServer, name: Any, from_: Any, to: Any) -> dict[str, Any]:
    from builderos.prompts.registry import PromptError, diff

    if not isinstance(name, str) or not name:
        raise PromptRequestFailed(message=f"{protocol.PROMPT_DIFF}: `name` (the prompt's name) is required")
    ws = ls.index
    if ws is None:
        raise PromptRequestFailed(message=f"{protocol.PROMPT_DIFF}: no workspace is open")

    def work() -> dict[str, Any]:
        return diff(ws, name, str(from_) if from_ else None, str(to) if to else None)

    try:
        return await ls.on_worker(work)
    except PromptError as exc:
        raise PromptRequestFailed(message=f"{exc} ({exc.hint})" if exc.hint else str(exc)) from None


def setup(server: BuilderOSServer) -> None:
    @server.feature(protocol.PROMPT_DIFF)
    async def on_prompt_diff(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        p = plain(params)
        # pygls builds namedtuples with rename=True: the keyword `from` arrives as `_<position>`
        renamed = next((v for k, v in p.items() if re.fullmatch(r"_\d+", k)), None)
        return await prompt_diff(ls, p.get("name"), p.get("from", renamed), p.get("to"))

    @server.command(protocol.CMD_PROMPT_DIFF)
    async def on_diff_previous(ls: BuilderOSServer, *args: Any) -> dict[str, Any]:
        """The lens passes `{uri, prompt, version, previous}`."""
        p = plain(args)
        return await prompt_diff(ls, p.get("prompt") or p.get("name"), p.get("previous"), p.get("version"))
