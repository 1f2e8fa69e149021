"""`pack build DIR`: a zip of a desk (desk.yaml), agent pack or pipeline pack (pack.yaml) with a
manifest listing every file's sha256, signed with Ed25519 over the manifest's exact bytes.

Layout: `manifest.json`, `signature.json`, and `files/<path>` for every listed file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import yaml

from builderos.packs.errors import PackError
from builderos.packs.keys import load_private, public_text

FORMAT = "builderos-pack/1"
KINDS = {"desk": "desk", "agent-pack": "agent", "pipeline-pack": "pipeline"}
SKIPPED = frozenset({"__pycache__", ".git", ".builderos", "node_modules", ".DS_Store"})
#: The zip's fixed timestamp: the same folder always gives the same bytes.
EPOCH = (1980, 1, 1, 0, 0, 0)


def describe_folder(folder: Path) -> dict[str, Any]:
    """kind, name and version from desk.yaml or pack.yaml."""
    for filename in ("desk.yaml", "pack.yaml"):
        path = folder / filename
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise PackError(f"{path}: not valid YAML ({exc})", "run 'builderos validate'") from None
            if not isinstance(data, dict) or not data.get("name") or not data.get("version"):
                raise PackError(f"{path} needs a name and a version", "add 'name:' and 'version:'")
            kind = str(data.get("kind") or "desk") if filename == "desk.yaml" else str(data.get("kind"))
            if kind not in KINDS:
                raise PackError(
                    f"{path}: unknown pack kind {kind!r}", "use kind: agent-pack or pipeline-pack"
                )
            return {"kind": KINDS[kind], "name": str(data["name"]), "version": str(data["version"])}
    raise PackError(
        f"{folder} has neither desk.yaml nor pack.yaml", "a pack is built from a desk or pack folder"
    )


def collect(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        for f in sorted(filenames):
            if f in SKIPPED:
                continue
            path = Path(dirpath) / f
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise PackError(f"{rel} is a symbolic link", "packs hold plain files only")
            files[rel] = path.read_bytes()
    for dirpath, dirnames, _ in os.walk(folder):
        for d in dirnames:
            if (Path(dirpath) / d).is_symlink():
                raise PackError(
                    f"{Path(dirpath, d).relative_to(folder)} is a symbolic link",
                    "packs hold plain files only",
                )
    return files


def manifest_bytes(meta: dict[str, Any], files: dict[str, bytes]) -> bytes:
    manifest = {
        "format": FORMAT,
        **meta,
        "files": [
            {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for rel, data in sorted(files.items())
        ],
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def build_pack(folder: Path, key_path: Path | None, out: Path | None) -> Path:
    """Write the pack (signed unless key_path is None) and return its path."""
    if not folder.is_dir():
        raise PackError(f"{folder} is not a folder", "pass the desk's folder")
    meta = describe_folder(folder)
    files = collect(folder)
    manifest = manifest_bytes(meta, files)
    target = out or Path.cwd() / f"{meta['name']}-{meta['version']}.deskpack"
    entries: list[tuple[str, bytes]] = [("manifest.json", manifest)]
    if key_path is not None:
        key = load_private(key_path)
        signature = {
            "algorithm": "ed25519",
            "public_key": public_text(key.public_key()),
            "signature": base64.b64encode(key.sign(manifest)).decode("ascii"),
        }
        entries.append(("signature.json", (json.dumps(signature, indent=2) + "\n").encode()))
    entries += [(f"files/{rel}", data) for rel, data in sorted(files.items())]
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    os.replace(tmp, target)
    return target
