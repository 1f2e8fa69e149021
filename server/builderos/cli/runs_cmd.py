"""`run`, `resume`, `cancel`, `runs`, `show`, `timeline`: runs from the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.cli.progress import LiveProgress, PlainProgress
from builderos.cli.store_access import with_store
from builderos.cli.timeline_view import render_timeline, timeline_rows
from builderos.engine.approvals import unified_diff
from builderos.engine.record import build_record
from builderos.engine.runlog import load_state, run_summaries
from builderos.engine.runner import Engine, RunOptions
from builderos.engine.state import RunState
from builderos.store.db import Store

EXIT_AWAITING_APPROVAL = 3


def add_runs(sub: Any) -> None:
    p = sub.add_parser("run", help="run a pipeline (exit 0 succeeded, 1 failed, 3 stopped at an approval)")
    p.add_argument("pipeline")
    p.add_argument(
        "--input", action="append", default=[], metavar="K=V", help="a pipeline input (repeatable)"
    )
    p.add_argument("--scenario", help="use a scenario's inputs and stubs")
    p.add_argument("--json", action="store_true", help="print the final run record as JSON")
    p.add_argument("--approve-all", action="store_true", help="approve every request (recorded in the audit)")
    p.add_argument("--no-wait", action="store_true", help="stop at the first approval instead of asking")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("resume", help="carry on an interrupted or approved run")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--approve-all", action="store_true")
    p.add_argument("--no-wait", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("cancel", help="cancel a run")
    p.add_argument("run_id")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_cancel)

    p = sub.add_parser("runs", help="list runs")
    p.add_argument("--json", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("show", help="show a run record")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("timeline", help="show a run's steps on lanes over time")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_timeline)


def _inputs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(
                f"--input '{pair}' is not KEY=VALUE", "for example --input goal='Add a /health endpoint'"
            )
        out[key.strip()] = value
    return out


def _approver(args: argparse.Namespace) -> Any:
    if args.approve_all:

        async def approve_all(approval: dict[str, Any]) -> tuple[str, str | None, str]:
            return "approve", "approved by --approve-all", "cli --approve-all"

        return approve_all
    if args.no_wait or not sys.stdin.isatty():
        return None

    async def ask(approval: dict[str, Any]) -> tuple[str, str | None, str] | None:
        return await asyncio.to_thread(_ask_on_terminal, approval)

    return ask


def _ask_on_terminal(approval: dict[str, Any]) -> tuple[str, str | None, str] | None:
    print(f"\nApproval {approval['id']}: {approval.get('summary')} ({approval.get('rule')})", file=sys.stderr)
    for change in approval.get("changes") or []:
        print(change.get("diff") or unified_diff(change["path"], None, None), file=sys.stderr)
    while True:
        print("Approve? [y]es / [n]o / [s]top here: ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer in ("y", "yes"):
            return "approve", None, "terminal user"
        if answer in ("n", "no"):
            print("Reason: ", end="", file=sys.stderr, flush=True)
            return "deny", sys.stdin.readline().strip() or "denied at the terminal", "terminal user"
        if answer in ("s", "stop", ""):
            return None


def _progress(args: argparse.Namespace) -> Any:
    if sys.stderr.isatty() and not args.json:
        try:
            return LiveProgress()
        except Exception:
            return PlainProgress()
    return PlainProgress()


def _finish(state: RunState, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(build_record(state), indent=2, ensure_ascii=False, default=str))
    else:
        print(render_timeline(state))
        if state.status == "awaiting_approval":
            print(
                "The run waits for approval: 'builderos approvals' lists the requests; "
                f"'builderos approve ID' then 'builderos resume {state.id}' carries it on."
            )
    if state.status == "succeeded":
        return EXIT_OK
    if state.status == "awaiting_approval":
        return EXIT_AWAITING_APPROVAL
    return EXIT_FAILED


def _engine(store: Store, args: argparse.Namespace, progress: Any) -> Engine:
    return Engine(
        store.root.parent,
        store,
        RunOptions(approver=_approver(args), listeners=[progress]),
    )


def cmd_run(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    inputs = _inputs(args.input)
    progress = _progress(args)

    async def go(store: Store) -> RunState:
        return await _engine(store, args, progress).start(args.pipeline, inputs, args.scenario)

    try:
        state = with_store(ws, go)
    finally:
        progress.close()
    return _finish(state, args)


def cmd_resume(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    progress = _progress(args)

    async def go(store: Store) -> RunState:
        return await _engine(store, args, progress).resume(args.run_id)

    try:
        state = with_store(ws, go)
    finally:
        progress.close()
    return _finish(state, args)


def cmd_cancel(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)

    async def go(store: Store) -> RunState:
        return await Engine(store.root.parent, store, RunOptions()).request_cancel(args.run_id)

    state = with_store(ws, go)
    print(f"run {state.id}: {state.status}")
    return EXIT_OK if state.status == "cancelled" else EXIT_FAILED


async def _state(store: Store, run_id: str) -> RunState:
    state = await load_state(store, run_id)
    if state is None:
        rows = await store.fetch("SELECT id FROM runs WHERE id LIKE ? ORDER BY id", (run_id + "%",))
        if len(rows) == 1:
            state = await load_state(store, str(rows[0][0]))
    if state is None:
        raise UserError(f"no run '{run_id}'", "list runs with 'builderos runs'")
    return state


def cmd_runs(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)

    async def go(store: Store) -> list[dict[str, Any]]:
        return await run_summaries(store)

    runs = with_store(ws, go)
    if args.json:
        print(json.dumps(runs, indent=2))
    elif not runs:
        print("no runs yet: start one with 'builderos run PIPELINE'")
    else:
        for r in runs:
            print(f"{r['id']}  {r['pipeline']:<16} {r['status']:<18} {r['started_at'] or r['created_at']}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    state = with_store(ws, lambda store: _state(store, args.run_id))
    record = build_record(state)
    if args.json:
        print(json.dumps(record, indent=2, ensure_ascii=False, default=str))
        return EXIT_OK
    print(f"run {record['id']}  pipeline {record['pipeline']}  {record['status']}")
    print(f"inputs: {json.dumps(record['inputs'], ensure_ascii=False)}")
    for step in record["steps"]:
        prov = record["provenance"]["steps"].get(step["id"], {})
        who = f"  agent {prov.get('agent')} prompt {prov.get('prompt')}" if prov.get("agent") else ""
        print(f"  {step['id']:<16} {step['status']:<18} attempts {step['attempts']}{who}")
    if record["error"]:
        print(f"error: {record['error']}")
    return EXIT_OK


def cmd_timeline(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    state = with_store(ws, lambda store: _state(store, args.run_id))
    if args.json:
        print(
            json.dumps({"run_id": state.id, "status": state.status, "lanes": timeline_rows(state)}, indent=2)
        )
    else:
        print(render_timeline(state))
    return EXIT_OK
