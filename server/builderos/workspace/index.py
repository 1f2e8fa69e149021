"""The workspace index: every BuilderOS file with its parsed data, and the symbols they define.

Documents come from disk or from the editor (the editor's text wins while a file is open). Symbols
(agents, prompts with every version, profiles, pipelines, context packs, desks) are rebuilt lazily
after a change; that is cheap because it only reads the already-parsed data of each file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builderos.workspace.chunks import IncrementalPipelineParser
from builderos.workspace.document import TOO_LARGE_MARK, Document, parse_document
from builderos.workspace.kinds import IGNORED_DIRS, kind_of, may_be_builderos_file
from builderos.workspace.yamlload import gc_paused

SNAPSHOT_DIR = ".builderos/prompts"
MAX_FILE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SymbolRef:
    """Where a symbol is defined: the file and the path of its mapping inside that file."""

    path: str
    at: tuple[str | int, ...]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DiskTexts:
    """The workspace's files as read from disk, in walk order: equal texts mean equal parses."""

    files: tuple[tuple[str, str | None], ...]  # None: walked, but gone or unreadable when read
    snapshots: tuple[tuple[str, str], ...]

    @property
    def size(self) -> int:
        return sum(len(text or "") for _, text in (*self.files, *self.snapshots))


@dataclass(slots=True)
class PromptVersion:
    version: str
    ref: SymbolRef
    snapshot: bool = False


@dataclass(slots=True)
class Symbols:
    """Everything other files may refer to by name."""

    project: SymbolRef | None = None
    policy: SymbolRef | None = None
    agents: dict[str, list[SymbolRef]] = field(default_factory=dict)
    prompts: dict[str, list[PromptVersion]] = field(default_factory=dict)
    profiles: dict[str, SymbolRef] = field(default_factory=dict)
    pipelines: dict[str, list[SymbolRef]] = field(default_factory=dict)
    scenarios: dict[str, list[SymbolRef]] = field(default_factory=dict)
    evals: dict[str, list[SymbolRef]] = field(default_factory=dict)
    context_packs: dict[str, SymbolRef] = field(default_factory=dict)
    desks: dict[str, list[SymbolRef]] = field(default_factory=dict)
    mcp_servers: set[str] = field(default_factory=set)
    envs: list[str] = field(default_factory=list)

    @property
    def default_profile(self) -> str | None:
        models = self.project.data.get("models") if self.project else None
        default = models.get("default") if isinstance(models, dict) else None
        return default if isinstance(default, str) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _add(table: dict[str, list[SymbolRef]], name: Any, ref: SymbolRef) -> None:
    if isinstance(name, str) and name:
        table.setdefault(name, []).append(ref)


