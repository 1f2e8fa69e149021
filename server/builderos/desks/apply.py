"""Applying a desk: check the parameters, render, show the plan, write atomically, record, validate."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from builderos.desks import records, txn
from builderos.desks.audit import actor, write_entry_sync
from builderos.desks.catalog import DeskSource, check_requires, select
from builderos.desks.errors import DeskError
from builderos.desks.params import public_params, resolve_params
from builderos.desks.render import RenderedFile, render_desk
from builderos.diagnostics import Diagnostic


@dataclass
class Plan:
    create: list[str] = field(default_factory=list)
    overwrite: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"create": self.create, "overwrite": self.overwrite, "unchanged": self.unchanged}


@dataclass
class ApplyResult:
    desk: DeskSource
    dest: Path
    plan: Plan
    applied: bool
    params: dict[str, Any]
    diagnostics: list[tuple[str, Diagnostic]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for _, d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for _, d in self.diagnostics if d.severity == "warning")

    def as_dict(self) -> dict[str, Any]:
        """The shape of the builderos/deskApply answer (and of `desk apply --json`)."""
        return {
            "desk": {"name": self.desk.name, "version": self.desk.version, "source": self.desk.source},
            "dest": str(self.dest),
            "plan": self.plan.as_dict(),
            "applied": self.applied,
            "diagnostics": {"errors": self.errors, "warnings": self.warnings},
        }


def make_plan(dest: Path, files: list[RenderedFile]) -> Plan:
    plan = Plan()
    for f in files:
        target = txn.safe_target(dest, f.rel)
        if not target.exists() and not target.is_symlink():
            plan.create.append(f.rel)
        elif target.is_file() and not target.is_symlink() and target.read_bytes() == f.data:
            plan.unchanged.append(f.rel)
        else:
            plan.overwrite.append(f.rel)
    return plan


def apply_desk(
    spec: str,
    given: Mapping[str, Any],
    dest: Path,
    workspace: Path | None = None,
    dry_run: bool = False,
    force: bool = False,
    source: str = "cli",
    on_plan: Callable[[Plan], None] | None = None,
) -> ApplyResult:
    """Apply the desk `spec` to `dest`; nothing is written on any error, or in a dry run."""
    src = select(spec, workspace)
    check_requires(src.desk)
    values = resolve_params(src.desk, given)
    files = render_desk(src, values)
    if dest.exists() and not dest.is_dir():
        raise DeskError(f"{dest} is not a folder", "pass a folder with --dest", usage=True)
    if not dry_run and dest.is_dir():
        txn.recover(dest, lambda e: write_entry_sync(dest, e))
    plan = make_plan(dest, files)
    if on_plan is not None:
        on_plan(plan)
    result = ApplyResult(src, dest, plan, False, public_params(src.desk, values))
    if dry_run:
        return result
    if plan.overwrite and not force:
        shown = ", ".join(plan.overwrite[:5]) + (" …" if len(plan.overwrite) > 5 else "")
        raise DeskError(
            f"applying desk '{src.name}' would overwrite {len(plan.overwrite)} file(s): {shown}",
            "look at the plan with --dry-run, then pass --force to overwrite",
        )
    dest.mkdir(parents=True, exist_ok=True)
    commit_files(dest, src, result.params, {f.rel: f for f in files}, "desk.apply", source, {})
    result.applied = True
    result.diagnostics = validate(dest)
    return result


def commit_files(
    dest: Path,
    src: DeskSource,
    params: dict[str, Any],
    rendered: dict[str, RenderedFile],
    action: str,
    source: str,
    extra: dict[str, Any],
    writes: list[txn.Change] | None = None,
) -> None:
    """Write the files (or `writes`, for an upgrade), the record and the merge base in one transaction."""
    name = src.name
    previous: list[str] = []
    if (dest / records.record_rel(name)).is_file():
        previous = list((records.load_record(dest, name).get("files") or {}).keys())
    record = {
        "name": name,
        "version": src.version,
        "source": src.source,
        "params": params,
        "files": {rel: records.sha256(f.data) for rel, f in sorted(rendered.items())},
        "applied_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    changes = (
        writes if writes is not None else [txn.Change(f.rel, f.data, f.executable) for f in rendered.values()]
    )
    changes = changes + records.record_changes(record, {r: f.data for r, f in rendered.items()}, previous)
    txn_id = uuid.uuid4().hex
    entry = {
        "actor": actor(source),
        "action": action,
        "entity_type": "desk",
        "entity_id": f"{name}@{src.version}",
        "details": {"txn": txn_id, "name": name, "version": src.version, "params": params, **extra},
    }
    txn.commit(dest, changes, entry, lambda e: write_entry_sync(dest, e))


def validate(dest: Path) -> list[tuple[str, Diagnostic]]:
    """The validator's findings on the folder after the desk was applied."""
    from builderos.validate.api import validate_workspace
    from builderos.workspace.index import Workspace

    ws = Workspace(dest)
    ws.scan()
    found = validate_workspace(ws)
    return [(rel, d) for rel, ds in sorted(found.items()) for d in ds]
