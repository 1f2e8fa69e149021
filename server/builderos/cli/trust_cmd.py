"""`trust add | list | remove`: the public keys whose packs install without --allow-untrusted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UserError, add_workspace_option


def add_trust(sub: Any) -> None:
    trust = sub.add_parser("trust", help="manage the public keys trusted to sign packs")
    tsub = trust.add_subparsers(dest="trust_command", metavar="TRUST_COMMAND")

    p = tsub.add_parser("add", help="trust a public key (ed25519:… or a .pub file)")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--name", help="a name to remember the key by")
    p.add_argument("--user", action="store_true", help="trust it for all your workspaces")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_add)

    p = tsub.add_parser("list", help="the trusted keys")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_list)

    p = tsub.add_parser("remove", help="stop trusting a key")
    p.add_argument("key_id", metavar="KEY_ID")
    p.add_argument("--user", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_remove)
    trust.set_defaults(handler=lambda args: (trust.print_help(sys.stderr), EXIT_USAGE)[1])


def _file(args: argparse.Namespace) -> Path:
    from builderos.cli.desk_cmd import _workspace
    from builderos.packs.trust import user_file, workspace_file

    if args.user:
        return user_file()
    ws = _workspace(args)
    if ws is None:
        raise UserError("not in a workspace", "pass --workspace DIR, or --user to trust the key everywhere")
    return workspace_file(ws)


def cmd_add(args: argparse.Namespace) -> int:
    from builderos.packs.errors import PackError
    from builderos.packs.trust import add

    text = args.key
    if not text.startswith("ed25519:") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8").strip()
    try:
        kid = add(_file(args), text, args.name)
    except PackError as exc:
        raise UserError(exc.message, exc.hint, EXIT_USAGE) from None
    print(f"trusted key {kid} ({'user' if args.user else 'workspace'})")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from builderos.cli.desk_cmd import _workspace
    from builderos.packs.trust import trusted

    for k in trusted(_workspace(args)):
        print(f"{k['id']}  {k['scope']:<9} {k.get('name', '')}  {k['key']}")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    from builderos.packs.trust import remove

    if not remove(_file(args), args.key_id):
        raise UserError(f"no trusted key {args.key_id}", "see 'builderos trust list'", EXIT_FAILED)
    print(f"no longer trusting {args.key_id}")
    return EXIT_OK
