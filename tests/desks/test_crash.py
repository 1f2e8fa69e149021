"""An apply killed (SIGKILL) at every crash point leaves the folder untouched or complete once
`desk recover` (or the next apply) has run: never half-applied, and the audit entry written once."""

from __future__ import annotations

import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
from tests.desks.util import audit_records, cli, make_desk, make_workspace, snapshot, write

from builderos.desks import txn
from builderos.desks.audit import write_entry_sync

FILES: dict[str, str | bytes] = {
    "builderos.yaml": "version: 1\nname: ${{ params.package }}\n",
    "README.md": "# ${{ params.package }}\n",
    "src/${{ params.package }}/app.py": "PORT = ${{ params.port }}\n",
}


def outside_store(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".builderos/")}


def audited(dest: Path, action: str) -> int:
    """How many audit records of `action` the folder's store holds (read straight from SQLite)."""
    with sqlite3.connect(dest / ".builderos" / "builderos.db") as conn:
        return int(conn.execute("SELECT count(*) FROM audit WHERE action = ?", (action,)).fetchone()[0])


def crash_points(tmp: Path, ws: Path, dest: Path, args: list[str]) -> list[str]:
    trace = tmp / "trace.txt"
    r = cli(
        tmp,
        "desk",
        "apply",
        "small",
        *args,
        "--dest",
        str(dest),
        cwd=ws,
        BUILDEROS_CRASHPOINT_TRACE=str(trace),
    )
    assert r.returncode == 0, r.stderr
    points = [f"{name}:{nth}" for _, name, nth in (line.split() for line in trace.read_text().splitlines())]
    assert any(p.startswith("desk.move") for p in points) and any(
        p.startswith("desk.committed") for p in points
    )
    return points


@pytest.mark.parametrize("existing", [False, True], ids=["fresh folder", "overwriting files"])
def test_apply_killed_anywhere_is_rolled_back_or_forward(tmp_path: Path, existing: bool) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files=FILES)
    before_dir = tmp_path / "before"
    before_dir.mkdir()
    if existing:
        write(before_dir, "README.md", "my readme\n")
        write(before_dir, "builderos.yaml", "version: 1\nname: mine\n")
        write(before_dir, "notes.txt", "untouched by the desk\n")
    args = ["--param", "package=shop", "--param", "port=8080", "--force"]

    complete_dir = tmp_path / "complete"
    shutil.copytree(before_dir, complete_dir)
    points = crash_points(tmp_path, ws, complete_dir, args)
    before, complete = outside_store(before_dir), outside_store(complete_dir)
    assert before != complete

    outcomes = {"untouched": 0, "complete": 0}
    last_complete = complete_dir
    for i, point in enumerate(points):
        dest = tmp_path / f"d{i}"
        shutil.copytree(before_dir, dest)
        killed = cli(
            tmp_path, "desk", "apply", "small", *args, "--dest", str(dest), cwd=ws, BUILDEROS_CRASHPOINT=point
        )
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        # what `desk recover` and every apply do first (the CLI command is run for the first point)
        if i == 0:
            recover = cli(tmp_path, "desk", "recover", "--dest", str(dest), cwd=ws)
            assert recover.returncode == 0 and "rolled back" in recover.stdout, (point, recover.stderr)
        else:
            txn.recover(dest, lambda entry, d=dest: write_entry_sync(d, entry))
        state = outside_store(dest)
        assert not (dest / ".builderos/desks/txn").exists(), point
        if state == before:
            outcomes["untouched"] += 1
            assert not (dest / ".builderos/desks/applied").exists(), point
        else:
            assert state == complete, point
            outcomes["complete"] += 1
            assert (dest / ".builderos/desks/applied/small.json").is_file(), point
            assert audited(dest, "desk.apply") == 1, point
            last_complete = dest
    assert outcomes["untouched"] > 0 and outcomes["complete"] > 0, outcomes
    assert cli(tmp_path, "audit", "verify", "--workspace", str(last_complete)).returncode == 0


def test_the_next_apply_recovers_an_interrupted_one(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files=FILES)
    dest = tmp_path / "out"
    args = ["--param", "package=shop"]
    killed = cli(
        tmp_path,
        "desk",
        "apply",
        "small",
        *args,
        "--dest",
        str(dest),
        cwd=ws,
        BUILDEROS_CRASHPOINT="desk.move:2",
    )
    assert killed.returncode == -signal.SIGKILL
    assert (dest / ".builderos/desks/txn/journal.json").is_file()  # half way, before recovery
    r = cli(tmp_path, "desk", "apply", "small", *args, "--dest", str(dest), "--json", cwd=ws)
    assert r.returncode == 0, r.stderr
    assert sorted(outside_store(dest)) == ["README.md", "builderos.yaml", "src/shop/app.py"]
    assert len(audit_records(tmp_path, dest, "desk.apply")) == 1
