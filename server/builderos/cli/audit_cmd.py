"""`audit verify` and `audit export`: the tamper-evident record, checked and streamed."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.store.audit import export_ndjson
from builderos.store.db import DB_NAME


def add_audit(sub: Any) -> None:
    p = sub.add_parser("audit", help="verify or export the audit chain")
    inner = p.add_subparsers(dest="audit_command", metavar="verify|export", required=True)
    v = inner.add_parser("verify", help="check the whole chain; names the first bad record")
    v.add_argument("--json", action="store_true")
    v.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes that verify a large log side by side (default: one per CPU; 1: just this one)",
    )
    add_workspace_option(v)
    v.set_defaults(handler=cmd_verify)
    e = inner.add_parser("export", help="stream records as NDJSON")
    e.add_argument("--action")
    e.add_argument("--entity-type")
    e.add_argument("--outcome", choices=("success", "failure", "denied"))
    e.add_argument("--since", help="ISO-8601 time or a duration such as 24h, 7d")
    add_workspace_option(e)
    e.set_defaults(handler=cmd_export)


def _db_path(args: argparse.Namespace) -> Path:
    ws = find_workspace(args.workspace)
    path = ws / ".builderos" / DB_NAME
    if not path.is_file():
        raise UserError(f"no store at {path.parent}", "nothing has run in this workspace yet")
    return path


def _connect(args: argparse.Namespace) -> sqlite3.Connection:
    path = _db_path(args)
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UserError(f"cannot open {path}: {exc}", "check the file's permissions") from None


def cmd_verify(args: argparse.Namespace) -> int:
    path = _db_path(args)
    if args.workers is not None and args.workers < 1:
        raise UserError(
            f"--workers must be at least 1, got {args.workers}", "pass 1 to verify in one process"
        )
    from builderos.store.audit_parallel import verify_file  # multiprocessing: only when verifying

    try:
        # A large log is verified in worker processes, a range each; any problem is named by a
        # sequential pass from the start, so the verdict is always the sequential one.
        result = verify_file(path, workers=args.workers).result
    except sqlite3.DatabaseError as exc:
        raise UserError(f"the audit table cannot be read: {exc}", "the database may be corrupt") from None
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "count": result.count,
                    "first_bad_seq": result.first_bad_seq,
                    "reason": result.reason,
                }
            )
        )
    elif result.ok:
        print(f"audit chain intact: {result.count} records verified")
    else:
        print(f"audit chain BROKEN at record {result.first_bad_seq}: {result.reason}")
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    conn = _connect(args)
    try:
        export_ndjson(
            conn,
            sys.stdout,
            action=args.action,
            entity_type=args.entity_type,
            outcome=args.outcome,
            since=args.since,
        )
    except ValueError as exc:
        raise UserError(str(exc), "--since takes an ISO-8601 time or a duration such as 24h") from None
    finally:
        conn.close()
    return EXIT_OK
