"""The public keys a user (config folder) or a workspace (.builderos/trusted_keys.json) trusts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from builderos.packs.errors import PackError
from builderos.packs.keys import config_dir, key_id, parse_public


def user_file() -> Path:
    return config_dir() / "trusted_keys.json"


def workspace_file(ws: Path) -> Path:
    return ws / ".builderos" / "trusted_keys.json"


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"keys": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise PackError(f"{path} is not valid JSON", "fix or remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise PackError(f"{path} is not a trusted-keys file", "fix or remove it")
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def add(path: Path, public: str, name: str | None) -> str:
    parse_public(public)
    kid = key_id(public)
    data = _load(path)
    data["keys"] = [k for k in data["keys"] if k.get("id") != kid]
    data["keys"].append({"id": kid, "key": public.strip(), "name": name or kid})
    _save(path, data)
    return kid


def remove(path: Path, kid: str) -> bool:
    data = _load(path)
    kept = [k for k in data["keys"] if k.get("id") != kid]
    if len(kept) == len(data["keys"]):
        return False
    data["keys"] = kept
    _save(path, data)
    return True


def trusted(ws: Path | None) -> list[dict[str, Any]]:
    """Every trusted key, the workspace's and the user's, each with where it came from."""
    out = [{**k, "scope": "user"} for k in _load(user_file())["keys"]]
    if ws is not None:
        out += [{**k, "scope": "workspace"} for k in _load(workspace_file(ws))["keys"]]
    return out


def is_trusted(public: str, ws: Path | None) -> bool:
    return any(str(k.get("key", "")).strip() == public.strip() for k in trusted(ws))
