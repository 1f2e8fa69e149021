"""`builderos prompt list | diff NAME [V1] [V2] | bump NAME LEVEL --notes … | export | import FILE`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from builderos.cli.common import EXIT_OK, UserError, add_workspace_option, find_workspace
from builderos.prompts import registry
from builderos.prompts.bump import LEVELS, bump
from builderos.prompts.bundle import export_bundle, import_bundle
from builderos.prompts.registry import PromptError
from builderos.workspace.index import Workspace


def add_prompt(sub: Any) -> None:
    p = sub.add_parser("prompt", help="the prompt registry: versions, diffs, bumps, bundles")
    psub = p.add_subparsers(dest="prompt_command", metavar="COMMAND", parser_class=type(p))

    ls = psub.add_parser("list", help="every prompt with its versions (newest first)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_guard(run_list))

    df = psub.add_parser("diff", help="diff the templates of two versions of a prompt")
    df.add_argument("name")
    df.add_argument("v1", nargs="?", help="the older version (default: the one before V2)")
    df.add_argument("v2", nargs="?", help="the newer version (default: latest)")
    df.add_argument("--json", action="store_true")
    df.set_defaults(handler=_guard(run_diff))

    bp = psub.add_parser("bump", help="a new version: edits the file, keeps the old one as NAME@OLD.yaml")
    bp.add_argument("name")
    bp.add_argument("level", choices=LEVELS)
    bp.add_argument("--notes", required=True, help="the changelog entry of the new version")
    bp.set_defaults(handler=_guard(run_bump))

    ex = psub.add_parser("export", help="write every prompt file to a promptpack.zip")
    ex.add_argument("--output", "-o", default="promptpack.zip", help="the bundle (default: promptpack.zip)")
    ex.set_defaults(handler=_guard(run_export))

    im = psub.add_parser("import", help="import a promptpack.zip into prompts/")
    im.add_argument("bundle")
    im.add_argument("--force", action="store_true", help="overwrite prompt files that differ")
    im.set_defaults(handler=_guard(run_import))

    for parser in (ls, df, bp, ex, im):
        add_workspace_option(parser)
    p.set_defaults(handler=_missing)


def _missing(_args: argparse.Namespace) -> int:
    raise UserError("missing command after 'prompt'", "use list, diff, bump, export or import")


def _guard(fn: Any) -> Any:
    """PromptError → a one-line user error."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except PromptError as exc:
            raise UserError(str(exc), exc.hint) from None

    return handler


def _ws(args: argparse.Namespace) -> Workspace:
    ws = Workspace(find_workspace(args.workspace))
    ws.scan()
    return ws


def run_list(args: argparse.Namespace) -> int:
    ws = _ws(args)
    out: list[dict[str, Any]] = []
    for name in registry.names(ws):
        found = registry.versions(ws, name)
        out.append(
            {
                "name": name,
                "latest": found[0].version if found else None,
                "versions": [
                    {"version": v.version, "file": v.path, "snapshot": v.snapshot, "notes": v.notes()}
                    for v in found
                ],
            }
        )
    if args.json:
        print(json.dumps({"prompts": out}, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not out:
        print("no prompts (add prompts/<name>.yaml)")
    for p in out:
        print(f"{p['name']}  latest {p['latest'] or '-'}")
        for v in p["versions"]:
            tag = "  (latest)" if v["version"] == p["latest"] else ""
            where = "snapshot " + v["file"] if v["snapshot"] else v["file"]
            print(f"  {v['version']:<10} {where}{tag}  {v['notes']}")
    return EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    ws = _ws(args)
    v1, v2 = args.v1, args.v2
    data = registry.diff(ws, args.name, v1, v2)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(data["diff"] or f"{args.name}@{data['from']} and @{data['to']}: same template\n")
    return EXIT_OK


def run_bump(args: argparse.Namespace) -> int:
    ws = _ws(args)
    done = bump(ws, args.name, args.level, args.notes)
    kept = f"; {done.name}@{done.old} kept as {done.kept}" if done.kept else ""
    print(f"{done.name}: {done.old} -> {done.new} in {done.path}{kept}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    ws = _ws(args)
    data = export_bundle(ws)
    target = Path(args.output)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    print(f"wrote {target} ({len(data):,} bytes)")
    return EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    root = find_workspace(args.workspace)
    try:
        raw = Path(args.bundle).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read '{args.bundle}': {exc.strerror}", "check the path") from None
    done = import_bundle(root, raw, force=args.force)
    print(f"imported {len(done.written)} file(s), {len(done.unchanged)} unchanged")
    for rel in done.written:
        print(f"  {rel}")
    return EXIT_OK