class Workspace:
    """All BuilderOS files below a root, kept up to date by the daemon or loaded once by the CLI."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.docs: dict[str, Document] = {}
        self.snapshots: dict[str, Document] = {}
        self.parsers: dict[str, IncrementalPipelineParser] = {}
        self.generation = 0
        self._symbols: Symbols | None = None

    # -- paths ---------------------------------------------------------------------------------
    def rel(self, path: Path | str) -> str | None:
        """Workspace-relative posix path, or None for files outside the workspace."""
        p = Path(path)
        if not p.is_absolute():
            p = self.root / p
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            try:
                return p.absolute().relative_to(self.root).as_posix()
            except ValueError:
                return None

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    # -- loading -------------------------------------------------------------------------------
    def scan(self, texts: DiskTexts | None = None) -> None:
        """Read every BuilderOS file below the root (and the prompt snapshots of the store).

        `texts` is what `read_disk` returned a moment ago, for a caller that looked before parsing.
        """
        texts = texts if texts is not None else self.read_disk()
        for rel, text in texts.files:
            self._load_disk_text(rel, _already_read(text))
        self._set_snapshots(texts.snapshots)

    def read_disk(self) -> DiskTexts:
        """The text of every BuilderOS file and prompt snapshot, without parsing any of them."""
        files = tuple((rel, _read_text(self.root / rel)) for rel in self._walk())
        return DiskTexts(files, self._snapshot_texts())

    def _walk(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.startswith("."))
            base = Path(dirpath)
            for name in sorted(filenames):
                rel = (base / name).relative_to(self.root).as_posix()
                if may_be_builderos_file(rel):
                    yield rel

    def _snapshot_texts(self) -> tuple[tuple[str, str], ...]:
        folder = self.root / SNAPSHOT_DIR
        if not folder.is_dir():
            return ()
        found = []
        for file in sorted(folder.glob("*.yaml")):
            text = _read_text(file)
            if text is not None:
                found.append((file.relative_to(self.root).as_posix(), text))
        return tuple(found)

    def load_snapshots(self) -> None:
        self._set_snapshots(self._snapshot_texts())

    def _set_snapshots(self, texts: tuple[tuple[str, str], ...]) -> None:
        self.snapshots = {rel: parse_document(rel, text, "prompt") for rel, text in texts}
        self._changed()

    def load_from_disk(self, rel: str) -> Document | None:
        """(Re)load a file from disk unless the editor owns it; removes it when it is gone."""
        return self._load_disk_text(rel, lambda: _read_text(self.root / rel))

    def _load_disk_text(self, rel: str, read: Callable[[], str | None]) -> Document | None:
        """A file's disk text (None: gone), read only when the editor does not own the file."""
        current = self.docs.get(rel)
        if current is not None and current.from_editor:
            return current
        text = read()
        if text is None:
            self.remove(rel)
            return None
        return self._store(rel, text, None, from_editor=False)

    def set_text(self, rel: str, text: str, version: int | None) -> Document | None:
        """The editor's content of a file (open or changed)."""
        return self._store(rel, text, version, from_editor=True)

    def close(self, rel: str) -> Document | None:
        """The editor closed the file: disk content is the truth again."""
        doc = self.docs.get(rel)
        if doc is not None:
            doc.from_editor = False
        return self.load_from_disk(rel)

    def remove(self, rel: str) -> bool:
        self.parsers.pop(rel, None)
        if self.docs.pop(rel, None) is not None:
            self._changed()
            return True
        return False

    def _store(self, rel: str, text: str, version: int | None, *, from_editor: bool) -> Document | None:
        kind = kind_of(rel, text)
        if kind is None:
            self.remove(rel)
            return None
        current = self.docs.get(rel)
        if current is not None and current.text == text and current.kind == kind:
            current.version = version
            current.from_editor = from_editor
            return current
        parser = self.parsers.setdefault(rel, IncrementalPipelineParser()) if kind == "pipeline" else None
        with gc_paused():
            doc = parse_document(rel, text, kind, version, parser)
        doc.from_editor = from_editor
        self.docs[rel] = doc
        self._changed(structural=kind != "pipeline" or _names_changed(current, doc))
        return doc

    def _changed(self, structural: bool = True) -> None:
        self.generation += 1
        if structural:
            self._symbols = None

    # -- symbols -------------------------------------------------------------------------------
    @property
    def symbols(self) -> Symbols:
        if self._symbols is None:
            self._symbols = self._build_symbols()
        return self._symbols

    def _build_symbols(self) -> Symbols:
        s = Symbols()
        for rel, doc in sorted(self.docs.items()):
            data = doc.data
            if not isinstance(data, dict):
                continue
            ref = SymbolRef(rel, (), data)
            if doc.kind == "project":
                if s.project is None or rel == "builderos.yaml":
                    s.project = ref
                self._project_symbols(s, rel, data)
            elif doc.kind == "policy":
                if s.policy is None or rel == "builderos.policy.yaml":
                    s.policy = ref
            elif doc.kind == "agent":
                _add(s.agents, data.get("name"), ref)
            elif doc.kind == "prompt":
                self._add_prompt(s, data, ref, snapshot=False)
            elif doc.kind == "pipeline":
                _add(s.pipelines, data.get("name"), ref)
            elif doc.kind == "scenario":
                _add(s.scenarios, data.get("name"), ref)
            elif doc.kind == "eval":
                _add(s.evals, data.get("name"), ref)
            elif doc.kind == "desk":
                _add(s.desks, data.get("name"), ref)
            elif doc.kind == "context":
                pack_id = _str(data.get("id")) or Path(rel).stem
                s.context_packs.setdefault(pack_id, ref)
        for rel, doc in sorted(self.snapshots.items()):
            if isinstance(doc.data, dict):
                self._add_prompt(s, doc.data, SymbolRef(rel, (), doc.data), snapshot=True)
        return s

    @staticmethod
    def _project_symbols(s: Symbols, rel: str, data: dict[str, Any]) -> None:
        models = data.get("models")
        profiles = models.get("profiles") if isinstance(models, dict) else None
        if isinstance(profiles, dict):
            for name, profile in profiles.items():
                if isinstance(profile, dict):
                    s.profiles.setdefault(name, SymbolRef(rel, ("models", "profiles", name), profile))
        agents = data.get("agents")
        if isinstance(agents, list):
            for i, agent in enumerate(agents):
                if isinstance(agent, dict):
                    _add(s.agents, agent.get("name"), SymbolRef(rel, ("agents", i), agent))
        mcp = data.get("mcp")
        servers = mcp.get("servers", mcp) if isinstance(mcp, dict) else None
        if isinstance(servers, dict):
            s.mcp_servers.update(k for k in servers if isinstance(k, str))
        envs = data.get("envs")
        if isinstance(envs, list):
            s.envs = [e for e in envs if isinstance(e, str)]

    @staticmethod
    def _add_prompt(s: Symbols, data: dict[str, Any], ref: SymbolRef, *, snapshot: bool) -> None:
        name, version = _str(data.get("name")), data.get("version")
        if name is None:
            return
        versions = s.prompts.setdefault(name, [])
        version_text = str(version) if version is not None else ""
        if snapshot and any(v.version == version_text and not v.snapshot for v in versions):
            return
        if not snapshot:
            versions[:] = [v for v in versions if not (v.snapshot and v.version == version_text)]
        versions.append(PromptVersion(version_text, ref, snapshot))

    # -- queries -------------------------------------------------------------------------------
    def documents(self, kind: str | None = None) -> list[Document]:
        return [d for _, d in sorted(self.docs.items()) if kind is None or d.kind == kind]

    def dependents(self, rel: str) -> list[str]:
        """Files whose diagnostics may change when `rel` changes (always including `rel`)."""
        doc = self.docs.get(rel)
        if doc is not None and doc.kind in ("pipeline", "scenario", "eval", "context"):
            kinds = {"pipeline": ("scenario",), "scenario": (), "eval": (), "context": ("project",)}[doc.kind]
            return [rel, *(r for r, d in sorted(self.docs.items()) if d.kind in kinds and r != rel)]
        return [rel, *(r for r in sorted(self.docs) if r != rel)]


def _names_changed(before: Document | None, after: Document) -> bool:
    def name(doc: Document | None) -> Any:
        return doc.data.get("name") if doc is not None and isinstance(doc.data, dict) else None

    return before is None or name(before) != name(after)


def _already_read(text: str | None) -> Callable[[], str | None]:
    return lambda: text


def _read_text(path: Path) -> str | None:
    """A file's text; None when it is missing, unreadable or not a regular file (a FIFO would block).

    A file too large to read is represented by a marker, so it is reported (BOS090), not dropped.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > MAX_FILE_BYTES:
            return f"{TOO_LARGE_MARK}{info.st_size}"
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace")
