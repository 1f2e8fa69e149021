"""Prompt bundles (`promptpack.zip`): every prompt file under prompts/, plus a manifest of sha256s.

Export is deterministic (fixed timestamps, permissions and order), so export → import → export gives
the same bytes. Import refuses a bundle whose files do not match its manifest (tampered), entries
outside `prompts/` (a path escaping the workspace, a link), oversized content, and — unless forced —
files that would overwrite different local content.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from builderos.prompts.registry import PromptError
from builderos.workspace.index import Workspace

MANIFEST = "manifest.json"
FORMAT = "builderos-promptpack"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
MAX_BYTES = 16 * 1024 * 1024  # all files of a bundle together, uncompressed
PREFIX = "prompts/"


@dataclass(slots=True)
class Imported:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prompt_files(ws: Workspace) -> list[str]:
    """The prompt files a bundle carries: kind `prompt`, under prompts/."""
    return [rel for rel, doc in sorted(ws.docs.items()) if doc.kind == "prompt" and rel.startswith(PREFIX)]


def _entry(name: str, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info, data


def export_bundle(ws: Workspace) -> bytes:
    """The bundle's bytes."""
    files = {rel: (ws.root / rel).read_bytes() for rel in prompt_files(ws)}
    if not files:
        raise PromptError("this workspace has no prompt files to export", "add prompts/<name>.yaml")
    manifest = {"format": FORMAT, "version": 1, "files": {rel: _sha(data) for rel, data in files.items()}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        entries = [_entry(MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())]
        entries += [_entry(rel, files[rel]) for rel in sorted(files)]
        for info, data in entries:
            zf.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def _safe(name: str) -> bool:
    if "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        return False
    parts = PurePosixPath(name).parts
    return (
        name.startswith(PREFIX)
        and len(parts) >= 2
        and all(p not in ("", ".", "..") for p in parts)
        and name.endswith((".yaml", ".yml"))
    )


def read_bundle(raw: bytes) -> dict[str, bytes]:
    """The files of a bundle, verified against its manifest; PromptError saying why it is refused."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise PromptError(
            "not a promptpack.zip (not a zip file)", "export one with 'builderos prompt export'"
        ) from None
    with zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_BYTES:
            raise PromptError("the bundle is too large", f"a bundle holds at most {MAX_BYTES // 2**20} MiB")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise PromptError("the bundle lists a file twice", "export it again")
        if MANIFEST not in names:
            raise PromptError("the bundle has no manifest.json", "export it with 'builderos prompt export'")
        try:
            manifest = json.loads(zf.read(MANIFEST))
            listed = manifest["files"] if manifest.get("format") == FORMAT else None
        except (ValueError, KeyError, TypeError, AttributeError):
            listed = None
        if not isinstance(listed, dict):
            raise PromptError("the bundle's manifest.json is not a promptpack manifest", "export it again")
        files: dict[str, bytes] = {}
        for info in infos:
            name = info.filename
            if name == MANIFEST:
                continue
            mode = info.external_attr >> 16
            if not _safe(name) or stat.S_ISLNK(mode) or info.is_dir():
                raise PromptError(
                    f"the bundle holds '{name}', outside prompts/ (or not a plain .yaml file)",
                    "only prompt files under prompts/ can be imported",
                )
            data = zf.read(info)
            if listed.get(name) != _sha(data):
                raise PromptError(
                    f"the bundle was tampered with: '{name}' does not match its manifest sha256",
                    "get the bundle again from its source",
                )
            files[name] = data
        missing = sorted(set(listed) - set(files))
        if missing:
            raise PromptError(
                f"the bundle was tampered with: '{missing[0]}' is in the manifest but not in the bundle",
                "get the bundle again from its source",
            )
    return files


def import_bundle(root: Path, raw: bytes, *, force: bool = False) -> Imported:
    files = read_bundle(raw)
    resolved_root = root.resolve()
    result = Imported()
    conflicts: list[str] = []
    for rel, data in sorted(files.items()):
        target = (root / rel).resolve()
        if not target.is_relative_to(resolved_root / "prompts"):
            raise PromptError(f"'{rel}' would be written outside the workspace", "check prompts/ for links")
        if target.exists():
            if target.read_bytes() == data:
                result.unchanged.append(rel)
                continue
            conflicts.append(rel)
    if conflicts and not force:
        raise PromptError(
            f"importing would overwrite {len(conflicts)} changed file(s): {', '.join(conflicts)}",
            "pass --force to overwrite them",
        )
    for rel, data in sorted(files.items()):
        if rel in result.unchanged:
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        result.written.append(rel)
    return result
