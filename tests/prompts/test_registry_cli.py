"""The prompt registry through the CLI: BOS050–052 in `validate`, list, diff, bump, bundles, ci init."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import yaml

from helpers import assert_one_line_user_error, edit, lsp_span, run_cli, write

SNAPSHOT = ".builderos/prompts/greeter@1.1.0.yaml"


def diagnostics(root: Path) -> list[dict[str, Any]]:
    proc = run_cli("validate", "--format", "json", "--workspace", root)
    assert "Traceback" not in proc.stderr
    return list(json.loads(proc.stdout)["diagnostics"])


def found(root: Path, code: str) -> list[tuple[str, tuple[int, int, int, int], str]]:
    return [(d["file"], lsp_span(d["range"]), d["message"]) for d in diagnostics(root) if d["code"] == code]


def snapshot(root: Path, template_change: tuple[str, str] | None = None) -> None:
    """What a run leaves behind: the exact text of the version it used (optionally edited since)."""
    text = (root / "prompts/greeter.yaml").read_text()
    write(root, SNAPSHOT, text)
    if template_change:
        edit(root, "prompts/greeter.yaml", *template_change)


def test_bos050_template_changed_after_a_run_used_the_version(lab: Path) -> None:
    snapshot(lab)
    assert found(lab, "BOS050") == []  # same text as the snapshot
    edit(lab, "prompts/greeter.yaml", "in one sentence", "in two sentences")
    ((file, span, message),) = found(lab, "BOS050")
    assert file == "prompts/greeter.yaml" and span == (2, 9, 2, 14)
    assert message.startswith("the template of greeter@1.1.0 changed since a run used it")
    assert "builderos prompt bump greeter patch" in message
    proc = run_cli("prompt", "bump", "greeter", "patch", "--notes", "Two sentences", "--workspace", lab)
    assert proc.returncode == 0, proc.stderr
    assert "greeter: 1.1.0 -> 1.1.1" in proc.stdout
    assert found(lab, "BOS050") == []  # 1.1.1 is new, and 1.1.0 is kept as the run used it
    assert (lab / "prompts/greeter@1.1.0.yaml").read_text() == (lab / SNAPSHOT).read_text()
    assert "in two sentences" in (lab / "prompts/greeter.yaml").read_text()


def test_bos051_and_bos052_in_validate(lab: Path) -> None:
    edit(lab, "prompts/summary.yaml", "version: 0.3.0\n", "version: 0.4.0\n")
    ((file, span, message),) = found(lab, "BOS051")
    assert (file, span) == ("prompts/summary.yaml", (2, 9, 2, 14))
    assert message.startswith("the changelog has no entry for version 0.4.0")
    edit(lab, "prompts/summary.yaml", "version: 0.4.0\n", 'version: "0.4"\n')
    bad = found(lab, "BOS052")
    assert [(f, s) for f, s, _ in bad] == [("prompts/summary.yaml", (2, 9, 2, 14))]
    assert bad[0][2].startswith("version '0.4' is not semver")
    proc = run_cli("validate", "--workspace", lab)
    assert proc.returncode == 1 and "prompts/summary.yaml:3:10: error BOS052" in proc.stdout


def test_list_and_diff(lab: Path) -> None:
    proc = run_cli("prompt", "list", "--json", "--workspace", lab)
    assert proc.returncode == 0, proc.stderr
    prompts = {p["name"]: p for p in json.loads(proc.stdout)["prompts"]}
    assert prompts["greeter"]["latest"] == "1.1.0"
    assert [v["version"] for v in prompts["greeter"]["versions"]] == ["1.1.0", "1.0.0"]
    assert prompts["greeter"]["versions"][1]["file"] == "prompts/greeter@1.0.0.yaml"
    table = run_cli("prompt", "list", "--workspace", lab).stdout
    assert "1.1.0      prompts/greeter.yaml  (latest)  Answer as JSON" in table

    proc = run_cli("prompt", "diff", "greeter", "1.0.0", "latest", "--json", "--workspace", lab)
    data = json.loads(proc.stdout)
    assert (data["name"], data["from"], data["to"]) == ("greeter", "1.0.0", "1.1.0")
    assert data["fromText"] == "Greet {{ who }} in one sentence.\n"
    assert data["diff"].splitlines()[:3] == ["--- greeter@1.0.0", "+++ greeter@1.1.0", "@@ -1 +1,2 @@"]
    assert '+Answer with JSON: {"greeting": "...", "words": N}.' in data["diff"]
    plain = run_cli("prompt", "diff", "greeter", "--workspace", lab)  # previous vs latest by default
    assert plain.stdout == data["diff"]
    line = assert_one_line_user_error(run_cli("prompt", "diff", "greeter", "9.9.9", "--workspace", lab))
    assert "no version 9.9.9" in line and "available: 1.1.0, 1.0.0" in line
    line = assert_one_line_user_error(run_cli("prompt", "diff", "nobody", "--workspace", lab))
    assert "unknown prompt 'nobody'" in line


def test_bump_edits_the_file_and_keeps_the_old_version(lab: Path) -> None:
    before = (lab / "prompts/greeter.yaml").read_text()
    proc = run_cli("prompt", "bump", "greeter", "minor", "--notes", 'Say "hi" first', "--workspace", lab)
    assert proc.returncode == 0, proc.stderr
    assert "greeter: 1.1.0 -> 1.2.0 in prompts/greeter.yaml" in proc.stdout
    assert (lab / "prompts/greeter@1.1.0.yaml").read_text() == before
    after = (lab / "prompts/greeter.yaml").read_text()
    data = yaml.safe_load(after)
    assert data["version"] == "1.2.0"
    assert data["changelog"][0]["version"] == "1.2.0" and data["changelog"][0]["notes"] == 'Say "hi" first'
    assert data["changelog"][1:] == yaml.safe_load(before)["changelog"]
    assert after.replace("version: 1.2.0\n", "version: 1.1.0\n", 1).count("\n") == before.count("\n") + 1
    assert run_cli("validate", "--workspace", lab).returncode == 0
    listed = json.loads(run_cli("prompt", "list", "--json", "--workspace", lab).stdout)["prompts"]
    greeter = next(p for p in listed if p["name"] == "greeter")
    assert [v["version"] for v in greeter["versions"]] == ["1.2.0", "1.1.0", "1.0.0"]
    major = run_cli("prompt", "bump", "greeter", "major", "--notes", "New shape", "--workspace", lab)
    assert "1.2.0 -> 2.0.0" in major.stdout
    line = assert_one_line_user_error(
        run_cli("prompt", "bump", "greeter", "patch", "--notes", " ", "--workspace", lab)
    )
    assert "changelog notes" in line


def export(root: Path, out: Path) -> bytes:
    proc = run_cli("prompt", "export", "--output", out, "--workspace", root)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def empty_workspace(tmp: Path) -> Path:
    root = tmp / "other"
    write(root, "builderos.yaml", "version: 1\nname: other\n")
    return root


def test_export_import_export_round_trips_byte_for_byte(lab: Path, tmp_path: Path) -> None:
    first = export(lab, tmp_path / "a.zip")
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert zf.namelist() == [
            "manifest.json",
            "prompts/greeter.yaml",
            "prompts/greeter@1.0.0.yaml",
            "prompts/summary.yaml",
        ]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    other = empty_workspace(tmp_path)
    proc = run_cli("prompt", "import", tmp_path / "a.zip", "--workspace", other)
    assert proc.returncode == 0, proc.stderr
    assert "imported 3 file(s), 0 unchanged" in proc.stdout
    assert (other / "prompts/greeter.yaml").read_bytes() == (lab / "prompts/greeter.yaml").read_bytes()
    assert export(other, tmp_path / "b.zip") == first
    again = run_cli("prompt", "import", tmp_path / "a.zip", "--workspace", other)
    assert "imported 0 file(s), 3 unchanged" in again.stdout


def _rezip(original: bytes, change: dict[str, bytes], manifest: dict[str, Any] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json" and manifest is not None:
                data = json.dumps(manifest).encode()
            dst.writestr(info.filename, change.pop(info.filename, data))
        for name, data in change.items():
            dst.writestr(name, data)
    return out.getvalue()


def test_import_refuses_tampered_escaping_and_conflicting_bundles(lab: Path, tmp_path: Path) -> None:
    bundle = export(lab, tmp_path / "a.zip")
    other = empty_workspace(tmp_path)

    def refused(data: bytes, *extra: str) -> str:
        path = tmp_path / "bad.zip"
        path.write_bytes(data)
        line = assert_one_line_user_error(run_cli("prompt", "import", path, *extra, "--workspace", other))
        return line

    tampered = _rezip(bundle, {"prompts/greeter.yaml": b"kind: prompt\nname: greeter\nversion: 6.6.6\n"})
    assert "tampered with: 'prompts/greeter.yaml' does not match its manifest sha256" in refused(tampered)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("manifest.json"))
    evil = b"kind: prompt\nname: evil\nversion: 1.0.0\n"
    import hashlib

    for name in ("../evil.yaml", "prompts/../../evil.yaml", "/tmp/evil.yaml", "ship/evil.yaml"):
        forged = {**manifest, "files": {**manifest["files"], name: hashlib.sha256(evil).hexdigest()}}
        line = refused(_rezip(bundle, {name: evil}, forged))
        assert "outside prompts/" in line, name
    assert "not a zip file" in refused(b"not a zip")
    missing = {**manifest, "files": {**manifest["files"], "prompts/ghost.yaml": "0" * 64}}
    assert "'prompts/ghost.yaml' is in the manifest but not in the bundle" in refused(
        _rezip(bundle, {}, missing)
    )
    assert not (other / "prompts").exists() and not (tmp_path / "evil.yaml").exists()

    write(other, "prompts/greeter.yaml", "kind: prompt\nname: greeter\nversion: 0.0.1\n")
    assert "would overwrite 1 changed file(s): prompts/greeter.yaml" in refused(
        bundle,
    )
    assert (other / "prompts/greeter.yaml").read_text().endswith("0.0.1\n")  # nothing lost
    (tmp_path / "a.zip").write_bytes(bundle)
    forced = run_cli("prompt", "import", tmp_path / "a.zip", "--force", "--workspace", other)
    assert (
        forced.returncode == 0
        and (other / "prompts/greeter.yaml").read_bytes() == (lab / "prompts/greeter.yaml").read_bytes()
    )


def test_ci_init_writes_the_workflow_once(lab: Path) -> None:
    proc = run_cli("ci", "init", "--workspace", lab)
    assert proc.returncode == 0, proc.stderr
    workflow = yaml.safe_load((lab / ".github/workflows/builderos.yml").read_text())
    steps = workflow["jobs"]["builderos"]["steps"]
    commands = [s.get("run") for s in steps if "run" in s]
    assert commands[1:] == ["builderos validate", "builderos scenario run", "builderos eval --offline"]
    assert "pip install" in commands[0]
    (lab / ".github/workflows/builderos.yml").write_text("# mine\n")
    line = assert_one_line_user_error(run_cli("ci", "init", "--workspace", lab))
    assert "already exists" in line and "--force" in line
    assert (lab / ".github/workflows/builderos.yml").read_text() == "# mine\n"
    assert run_cli("ci", "init", "--force", "--workspace", lab).returncode == 0
    assert "builderos eval --offline" in (lab / ".github/workflows/builderos.yml").read_text()
