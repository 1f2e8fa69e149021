"""Checking a pack completely, in memory, before a byte of it is written anywhere.

Refused, each with its reason: not a zip; entries other than the manifest, the signature and files/;
paths that are absolute, climb out (`..`), or are symbolic links; a file added, removed or changed
since signing; no signature, a bad signature, or a key nobody here trusts (the last two only pass
with allow_untrusted; a broken signature or a changed file never does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature

from builderos.packs.build import FORMAT, KINDS
from builderos.packs.errors import PackError
from builderos.packs.keys import key_id, parse_public
from builderos.packs.trust import is_trusted

MAX_TOTAL = 64 * 1024 * 1024
MAX_FILES = 5000


@dataclass(frozen=True)
class VerifiedPack:
    kind: str
    name: str
    version: str
    files: dict[str, bytes]
    key_id: str | None
    trusted: bool
    manifest: dict[str, Any]


def check_rel(rel: str) -> str:
    """A pack path must be a plain relative POSIX path."""
    p = PurePosixPath(rel)
    if (
        not rel
        or rel.startswith(("/", "\\"))
        or "\\" in rel
        or "\x00" in rel
        or (len(rel) > 1 and rel[1] == ":")
        or p.is_absolute()
        or any(part in ("..", ".", "") for part in rel.split("/"))
    ):
        raise PackError(
            f"the pack holds the unsafe path {rel!r}", "a pack may only hold paths inside its folder"
        )
    return rel


def verify_pack(path: Path, ws: Path | None, allow_untrusted: bool = False) -> VerifiedPack:
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise PackError(f"no pack at {path}", "check the path") from None
    except zipfile.BadZipFile:
        raise PackError(
            f"{path} is not a pack (not a zip file)", "build one with 'builderos pack build'"
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_FILES + 2 or sum(i.file_size for i in infos) > MAX_TOTAL:
            raise PackError(f"{path} is too large to be a pack", "packs hold at most 64 MB in 5000 files")
        blobs: dict[str, bytes] = {}
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise PackError(f"the pack holds a symbolic link: {name}", "a pack may only hold plain files")
            check_rel(name)
            if name in blobs:
                raise PackError(f"the pack holds {name} twice", "rebuild the pack")
            try:
                blobs[name] = zf.read(info)
            except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:  # CRC mismatch: a flipped byte
                raise PackError(
                    f"the pack is damaged: {name}: {exc}", "download or rebuild the pack"
                ) from None
    manifest_raw = blobs.pop("manifest.json", None)
    if manifest_raw is None:
        raise PackError("the pack has no manifest.json", "build it with 'builderos pack build'")
    signature_raw = blobs.pop("signature.json", None)
    strays = [n for n in blobs if not n.startswith("files/")]
    if strays:
        raise PackError(f"the pack holds {strays[0]}, outside files/", "rebuild the pack")
    key, trusted = _check_signature(manifest_raw, signature_raw, ws, allow_untrusted)
    manifest = _parse_manifest(manifest_raw)
    listed = {check_rel(str(f["path"])): f for f in manifest["files"]}
    for rel in listed:
        if rel.split("/", 1)[0] in (".builderos", ".git"):
            raise PackError(f"the pack would write {rel}", "a pack may not write BuilderOS or git data")
    present = {n[len("files/") :]: data for n, data in blobs.items()}
    for rel in present:
        check_rel(rel)
        if rel not in listed:
            raise PackError(f"{rel} was added to the pack after it was signed", "do not install this pack")
    for rel, entry in listed.items():
        if rel not in present:
            raise PackError(
                f"{rel} was removed from the pack after it was signed", "do not install this pack"
            )
        if hashlib.sha256(present[rel]).hexdigest() != entry.get("sha256"):
            raise PackError(
                f"{rel} was changed after the pack was signed (sha256 mismatch)", "do not install this pack"
            )
    return VerifiedPack(
        manifest["kind"], manifest["name"], manifest["version"], present, key, trusted, manifest
    )


def _parse_manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise PackError("the pack's manifest.json is not valid JSON", "rebuild the pack") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackError(f"the manifest is not in the {FORMAT} format", "rebuild the pack with this BuilderOS")
    if manifest.get("kind") not in KINDS.values() or not isinstance(manifest.get("files"), list):
        raise PackError("the manifest has no valid kind or file list", "rebuild the pack")
    for key in ("name", "version"):
        value = manifest.get(key)
        if not isinstance(value, str) or not value or "/" in value or "\\" in value or value.startswith("."):
            raise PackError(f"the manifest's {key} {value!r} is not a plain name", "rebuild the pack")
    return manifest


def _check_signature(
    manifest: bytes, raw: bytes | None, ws: Path | None, allow_untrusted: bool
) -> tuple[str | None, bool]:
    if raw is None:
        if allow_untrusted:
            return None, False
        raise PackError(
            "the pack is not signed", "ask its publisher for a signed pack, or pass --allow-untrusted"
        )
    try:
        sig = json.loads(raw)
        public = str(sig["public_key"])
        signature = base64.b64decode(str(sig["signature"]), validate=True)
    except (ValueError, KeyError, TypeError):
        raise PackError("the pack's signature.json is damaged", "rebuild the pack") from None
    key = parse_public(public)
    try:
        key.verify(signature, manifest)
    except InvalidSignature:
        raise PackError(
            "the pack's signature does not match its manifest (tampered or wrong key)",
            "do not install this pack",
        ) from None
    kid = key_id(public)
    trusted = is_trusted(public, ws)
    if not trusted and not allow_untrusted:
        raise PackError(
            f"the pack is signed by key {kid}, which is not trusted here",
            f"if you trust its publisher: builderos trust add {public}",
        )
    return kid, trusted
