"""`builderos replay RUN_ID [--json]`: exit 0 no divergence, 1 divergence, 2 usage."""

from __future__ import annotations

import argparse
import json
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.cli.store_access import with_store
from builderos.replay.run import ReplayError, replay
from builderos.store.db import Store


def add_replay(sub: Any) -> None:
    p = sub.add_parser(
        "replay", help="re-run a recorded run on its recorded answers and report where it diverges"
    )
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true", help="print {runId, replayRunId, divergences} as JSON")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)

    async def go(store: Store) -> dict[str, Any]:
        try:
            return await replay(ws, store, args.run_id, {"type": "user", "id": "cli", "source": "replay"})
        except ReplayError as exc:
            raise UserError(str(exc), exc.hint) from None

    result = with_store(ws, go)
    found = result["divergences"]
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    elif not found:
        print(f"run {result['runId']}: replayed as {result['replayRunId']}, no divergence")
    else:
        first = found[0]
        print(
            f"run {result['runId']}: replayed as {result['replayRunId']}; first divergence at step "
            f"{first['stepId']} ({first['field']})"
        )
        for d in found:
            print(f"  {d['message']}")
            print(f"    recorded: {_show(d['expected'])}")
            print(f"    now:      {_show(d['actual'])}")
    return EXIT_FAILED if found else EXIT_OK


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:197] + "..."
