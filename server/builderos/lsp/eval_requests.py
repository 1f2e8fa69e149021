"""`builderos/evalRun {suites?, noCache?}` and the "▶ Run eval" lens command (`builderos.runEval`).

Suites run on the event loop (model requests are async) against the files on disk, like the CLI;
results are stored under `.builderos/evals/` exactly as `builderos eval` stores them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pygls.exceptions import JsonRpcException

from builderos import protocol
from builderos.lsp.prompt_requests import plain
from builderos.lsp.server import BuilderOSServer

log = logging.getLogger("builderos.lsp")


class EvalRequestFailed(JsonRpcException):
    CODE = -32004
    MESSAGE = "eval request failed"


async def eval_run(ls: BuilderOSServer, suites: Any, no_cache: bool) -> dict[str, Any]:
    from builderos.evals.runner import EvalError, Options, load_workspace, run_suites

    if ls.index is None:
        raise EvalRequestFailed(message=f"{protocol.EVAL_RUN}: no workspace is open")
    names = [str(s) for s in suites] if isinstance(suites, list) else []
    try:
        ws = await asyncio.to_thread(load_workspace, ls.index.root)
        results = await run_suites(ws, names, Options(no_cache=no_cache))
    except EvalError as exc:
        raise EvalRequestFailed(message=f"{exc} ({exc.hint})" if exc.hint else str(exc)) from None
    except JsonRpcException:
        raise
    except Exception as exc:  # answered as an error; the daemon lives on
        log.exception("eval run failed")
        raise EvalRequestFailed(message=f"{protocol.EVAL_RUN}: {type(exc).__name__}: {exc}") from None
    return {
        "results": [
            {
                "suite": r.suite,
                "file": r.file,
                "passRate": r.pass_rate,
                "required": r.required,
                "passed": r.passed,
                "evalRunId": r.eval_run_id,
                "prompt": r.prompt,
                "model": r.model,
                "requests": r.requests,
                "suggestedBump": r.suggested_bump,
                "cases": [
                    {"name": c.name, "passRate": c.pass_rate, "flaky": c.flaky, "failures": c.failures}
                    for c in r.cases
                ],
            }
            for r in results
        ]
    }


def setup(server: BuilderOSServer) -> None:
    @server.feature(protocol.EVAL_RUN)
    async def on_eval_run(ls: BuilderOSServer, params: Any) -> dict[str, Any]:
        p = plain(params)
        return await eval_run(ls, p.get("suites"), bool(p.get("noCache")))

    @server.command(protocol.CMD_RUN_EVAL)
    async def on_run_eval(ls: BuilderOSServer, *args: Any) -> dict[str, Any]:
        """The lens passes `{uri, suite}`."""
        p = plain(args)
        suite = p.get("suite")
        return await eval_run(ls, [suite] if isinstance(suite, str) else None, bool(p.get("noCache")))
