"""`desk list | show | apply | upgrade | recover | install`: desks from the terminal.

Exit codes: 0 done; 1 refused or failed (would overwrite without --force, untrusted pack, the result
has validation errors, upgrade left conflicts); 2 a usage error, including every bad parameter value.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UserError, add_workspace_option
from builderos.desks.errors import DeskError


def add_desk(sub: Any) -> None:
    desk = sub.add_parser("desk", help="list, show, apply and upgrade desks (workspace templates)")
    dsub = desk.add_subparsers(dest="desk_command", metavar="DESK_COMMAND")

    p = dsub.add_parser("list", help="the desks you can apply")
    p.add_argument("--json", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_list)

    p = dsub.add_parser("show", help="a desk's parameters and files")
    p.add_argument("name", metavar="NAME[@RANGE]")
    p.add_argument("--json", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_show)

    for command, helptext in (
        ("apply", "apply a desk to a folder (shows the plan first; never overwrites without --force)"),
        ("upgrade", "upgrade an applied desk with a three-way merge of your edits"),
    ):
        p = dsub.add_parser(command, help=helptext)
        p.add_argument("name", metavar="NAME[@RANGE]")
        p.add_argument("--param", action="append", default=[], metavar="K=V", help="a parameter (repeatable)")
        p.add_argument("--dest", metavar="DIR", help="the folder to write (default: the workspace, else .)")
        p.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        if command == "apply":
            p.add_argument("--force", action="store_true", help="overwrite files that differ")
        add_workspace_option(p)
        p.set_defaults(handler=cmd_apply if command == "apply" else cmd_upgrade)

    p = dsub.add_parser("recover", help="finish or undo a desk apply that was interrupted")
    p.add_argument("--dest", metavar="DIR")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_recover)

    p = dsub.add_parser("install", help="install a signed desk, agent or pipeline pack into the workspace")
    p.add_argument("pack", metavar="PACK")
    p.add_argument("--allow-untrusted", action="store_true", help="accept an unsigned or untrusted pack")
    p.add_argument("--force", action="store_true", help="replace files an agent or pipeline pack overwrites")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_install)
    desk.set_defaults(handler=lambda args: _usage(desk))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _workspace(args: argparse.Namespace) -> Path | None:
    """--workspace, else the nearest workspace upward, else none (built-in desks only)."""
    from builderos.cli.common import find_workspace

    try:
        return find_workspace(getattr(args, "workspace", None))
    except UserError:
        if getattr(args, "workspace", None) is not None:
            raise
        return None


def _dest(args: argparse.Namespace, ws: Path | None) -> Path:
    if args.dest:
        return Path(args.dest).expanduser().absolute()
    return ws if ws is not None else Path.cwd()


def _user_error(exc: DeskError) -> UserError:
    return UserError(exc.message, exc.hint, EXIT_USAGE if exc.usage else EXIT_FAILED)


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param '{pair}' is not KEY=VALUE", "for example --param package=orders")
        out[key.strip()] = value
    return out


def _ask_secrets(spec: str, ws: Path | None, given: dict[str, str]) -> None:
    """Secret parameters not given are asked for on the terminal (never echoed, never stored)."""
    from builderos.desks.catalog import select

    if not sys.stdin.isatty():
        return
    try:
        desk = select(spec, ws).desk
    except DeskError:
        return
    for name, p in desk.parameters.items():
        if p.type == "secret" and p.required and name not in given:
            given[name] = getpass.getpass(f"{name} ({p.description or 'secret'}): ")


def cmd_list(args: argparse.Namespace) -> int:
    from builderos.desks.catalog import discover
    from builderos.desks.describe import describe

    problems: list[DeskError] = []
    desks = [describe(d) for d in discover(_workspace(args), problems)]
    for problem in problems:
        print(f"builderos: warning: skipped a desk: {problem.message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"desks": desks}, indent=2))
        return EXIT_OK
    if not desks:
        print("no desks found")
    for d in desks:
        print(f"{d['name']:<22} {d['version']:<9} {d['source']:<10} {d['description'] or ''}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from builderos.desks.catalog import select
    from builderos.desks.describe import describe, template_files

    try:
        src = select(args.name, _workspace(args))
    except DeskError as exc:
        raise _user_error(exc) from None
    info = describe(src)
    info["files"] = template_files(src)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    print(f"{info['name']} {info['version']} ({info['source']}, {src.folder})")
    if info["description"]:
        print(f"  {info['description']}")
    print("parameters:")
    for name, p in info["parameters"].items():
        rules = ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("type", "description"))
        print(f"  {name}: {p['type']}{' (' + rules + ')' if rules else ''}  {p.get('description') or ''}")
    print("files:")
    for rel in info["files"]:
        print(f"  {rel}")
    return EXIT_OK


def _print_plan(plan: Any) -> None:
    for label, paths in (
        ("create", plan.create),
        ("overwrite", plan.overwrite),
        ("unchanged", plan.unchanged),
    ):
        for rel in paths:
            print(f"  {label:<10} {rel}", file=sys.stderr)


def _print_diagnostics(dest: Path, diagnostics: list[Any]) -> None:
    for rel, d in diagnostics:
        where = f"{rel}:{d.span.start_line + 1}:{d.span.start_col + 1}"
        print(f"{where}: {d.severity} {d.code} {d.full_message}", file=sys.stderr)


def cmd_apply(args: argparse.Namespace) -> int:
    from builderos.desks.apply import apply_desk

    ws = _workspace(args)
    dest = _dest(args, ws)
    given = _params(args.param)
    _ask_secrets(args.name, ws, given)
    try:
        result = apply_desk(
            args.name,
            given,
            dest,
            ws,
            dry_run=args.dry_run,
            force=args.force,
            source="cli",
            on_plan=None if args.json else _print_plan,
        )
    except DeskError as exc:
        raise _user_error(exc) from None
    _print_diagnostics(dest, result.diagnostics)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    elif args.dry_run:
        print(
            f"dry run: desk {result.desk.name} {result.desk.version} would create "
            f"{len(result.plan.create)} and overwrite {len(result.plan.overwrite)} file(s) in {dest}"
        )
    else:
        print(
            f"applied desk {result.desk.name} {result.desk.version} to {dest}: "
            f"{len(result.plan.create)} created, {len(result.plan.overwrite)} overwritten; "
            f"validation: {result.errors} error(s), {result.warnings} warning(s)"
        )
    return EXIT_FAILED if result.errors else EXIT_OK


def cmd_upgrade(args: argparse.Namespace) -> int:
    from builderos.desks.upgrade import upgrade_desk

    ws = _workspace(args)
    dest = _dest(args, ws)
    try:
        result = upgrade_desk(args.name, _params(args.param), dest, ws, dry_run=args.dry_run, source="cli")
    except DeskError as exc:
        raise _user_error(exc) from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        for f in result.files:
            if f.status == "unchanged":
                continue
            print(f"== {f.rel}: {f.status}{' (' + f.note + ')' if f.note else ''}")
            if f.diff_desk:
                print(f"-- the desk's change ({result.from_version} → {result.desk.version}):")
                print(f.diff_desk, end="")
            if f.diff_yours and f.status in ("merged", "conflict", "kept"):
                print("-- your change:")
                print(f.diff_yours, end="")
        verb = "would upgrade" if args.dry_run else "upgraded"
        print(
            f"{verb} desk {result.desk.name} {result.from_version} → {result.desk.version}; "
            f"{len(result.conflicts)} conflict(s)"
        )
        for rel in result.conflicts:
            print(f"  conflict: {rel} (resolve the <<<<<<< markers)")
    _print_diagnostics(dest, result.diagnostics)
    return EXIT_FAILED if result.conflicts else EXIT_OK


def cmd_recover(args: argparse.Namespace) -> int:
    from builderos.desks import txn
    from builderos.desks.audit import write_entry_sync

    dest = _dest(args, _workspace(args))
    try:
        outcome = txn.recover(dest, lambda e: write_entry_sync(dest, e))
    except DeskError as exc:
        raise _user_error(exc) from None
    print(f"desk transaction in {dest}: {outcome}" if outcome else f"nothing to recover in {dest}")
    return EXIT_OK


def cmd_install(args: argparse.Namespace) -> int:
    from builderos.cli.common import find_workspace
    from builderos.packs.errors import PackError
    from builderos.packs.install import install_pack

    ws = find_workspace(args.workspace)
    try:
        result = install_pack(Path(args.pack), ws, allow_untrusted=args.allow_untrusted, force=args.force)
    except PackError as exc:
        raise UserError(exc.message, exc.hint, EXIT_FAILED) from None
    except DeskError as exc:
        raise _user_error(exc) from None
    print(result)
    return EXIT_OK
