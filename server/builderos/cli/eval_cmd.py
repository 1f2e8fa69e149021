"""`builderos eval [SUITE…] [--json] [--no-cache] [--offline]`: run eval suites, print a table (or
JSON), exit 1 when a suite is under its `require_pass_rate`."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.evals.results import SuiteResult
from builderos.evals.runner import EvalError, Options, load_workspace, run_suites


def add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="run eval suites (exit 1 when one is under its require_pass_rate)")
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suite names (default: every suite)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--no-cache", action="store_true", help="ask the model again instead of the cache")
    p.add_argument(
        "--offline", action="store_true", help="use the scripted model (the cases' replies) for every suite"
    )
    add_workspace_option(p)
    p.set_defaults(handler=run_eval)


def _pct(rate: float) -> str:
    return f"{rate * 100:.0f}%"


def print_table(results: list[SuiteResult]) -> None:
    for r in results:
        status = "PASS" if r.passed else "FAIL"
        print(
            f"{status}  {r.suite}  {_pct(r.pass_rate)} (required {_pct(r.required)})  prompt {r.prompt}  "
            f"model {r.profile} ({r.model})  run {r.eval_run_id}"
        )
        width = max((len(c.name) for c in r.cases), default=4)
        for c in r.cases:
            mark = "ok  " if c.passed else ("~   " if c.flaky else "x   ")
            flaky = "  flaky" if c.flaky else ""
            lo, hi = c.ci95
            print(
                f"  {mark}{c.name.ljust(width)}  {c.passes}/{c.runs}  {_pct(c.pass_rate)}  "
                f"95% CI [{_pct(lo)}, {_pct(hi)}]{flaky}"
            )
            for failure in c.failures:
                print(f"        - {failure}")
        source = "all from the cache" if r.requests == 0 and r.cache_hits else f"{r.requests} model requests"
        print(f"  ({source}; results in .builderos/evals/{r.suite}/results.json)")
        if r.suggested_bump:
            bump = r.suggested_bump
            print(f"  suggested prompt bump: {bump['level']} ({bump['reason']})")


def run_eval(args: argparse.Namespace) -> int:
    root = find_workspace(args.workspace)
    ws = load_workspace(root)
    options = Options(no_cache=args.no_cache, offline=args.offline)
    try:
        results = asyncio.run(run_suites(ws, list(args.suites), options))
    except EvalError as exc:
        raise UserError(str(exc), exc.hint) from None
    if not results:
        raise UserError("this workspace has no eval suites", "add evals/<name>.yaml", EXIT_FAILED)
    if args.json:
        print(json.dumps({"results": [r.as_json() for r in results]}, indent=2, ensure_ascii=False))
    else:
        print_table(results)
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED
