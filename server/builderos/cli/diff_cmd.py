"""`builderos diff RUN_A RUN_B [--json]`: what differs between two runs (always exit 0 when both exist)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from builderos.cli.common import EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.cli.store_access import with_store
from builderos.engine.runlog import load_state
from builderos.replay.run import ReplayError, resolve_run_id
from builderos.replay.rundiff import run_diff
from builderos.store.db import Store


def add_diff(sub: Any) -> None:
    p = sub.add_parser("diff", help="compare two runs: steps, outputs, prompts and artifacts")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--json", action="store_true", help="print {steps, outputs, prompts, artifacts} as JSON")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_diff)


async def diff_runs(store: Store, run_a: str, run_b: str) -> dict[str, Any]:
    states = []
    for run_id in (run_a, run_b):
        try:
            full = await resolve_run_id(store, run_id)
        except ReplayError as exc:
            raise UserError(str(exc), exc.hint) from None
        state = await load_state(store, full)
        assert state is not None
        states.append(state)
    return run_diff(states[0], states[1])


def cmd_diff(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    result = with_store(ws, lambda store: diff_runs(store, args.run_a, args.run_b))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        return EXIT_OK
    print(f"A = {result['runA']}\nB = {result['runB']}")
    print("steps:")
    for s in result["steps"]:
        a, b = s["a"] or {}, s["b"] or {}
        mark = "≠" if s["changed"] else " "
        print(
            f" {mark} {s['step']:<20} {a.get('status', '-'):<10} → {b.get('status', '-'):<10} "
            f"attempts {a.get('attempts', '-')} → {b.get('attempts', '-')}  "
            f"duration {_dur(a.get('duration'))} → {_dur(b.get('duration'))}"
        )
    for title, key in (("outputs", "outputs"), ("prompts", "prompts"), ("artifacts", "artifacts")):
        rows = result[key]
        print(f"{title}: {'same' if not rows else ''}")
        for r in rows:
            where = f"{r['step']}.{r['name']}" if key == "outputs" else r.get("step") or r.get("name")
            print(f"  {where}: {_show(r['a'])} → {_show(r['b'])}")
    return EXIT_OK


def _dur(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 100 else text[:97] + "..."
