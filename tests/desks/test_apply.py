"""`desk apply`: the plan first, no overwrite without --force, templates rendered in contents and
names (binary files copied as is, the rendered file's own expressions kept), recorded and audited."""

from __future__ import annotations

import json
from pathlib import Path

from tests.desks.util import audit_records, cli, make_desk, make_workspace, snapshot

PNG = b"\x89PNG\r\n\x1a\n\x00\x00${{ params.package }}\xff\xfe"
FILES: dict[str, str | bytes] = {
    "builderos.yaml": "version: 1\nname: ${{ params.package }}\n",
    "builderos.policy.yaml": "version: 1\ndefault: deny\n",
    "src/${{ params.package }}/__init__.py": "PORT = ${{ params.port }}\nDEBUG = '${{ params.debug }}'\n",
    "ship/p.yaml": "kind: pipeline\nname: p\ninputs: {who: {type: string, default: x}}\n"
    'steps:\n  - {id: a, run: "echo ${{ inputs.who }}"}\n',
    "logo.png": PNG,
}


def test_dry_run_shows_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files=FILES)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "logo.png").write_bytes(b"mine")
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "small",
        "--param",
        "package=shop",
        "--dest",
        str(dest),
        "--dry-run",
        "--json",
        cwd=ws,
    )
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    assert plan == {
        "create": ["builderos.policy.yaml", "builderos.yaml", "ship/p.yaml", "src/shop/__init__.py"],
        "overwrite": ["logo.png"],
        "unchanged": [],
    }
    assert json.loads(r.stdout)["applied"] is False
    assert snapshot(dest) == {"logo.png": b"mine"}


def test_apply_refuses_to_overwrite_without_force_then_force_overwrites(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files=FILES)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "logo.png").write_bytes(b"mine")
    r = cli(tmp_path, "desk", "apply", "small", "--param", "package=shop", "--dest", str(dest), cwd=ws)
    assert r.returncode == 1
    assert "would overwrite 1 file(s): logo.png" in r.stderr and "--force" in r.stderr
    assert "overwrite  logo.png" in r.stderr  # the plan was shown before refusing
    assert snapshot(dest) == {"logo.png": b"mine"}

    r = cli(
        tmp_path, "desk", "apply", "small", "--param", "package=shop", "--dest", str(dest), "--force", cwd=ws
    )
    assert r.returncode == 0, r.stderr
    assert (dest / "logo.png").read_bytes() == PNG  # not text: copied byte for byte
    assert (dest / "src/shop/__init__.py").read_text() == "PORT = 8000\nDEBUG = 'false'\n"
    assert '"echo ${{ inputs.who }}"' in (dest / "ship/p.yaml").read_text()  # the pipeline's own expression
    assert "validation: 0 error(s)" in r.stdout

    again = cli(
        tmp_path, "desk", "apply", "small", "--param", "package=shop", "--dest", str(dest), "--json", cwd=ws
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["plan"]["overwrite"] == []
    assert len(json.loads(again.stdout)["plan"]["unchanged"]) == 5


def test_apply_records_the_desk_and_audits_it(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files=FILES)
    dest = tmp_path / "out"
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "small",
        "--param",
        "package=shop",
        "--param",
        "port=9090",
        "--dest",
        str(dest),
        cwd=ws,
    )
    assert r.returncode == 0, r.stderr
    record = json.loads((dest / ".builderos/desks/applied/small.json").read_text())
    assert record["name"] == "small" and record["version"] == "1.0.0" and record["params"]["port"] == 9090
    assert set(record["files"]) == {
        "builderos.yaml",
        "builderos.policy.yaml",
        "logo.png",
        "ship/p.yaml",
        "src/shop/__init__.py",
    }
    assert (dest / ".builderos/desks/base/small/src/shop/__init__.py").read_text().startswith("PORT = 9090")
    [entry] = audit_records(tmp_path, dest, "desk.apply")
    assert entry["entity_type"] == "desk" and entry["entity_id"] == "small@1.0.0"
    assert entry["details"]["params"]["package"] == "shop"
    assert cli(tmp_path, "audit", "verify", "--workspace", str(dest)).returncode == 0
    assert not (dest / ".builderos/desks/txn").exists()


def test_apply_reports_validation_errors_of_the_result(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files={**FILES, "agents/a.yaml": "kind: agent\nname: a\nprompt: nope@^1\n"})
    dest = tmp_path / "out"
    r = cli(
        tmp_path, "desk", "apply", "small", "--param", "package=shop", "--dest", str(dest), "--json", cwd=ws
    )
    assert r.returncode == 1
    assert json.loads(r.stdout)["diagnostics"]["errors"] >= 1
    assert "agents/a.yaml:3:" in r.stderr and "BOS021" in r.stderr


def test_name_at_range_picks_the_highest_matching_version(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, "small", "1.0.0")
    make_desk(ws, "small-two", "2.1.0", files={"README.md": "two\n"})
    text = (ws / "desks/small-two/desk.yaml").read_text().replace("name: small-two", "name: small")
    (ws / "desks/small-two/desk.yaml").write_text(text)
    dest = tmp_path / "out"
    r = cli(
        tmp_path, "desk", "apply", "small@^1", "--param", "package=p", "--dest", str(dest), "--json", cwd=ws
    )
    assert json.loads(r.stdout)["desk"]["version"] == "1.0.0"
    r = cli(
        tmp_path,
        "desk",
        "apply",
        "small@>=2",
        "--param",
        "package=p",
        "--dest",
        str(dest),
        "--dry-run",
        "--json",
        cwd=ws,
    )
    assert json.loads(r.stdout)["desk"]["version"] == "2.1.0"
    r = cli(tmp_path, "desk", "apply", "small@^3", "--param", "package=p", "--dest", str(dest), cwd=ws)
    assert (
        r.returncode == 2
        and "no version of desk 'small' matches ^3" in r.stderr
        and "1.0.0, 2.1.0" in r.stderr
    )
    r = cli(tmp_path, "desk", "apply", "nosuch", "--dest", str(dest), cwd=ws)
    assert r.returncode == 2 and "no desk named 'nosuch'" in r.stderr


def test_requires_a_matching_builderos_version(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    folder = make_desk(ws)
    (folder / "desk.yaml").write_text((folder / "desk.yaml").read_text().replace('">=0.1"', '">=99"'))
    r = cli(tmp_path, "desk", "apply", "small", "--param", "package=p", "--dest", str(tmp_path / "o"), cwd=ws)
    assert r.returncode == 1 and "requires BuilderOS >=99" in r.stderr


def test_show_lists_parameters_and_files(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files=FILES)
    r = cli(tmp_path, "desk", "show", "small", "--json", cwd=ws)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["source"] == "workspace"
    assert info["parameters"]["token"] == {"type": "secret", "required": False, "secret": True}
    assert "src/${{ params.package }}/__init__.py" in info["files"]


def test_a_write_that_fails_half_way_changes_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    make_desk(ws, files={"a.txt": "a\n", "src/${{ params.package }}/x.py": "x\n", "z.txt": "z\n"})
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "src").write_text("a file where the desk needs a folder\n")
    (dest / "z.txt").write_text("mine\n")
    before = snapshot(dest)
    r = cli(
        tmp_path, "desk", "apply", "small", "--param", "package=p", "--dest", str(dest), "--force", cwd=ws
    )
    assert r.returncode == 1 and "nothing was changed" in r.stderr and "Traceback" not in r.stderr
    assert snapshot(dest) == before
