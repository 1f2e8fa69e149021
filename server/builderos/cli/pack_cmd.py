"""`pack keygen | build | verify`: making and checking signed packs (exit 1 when a pack is refused)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from builderos.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UserError, add_workspace_option


def add_pack(sub: Any) -> None:
    pack = sub.add_parser("pack", help="build, sign and verify desk, agent and pipeline packs")
    psub = pack.add_subparsers(dest="pack_command", metavar="PACK_COMMAND")

    p = psub.add_parser("keygen", help="make an Ed25519 signing key (kept outside any workspace)")
    p.add_argument("--name", default="builderos", help="the key's file name (default: builderos)")
    p.add_argument("--out", metavar="DIR", help="where to write it (default: your BuilderOS config folder)")
    p.set_defaults(handler=cmd_keygen)

    p = psub.add_parser("build", help="make a .deskpack from a desk (or pack.yaml) folder")
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--key", metavar="FILE", help="the private key to sign with")
    p.add_argument("--unsigned", action="store_true", help="build without a signature")
    p.add_argument("--out", metavar="FILE", help="the pack file (default: NAME-VERSION.deskpack here)")
    p.set_defaults(handler=cmd_build)

    p = psub.add_parser("verify", help="check a pack's files and signature against the trusted keys")
    p.add_argument("pack", metavar="PACK")
    p.add_argument("--allow-untrusted", action="store_true")
    add_workspace_option(p)
    p.set_defaults(handler=cmd_verify)
    pack.set_defaults(handler=lambda args: (pack.print_help(sys.stderr), EXIT_USAGE)[1])


def cmd_keygen(args: argparse.Namespace) -> int:
    from builderos.packs.errors import PackError
    from builderos.packs.keys import generate, key_id

    try:
        path, public = generate(args.name, Path(args.out).expanduser() if args.out else None)
    except PackError as exc:
        raise UserError(exc.message, exc.hint, EXIT_FAILED) from None
    print(f"private key: {path} (keep it secret; never commit it)")
    print(f"public key ({key_id(public)}): {public}")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from builderos.packs.build import build_pack
    from builderos.packs.errors import PackError

    if not args.key and not args.unsigned:
        raise UserError(
            "a pack is signed: pass --key FILE", "make a key with 'builderos pack keygen', or --unsigned"
        )
    try:
        out = build_pack(
            Path(args.folder),
            None if args.unsigned else Path(args.key).expanduser(),
            Path(args.out) if args.out else None,
        )
    except PackError as exc:
        raise UserError(exc.message, exc.hint, EXIT_FAILED) from None
    print(f"built {out}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from builderos.cli.desk_cmd import _workspace
    from builderos.packs.errors import PackError
    from builderos.packs.verify import verify_pack

    try:
        v = verify_pack(Path(args.pack), _workspace(args), args.allow_untrusted)
    except PackError as exc:
        raise UserError(exc.message, exc.hint, EXIT_FAILED) from None
    who = (
        f"signed by trusted key {v.key_id}"
        if v.trusted
        else (f"signed by UNTRUSTED key {v.key_id}" if v.key_id else "UNSIGNED")
    )
    print(f"ok: {v.kind} pack {v.name} {v.version}, {len(v.files)} files intact, {who}")
    return EXIT_OK
