"""`builderos ci init [--force]`: a GitHub Actions workflow that checks the workspace on every push:
`validate`, `scenario run` and `eval`, all with the offline (scripted) model, so CI needs no key."""

from __future__ import annotations

import argparse
from typing import Any

from builderos.cli.common import EXIT_OK, UserError, add_workspace_option, find_workspace

WORKFLOW_PATH = ".github/workflows/builderos.yml"

WORKFLOW = """\
# Written by `builderos ci init`: checks this BuilderOS workspace on every push and pull request.
# Everything runs with the offline (scripted) model: no API key, no network, same result every time.
name: builderos
on:
  push:
  pull_request:
jobs:
  builderos:
    runs-on: ubuntu-latest
    env:
      # how to install BuilderOS (a version, a wheel URL or a git URL); set it as a repository variable
      BUILDEROS_PACKAGE: ${{ vars.BUILDEROS_PACKAGE || 'builderos' }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install BuilderOS
        run: python -m pip install "$BUILDEROS_PACKAGE"
      - name: Validate
        run: builderos validate
      - name: Scenarios
        run: builderos scenario run
      - name: Evals (offline model)
        run: builderos eval --offline
"""


def add_ci(sub: Any) -> None:
    p = sub.add_parser("ci", help="continuous integration helpers")
    ci_sub = p.add_subparsers(dest="ci_command", metavar="COMMAND", parser_class=type(p))
    init = ci_sub.add_parser("init", help=f"write {WORKFLOW_PATH}")
    init.add_argument("--force", action="store_true", help="overwrite an existing workflow")
    add_workspace_option(init)
    init.set_defaults(handler=run_ci_init)
    p.set_defaults(handler=_usage(p))


def _usage(parser: argparse.ArgumentParser) -> Any:
    def handler(_args: argparse.Namespace) -> int:
        raise UserError("missing command after 'ci'", "run 'builderos ci init'")

    return handler


def run_ci_init(args: argparse.Namespace) -> int:
    root = find_workspace(args.workspace)
    path = root / WORKFLOW_PATH
    if path.exists() and not args.force:
        raise UserError(f"{WORKFLOW_PATH} already exists", "pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WORKFLOW, encoding="utf-8")
    print(f"wrote {WORKFLOW_PATH}: validate, scenario run and eval (offline) on every push")
    return EXIT_OK
