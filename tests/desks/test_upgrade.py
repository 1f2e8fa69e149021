"""`desk upgrade`: a three-way merge per file of the applied version, the new one and the user's file.
Untouched files take the new version, the user's edits survive, overlapping edits become git-style
conflicts that are reported and audited, never lost."""

from __future__ import annotations

import json
from pathlib import Path

from tests.desks.util import audit_records, cli, make_desk, make_workspace

V1 = {
    "builderos.yaml": "version: 1\nname: ${{ params.package }}\n",
    "app.txt": "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n",
    "config.txt": "color = red\nsize = 1\n",
    "plain.txt": "v1 plain\n",
    "old.txt": "dropped in v2\n",
}
V2 = {
    "builderos.yaml": "version: 1\nname: ${{ params.package }}\n",
    "app.txt": "line 1\nline 2\nline 3\nline 4\nline 5\nline 6 (from v2)\n",
    "config.txt": "color = blue\nsize = 1\n",
    "plain.txt": "v2 plain\n",
    "new.txt": "added in v2 for ${{ params.package }}\n",
}


def setup(tmp: Path) -> tuple[Path, Path]:
    ws = make_workspace(tmp / "ws")
    make_desk(ws, "svc", "1.0.0", files=V1)
    dest = tmp / "project"
    r = cli(tmp, "desk", "apply", "svc", "--param", "package=shop", "--dest", str(dest), cwd=ws)
    assert r.returncode == 0, r.stderr
    # the user edits: a line far from the desk's change, and the very line the desk changes
    (dest / "app.txt").write_text("line 1 (mine)\nline 2\nline 3\nline 4\nline 5\nline 6\n")
    (dest / "config.txt").write_text("color = green\nsize = 1\n")
    # the desk moves on to 2.0.0
    for rel in V1:
        (ws / "desks/svc/template" / rel).unlink()
    make_desk(ws, "svc", "2.0.0", files=V2)
    return ws, dest


def test_upgrade_merges_keeps_edits_and_marks_conflicts(tmp_path: Path) -> None:
    ws, dest = setup(tmp_path)
    r = cli(tmp_path, "desk", "upgrade", "svc", "--dest", str(dest), "--json", cwd=ws)
    assert r.returncode == 1, r.stderr  # a conflict is left for the user
    result = json.loads(r.stdout)
    statuses = {f["path"]: f["status"] for f in result["files"]}
    assert statuses == {
        "app.txt": "merged",
        "builderos.yaml": "unchanged",
        "config.txt": "conflict",
        "new.txt": "created",
        "old.txt": "deleted",
        "plain.txt": "updated",
    }
    assert result["from"] == "1.0.0" and result["to"] == "2.0.0" and result["conflicts"] == ["config.txt"]

    assert (
        dest / "app.txt"
    ).read_text() == "line 1 (mine)\nline 2\nline 3\nline 4\nline 5\nline 6 (from v2)\n"
    assert (dest / "config.txt").read_text() == (
        "<<<<<<< yours\ncolor = green\n=======\ncolor = blue\n>>>>>>> svc 2.0.0\nsize = 1\n"
    )
    assert (dest / "plain.txt").read_text() == "v2 plain\n"
    assert (dest / "new.txt").read_text() == "added in v2 for shop\n"
    assert not (dest / "old.txt").exists()

    record = json.loads((dest / ".builderos/desks/applied/svc.json").read_text())
    assert record["version"] == "2.0.0"
    assert (dest / ".builderos/desks/base/svc/config.txt").read_text() == "color = blue\nsize = 1\n"
    assert not (dest / ".builderos/desks/base/svc/old.txt").exists()
    [entry] = audit_records(tmp_path, dest, "desk.upgrade")
    assert entry["details"]["conflicts"] == ["config.txt"] and entry["details"]["from"] == "1.0.0"


def test_upgrade_shows_both_sides_of_each_file(tmp_path: Path) -> None:
    ws, dest = setup(tmp_path)
    before = (dest / "app.txt").read_text()
    r = cli(tmp_path, "desk", "upgrade", "svc", "--dest", str(dest), "--dry-run", cwd=ws)
    assert r.returncode == 1
    out = r.stdout
    assert "== app.txt: merged" in out and "== config.txt: conflict" in out
    assert "-- the desk's change (1.0.0 → 2.0.0):" in out and "+line 6 (from v2)" in out
    assert "-- your change:" in out and "+line 1 (mine)" in out
    assert "would upgrade desk svc 1.0.0 → 2.0.0; 1 conflict(s)" in out
    assert (dest / "app.txt").read_text() == before  # a dry run writes nothing


def test_upgrade_of_a_desk_never_applied_is_a_usage_error(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, "svc")
    r = cli(tmp_path, "desk", "upgrade", "svc", "--dest", str(tmp_path / "nowhere"), cwd=ws)
    assert r.returncode == 2 and "desk 'svc' was never applied" in r.stderr
