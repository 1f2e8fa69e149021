"""Ed25519 keys: `ed25519:<base64>` public keys to share, PEM private keys kept outside workspaces."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from builderos.packs.errors import PackError

PREFIX = "ed25519:"


def config_dir() -> Path:
    """The user's BuilderOS folder: BUILDEROS_CONFIG_DIR, else $XDG_CONFIG_HOME/builderos."""
    explicit = os.environ.get("BUILDEROS_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "builderos"


def public_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def key_id(public: str) -> str:
    """A short stable name of a public key: the start of the sha256 of its raw bytes."""
    return hashlib.sha256(
        parse_public(public).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).hexdigest()[:16]


def parse_public(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if not text.startswith(PREFIX):
        raise PackError(f"not a BuilderOS public key: {text[:40]!r}", "a public key reads ed25519:<base64>")
    try:
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise PackError(
            "the public key is damaged (bad base64 or length)", "copy the whole key line"
        ) from None


def inside_workspace(path: Path) -> Path | None:
    for folder in (path.absolute(), *path.absolute().parents):
        if (folder / "builderos.yaml").is_file() or (folder / "builderos.yml").is_file():
            return folder
    return None


def generate(name: str, out_dir: Path | None = None) -> tuple[Path, str]:
    """Write a new private key (mode 600) and its .pub; refuses to put it inside a workspace."""
    folder = out_dir if out_dir is not None else config_dir() / "keys"
    ws = inside_workspace(folder)
    if ws is not None:
        raise PackError(
            f"refusing to write a private key inside the workspace {ws}",
            "keep keys outside workspaces (the default is your BuilderOS config folder)",
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.key"
    if path.exists():
        raise PackError(f"{path} exists already", "pick another --name, or remove the old key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public = public_text(key.public_key())
    path.with_suffix(".pub").write_text(public + "\n", encoding="utf-8")
    return path, public


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise PackError(f"no key file at {path}", "make one with 'builderos pack keygen'") from None
    except (ValueError, TypeError):
        raise PackError(
            f"{path} is not an unencrypted PEM private key", "use a key from 'builderos pack keygen'"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PackError(f"{path} is not an Ed25519 key", "use a key from 'builderos pack keygen'")
    return key
