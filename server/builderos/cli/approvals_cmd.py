"""`approvals`, `approve`, `deny`: deciding what a run waits for, from the terminal."""

from __future__ import annotations

import argparse
import json
from typing import Any

from builderos.cli.common import EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.cli.store_access import with_store
from builderos.engine import approvals
from builderos.engine.preflight import workspace_redactor
from builderos.engine.runner import _user
from builderos.store.db import Store


def add_approvals(sub: Any) -> None:
    p = sub.add_parser("approvals", help="list pending approval requests")
    p.add_argument("--json", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_approvals)
    p = sub.add_parser("approve", help="approve a request")
    p.add_argument("id")
    p.add_argument("--comment")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_decide, decision="approve")
    p = sub.add_parser("deny", help="deny a request (a reason is required)")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    add_workspace_option(p)
    p.set_defaults(handler=cmd_decide, decision="deny")


def cmd_approvals(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    items = with_store(ws, approvals.pending)
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not items:
        print("no pending approvals")
    for a in items:
        print(
            f"{a['id']}  run {a['run_id']}  step {a['step_id']}  {a['action']}  ({a['rule']})  {a['summary']}"
        )
        for change in a.get("changes") or []:
            print(change.get("diff", ""))
    return EXIT_OK


def cmd_decide(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)
    comment = args.comment if args.decision == "approve" else args.reason

    async def go(store: Store) -> dict[str, Any]:
        try:
            return await approvals.resolve(
                store,
                args.id,
                args.decision,
                {"type": "user", "id": _user(), "source": "cli"},
                comment,
                workspace_redactor(ws).text,
            )
        except LookupError as exc:
            raise UserError(str(exc), "list requests with 'builderos approvals'") from None
        except ValueError as exc:
            raise UserError(str(exc), "each request is decided once") from None

    decided = with_store(ws, go)
    verb = "approved" if args.decision == "approve" else "denied"
    print(
        f"{verb} {decided['id']} (run {decided['run_id']}, step {decided['step_id']}); "
        f"carry the run on with 'builderos resume {decided['run_id']}'"
    )
    return EXIT_OK
