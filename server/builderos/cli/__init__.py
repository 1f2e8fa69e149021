"""The `builderos` command line: one parser, one module per command family."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from builderos import __version__, event_loop
from builderos.cli.common import EXIT_USAGE, UserError, fail
from builderos.cli.serve_cmd import add_serve


def _add_commands(sub: Any) -> None:
    """Every command family (imported here, so `serve` can start without them)."""
    from builderos.cli.approvals_cmd import add_approvals
    from builderos.cli.audit_cmd import add_audit
    from builderos.cli.desk_cmd import add_desk
    from builderos.cli.pack_cmd import add_pack
    from builderos.cli.runs_cmd import add_runs
    from builderos.cli.trust_cmd import add_trust
    from builderos.cli.validate_cmd import add_validate

    add_validate(sub)
    add_runs(sub)
    add_approvals(sub)
    add_audit(sub)
    add_desk(sub)
    add_pack(sub)
    add_trust(sub)
    from builderos.cli.diff_cmd import add_diff
    from builderos.cli.replay_cmd import add_replay
    from builderos.cli.scenario_cmd import add_scenario

    add_scenario(sub)
    add_replay(sub)
    add_diff(sub)
    from builderos.cli.ci_cmd import add_ci
    from builderos.cli.eval_cmd import add_eval
    from builderos.cli.prompt_cmd import add_prompt

    add_prompt(sub)
    add_eval(sub)
    add_ci(sub)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line with a hint and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        fail(UserError(message, f"run '{self.prog} --help' for usage"), EXIT_USAGE)


def build_parser(light: bool = False) -> argparse.ArgumentParser:
    """The full parser; `light` builds only `serve`, whose start-up time the editor waits for."""
    parser = _Parser(prog="builderos", description="BuilderOS: agents, prompts, policies and pipelines.")
    parser.add_argument("--version", action="version", version=f"builderos {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    if light:
        add_serve(sub)
        return parser
    _add_commands(sub)
    add_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(light=arguments[:1] == ["serve"])
    args = parser.parse_args(arguments)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    event_loop.install()  # runs, back-offs and time-outs wake on time, in the CLI and the daemon
    try:
        return int(args.handler(args))
    except UserError as exc:
        return fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        print("builderos: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
