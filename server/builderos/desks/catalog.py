"""Where desks come from: the built-in ones, the workspace's `desks/`, and installed packs.

A desk is named `NAME` or `NAME@RANGE` (a semver range; the highest matching version wins), or given
as a path to a folder holding desk.yaml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nodesemver
import yaml
from pydantic import ValidationError

from builderos.desks.errors import DeskError
from builderos.model.desk import Desk

Source = Literal["builtin", "workspace", "installed"]

#: Installed desk packs live here, one folder per name@version.
INSTALLED = Path(".builderos") / "desks" / "installed"


@dataclass(frozen=True)
class DeskSource:
    """A desk declaration together with the folder it was read from."""

    desk: Desk
    folder: Path
    source: Source

    @property
    def name(self) -> str:
        return self.desk.name

    @property
    def version(self) -> str:
        return self.desk.version

    @property
    def files_dir(self) -> Path:
        return self.folder / self.desk.files


def builtin_roots() -> list[Path]:
    """The built-in desks: package data when installed, the repository's desks/ when run from source.

    BUILDEROS_DESKS_PATH (folders separated by os.pathsep) adds more, first.
    """
    here = Path(__file__).resolve().parent
    candidates = [Path(p) for p in os.environ.get("BUILDEROS_DESKS_PATH", "").split(os.pathsep) if p]
    candidates += [here / "builtin", here.parents[2] / "desks"]
    seen: list[Path] = []
    for c in candidates:
        if c.is_dir() and all(c.resolve() != s.resolve() for s in seen):
            seen.append(c)
    return seen


def load_desk(folder: Path, source: Source) -> DeskSource:
    """Read and check folder/desk.yaml (a broken one is a one-line error naming the file)."""
    path = folder / "desk.yaml"
    if not path.is_file():
        path = folder / "desk.yml"
    if not path.is_file():
        raise DeskError(f"{folder} has no desk.yaml", "a desk is a folder with desk.yaml and its files")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        desk = Desk.model_validate(data)
    except yaml.YAMLError as exc:
        raise DeskError(f"{path}: not valid YAML ({exc})", "run 'builderos validate' on it") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DeskError(f"{path}: {where}: {first['msg']}", "run 'builderos validate' on it") from None
    return DeskSource(desk, folder, source)


def _folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "desk.yaml").is_file() or (p / "desk.yml").is_file())


def discover(workspace: Path | None, problems: list[DeskError] | None = None) -> list[DeskSource]:
    """Every desk that can be applied from here; unreadable ones are skipped (and told in `problems`)."""
    found: list[DeskSource] = []
    places: list[tuple[Path, Source]] = [(r, "builtin") for r in builtin_roots()]
    if workspace is not None:
        places += [(workspace / "desks", "workspace"), (workspace / INSTALLED, "installed")]
    for root, source in places:
        for folder in _folders(root):
            try:
                found.append(load_desk(folder, source))
            except DeskError as exc:
                if problems is not None:
                    problems.append(exc)
    return found


def split_spec(spec: str) -> tuple[str, str | None]:
    name, sep, rng = spec.partition("@")
    return name, (rng if sep else None)


def select(spec: str, workspace: Path | None) -> DeskSource:
    """The desk `spec` names: a folder path, or NAME[@RANGE] (highest matching version)."""
    as_path = Path(spec).expanduser()
    if ("/" in spec or spec.startswith(".")) and as_path.is_dir():
        return load_desk(as_path.resolve(), "workspace")
    name, rng = split_spec(spec)
    if rng is not None:
        try:
            nodesemver.Range(rng, loose=False)
        except (ValueError, TypeError):
            raise DeskError(f"'{rng}' is not a version range", "write e.g. ^1.0 or >=1.2 <2", True) from None
    candidates = [d for d in discover(workspace) if d.name == name]
    if not candidates:
        known = sorted({d.name for d in discover(workspace)})
        raise DeskError(f"no desk named '{name}'", f"known desks: {', '.join(known) or 'none'}", usage=True)
    matching = [d for d in candidates if rng is None or _satisfies(d.version, rng)]
    if not matching:
        versions = ", ".join(sorted({d.version for d in candidates}))
        raise DeskError(f"no version of desk '{name}' matches {rng}", f"available: {versions}", True)
    order: dict[Source, int] = {"workspace": 0, "installed": 1, "builtin": 2}
    best = max(matching, key=lambda d: (_sort_key(d.version), -order[d.source]))
    return best


def _satisfies(version: str, rng: str) -> bool:
    try:
        return bool(nodesemver.satisfies(version, rng, loose=False))
    except (ValueError, TypeError):
        return False


def _sort_key(version: str) -> tuple[int, ...]:
    core = version.split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(p) for p in core.split("."))
    except ValueError:
        return (-1,)


def check_requires(desk: Desk) -> None:
    """Refuse a desk made for another BuilderOS version."""
    from builderos import __version__

    rng = desk.requires.builderos
    if rng and not _satisfies(__version__, rng):
        raise DeskError(
            f"desk '{desk.name}' {desk.version} requires BuilderOS {rng}; this is {__version__}",
            "upgrade BuilderOS or pick an older version of the desk with NAME@RANGE",
        )
