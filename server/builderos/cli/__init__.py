"""The `builderos` command line: one parser, one module per command family."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from builderos import __version__
from builderos.cli.common import EXIT_USAGE, UserError, fail
from builderos.cli.serve_cmd import add_serve
from builderos.cli.validate_cmd import add_validate


def _add_engine_commands(sub: Any) -> None:
    """Run, approval and audit commands (imported here so `validate` stays light)."""
    from builderos.cli.approvals_cmd import add_approvals
    from builderos.cli.audit_cmd import add_audit
    from builderos.cli.runs_cmd import add_runs

    add_runs(sub)
    add_approvals(sub)
    add_audit(sub)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line with a hint and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        fail(UserError(message, f"run '{self.prog} --help' for usage"), EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="builderos", description="BuilderOS: agents, prompts, policies and pipelines.")
    parser.add_argument("--version", action="version", version=f"builderos {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_validate(sub)
    _add_engine_commands(sub)
    add_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except UserError as exc:
        return fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        print("builderos: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
