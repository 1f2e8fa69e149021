"""Installing a verified pack: a desk pack under .builderos/desks/installed/<name>@<version>/, an
agent or pipeline pack's files into the workspace. Every path is checked to stay inside the workspace,
the write is one transaction, it is audited, and nothing from the pack is executed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from builderos.desks import txn
from builderos.desks.audit import actor, write_entry_sync
from builderos.desks.catalog import INSTALLED
from builderos.desks.errors import DeskError
from builderos.packs.errors import PackError
from builderos.packs.verify import verify_pack

META_FILES = frozenset({"pack.yaml"})


def install_pack(pack: Path, ws: Path, allow_untrusted: bool = False, force: bool = False) -> str:
    """Verify, then install; returns a one-line summary."""
    verified = verify_pack(pack, ws, allow_untrusted)
    if verified.kind == "desk":
        prefix = (INSTALLED / f"{verified.name}@{verified.version}").as_posix()
        changes = [txn.Change(f"{prefix}/{rel}", data) for rel, data in sorted(verified.files.items())]
        existing = ws / prefix
        if existing.exists():
            old = [p for p in existing.rglob("*") if p.is_file()]
            changes += [
                txn.Change(p.relative_to(ws).as_posix(), None)
                for p in old
                if p.relative_to(existing).as_posix() not in verified.files
            ]
        where = prefix
    else:
        changes = [
            txn.Change(rel, data) for rel, data in sorted(verified.files.items()) if rel not in META_FILES
        ]
        clashes = [
            c.rel
            for c in changes
            if (ws / c.rel).exists() and (not (ws / c.rel).is_file() or (ws / c.rel).read_bytes() != c.data)
        ]
        if clashes and not force:
            raise PackError(
                f"installing would overwrite {len(clashes)} file(s): {', '.join(clashes[:5])}",
                "pass --force to replace them",
            )
        where = "the workspace"
    for c in changes:
        top = c.rel.split("/", 1)[0]
        if verified.kind != "desk" and top in (".builderos", ".git"):
            raise PackError(f"the pack would write {c.rel}", "a pack may not write BuilderOS or git data")
        try:
            txn.safe_target(ws, c.rel)
        except DeskError as exc:
            raise PackError(exc.message, exc.hint) from None
    entry = {
        "actor": actor("cli"),
        "action": "pack.install",
        "entity_type": f"{verified.kind}-pack",
        "entity_id": f"{verified.name}@{verified.version}",
        "details": {
            "txn": uuid.uuid4().hex,
            "key_id": verified.key_id,
            "trusted": verified.trusted,
            "files": sorted(verified.files),
        },
    }
    txn.commit(ws, changes, entry, lambda e: write_entry_sync(ws, e))
    trust = "trusted key " + str(verified.key_id) if verified.trusted else "UNTRUSTED (allowed explicitly)"
    return (
        f"installed {verified.kind} pack {verified.name} {verified.version} into {where} "
        f"({len(verified.files)} files, {trust})"
    )
