"""Fixture workspaces copied per test, and the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WORKSPACES = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces"
LAB = WORKSPACES / "scenario-lab"
SHOP = WORKSPACES / "shop"


def copy_ws(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on `ws`, with its temporary folder (where scratch copies go) next to the workspace."""
    tmp = ws.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
        env={**os.environ, "TMPDIR": str(tmp)},
    )


def cli_json(ws: Path, *args: str, code: int = 0) -> Any:
    proc = cli(ws, *args, "--json")
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def run_ids(ws: Path) -> list[str]:
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        return [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return copy_ws(LAB, tmp_path / "lab")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_ws(SHOP, tmp_path / "shop")
