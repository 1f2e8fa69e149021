"""Helpers of the desk tests: the CLI as a subprocess, small desks written on the fly, folder snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: this interpreter first on PATH (desk pipelines run `python -m pytest`),
    and a private config folder (keys and user trust) per test."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["BUILDEROS_CONFIG_DIR"] = str(tmp / "config")
    env.pop("BUILDEROS_CRASHPOINT", None)
    env.pop("BUILDEROS_CRASHPOINT_TRACE", None)
    env.update(extra)
    return env


def cli(tmp: Path, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args],
        cwd=str(cwd or tmp),
        env=env_for(tmp, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def make_workspace(root: Path) -> Path:
    write(root, "builderos.yaml", "version: 1\nname: ws\n")
    write(root, "builderos.policy.yaml", "version: 1\ndefault: deny\n")
    return root


PARAMS_DESK = """kind: desk
name: {name}
version: {version}
description: A desk with one parameter of each type
parameters:
  package: {{type: string, pattern: "^[a-z_][a-z0-9_]*$", required: true}}
  port: {{type: number, min: 1024, max: 65535, default: 8000}}
  debug: {{type: boolean, default: false}}
  license: {{type: enum, values: [MIT, Apache-2.0], default: MIT}}
  token: {{type: secret}}
files: template/
requires: {{builderos: ">=0.1"}}
"""


def make_desk(
    ws: Path, name: str = "small", version: str = "1.0.0", files: dict[str, str | bytes] | None = None
) -> Path:
    folder = ws / "desks" / name
    write(folder, "desk.yaml", PARAMS_DESK.format(name=name, version=version))
    for rel, text in (files or {"README.md": "# ${{ params.package }}\nport ${{ params.port }}\n"}).items():
        write(folder / "template", rel, text)
    return folder


def snapshot(root: Path, skip_store: bool = True) -> dict[str, bytes]:
    """Every file under root by relative path (the SQLite store left out: it is not desk output)."""
    out: dict[str, bytes] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if skip_store and rel.startswith(".builderos/builderos.db"):
            continue
        if path.is_file() and not path.is_symlink():
            out[rel] = path.read_bytes()
    return out


def audit_records(tmp: Path, ws: Path, action: str) -> list[dict[str, Any]]:
    r = cli(tmp, "audit", "export", "--action", action, "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
