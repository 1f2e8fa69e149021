"""`builderos scenario run [NAME…] [--update-golden] [--json]`: exit 0 all passed, 1 any failed, 2 usage."""

from __future__ import annotations

import argparse
import json
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.cli.store_access import with_store
from builderos.scenarios.run import ScenarioError, ScenarioResult, ScenarioRunner
from builderos.store.db import Store


def add_scenario(sub: Any) -> None:
    p = sub.add_parser("scenario", help="scenario tests of pipelines")
    inner = p.add_subparsers(dest="scenario_command", metavar="SUBCOMMAND")
    r = inner.add_parser(
        "run", help="run scenarios and check their expectations (exit 0 all passed, 1 any failed)"
    )
    r.add_argument("names", nargs="*", metavar="NAME", help="scenarios to run (default: all)")
    r.add_argument("--update-golden", action="store_true", help="write each scenario's golden trace")
    r.add_argument("--json", action="store_true", help="print {results: [...]} as JSON")
    add_workspace_option(r)
    r.set_defaults(handler=cmd_scenario_run)
    p.set_defaults(handler=_no_subcommand)


def _no_subcommand(args: argparse.Namespace) -> int:
    raise UserError("missing subcommand", "use 'builderos scenario run [NAME…]'")


def cmd_scenario_run(args: argparse.Namespace) -> int:
    ws = find_workspace(args.workspace)

    async def go(store: Store) -> list[ScenarioResult]:
        runner = ScenarioRunner(ws, store, actor={"type": "user", "id": _user(), "source": "scenario"})
        try:
            return await runner.run(list(args.names) or None, update_golden=args.update_golden)
        except ScenarioError as exc:
            raise UserError(str(exc), exc.hint) from None

    results = with_store(ws, go)
    if args.json:
        print(json.dumps({"results": [r.as_dict() for r in results]}, indent=2, ensure_ascii=False))
    else:
        _print_text(results)
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def _user() -> str:
    from builderos.engine.runner import _user as user

    return user()


def _print_text(results: list[ScenarioResult]) -> None:
    if not results:
        print("no scenarios in this workspace: add one under scenarios/")
        return
    for r in results:
        run = f"  (run {r.run_id})" if r.run_id else ""
        print(f"{'PASS' if r.passed else 'FAIL'} {r.name}{run}")
        if r.golden_written:
            print(f"  wrote golden trace {r.golden_written}")
        for f in r.failures:
            start = f["range"]["start"]
            print(f"  {f['file']}:{start['line'] + 1}:{start['character'] + 1}: {f['message']}")
        if r.diff:
            print("  " + r.diff.rstrip("\n").replace("\n", "\n  "))
        if r.scratch:
            print(f"  the run's files are kept in {r.scratch}")
    passed = sum(1 for r in results if r.passed)
    print(f"{passed} of {len(results)} scenario(s) passed")
