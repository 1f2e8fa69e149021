"""`builderos validate` as a user and a CI script run it: a subprocess, its output, its exit code.

Text output is `path:line:col: severity CODE message` (1-based line and column, then a summary line);
`--format json` is the SPEC §8 contract (relative `file`, 0-based LSP positions in UTF-16 units);
exit 0 clean (warnings and information included), 1 errors, 2 usage errors, which print one line
`builderos: error: … (hint: …)` on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_one_line_user_error, copy_shop, edit, lsp_span, run_cli, write

TEXT_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): "
    + r"(?P<severity>error|warning|information|hint) (?P<code>BOS\d{3}) (?P<message>.+)$"
)
SUMMARY = re.compile(
    r"^(?P<files>\d+) files checked: (clean|(?P<errors>\d+) errors, (?P<warnings>\d+) warnings)$"
)
FEATURE = "ship/feature.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_shop(tmp_path)


def _json(proc: Any) -> dict[str, Any]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _text_lines(stdout: str) -> tuple[list[re.Match[str]], re.Match[str]]:
    lines = stdout.rstrip("\n").split("\n")
    found = [TEXT_LINE.match(line) for line in lines[:-1]]
    assert all(found), lines
    summary = SUMMARY.match(lines[-1])
    assert summary, lines[-1]
    return found, summary  # type: ignore[return-value]


# -- output formats ------------------------------------------------------------------------------


def test_clean_workspace_text(shop: Path) -> None:
    proc = run_cli("validate", cwd=shop)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    found, summary = _text_lines(proc.stdout)
    assert summary.group(0) == "17 files checked: clean"
    # The approval plan is information: printed, but the workspace is clean.
    assert {(m["file"], m["line"], m["col"], m["severity"], m["code"]) for m in found} == {
        (FEATURE, "8", "9", "information", "BOS041"),
        (FEATURE, "12", "9", "information", "BOS041"),
        (FEATURE, "21", "9", "information", "BOS041"),
        (FEATURE, "30", "9", "information", "BOS041"),
        ("ship/hotfix.yaml", "26", "9", "information", "BOS041"),
    }


def test_errors_text(shop: Path) -> None:
    edit(shop, FEATURE, "  - id: review\n    agent: reviewer", "  - id: review\n    agent: reviewr")
    edit(shop, "agents/builder.yaml", "model: offline", "model: ofline")
    proc = run_cli("validate", cwd=shop)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    found, summary = _text_lines(proc.stdout)
    assert summary.group(0) == "17 files checked: 2 errors, 0 warnings"
    errors = [
        (m["file"], m["line"], m["col"], m["code"], m["message"]) for m in found if m["severity"] == "error"
    ]
    assert [e[:4] for e in errors] == [
        ("agents/builder.yaml", "6", "8", "BOS023"),
        (FEATURE, "26", "12", "BOS020"),
    ]
    assert re.fullmatch(r"unknown model profile 'ofline': did you mean 'offline'\? — .+", errors[0][4])
    assert re.fullmatch(r"unknown agent 'reviewr': did you mean 'reviewer'\? — .+", errors[1][4])


def test_warnings_only_exit_0(shop: Path) -> None:
    edit(shop, "prompts/docwriter.yaml", "version: 1.0.1\ndesc", "version: 1.0.2\ndesc")
    proc = run_cli("validate", cwd=shop)
    assert proc.returncode == 0, proc.stdout
    found, summary = _text_lines(proc.stdout)
    assert summary.group(0) == "17 files checked: 0 errors, 1 warnings"
    assert [(m["file"], m["line"], m["col"], m["code"]) for m in found if m["severity"] == "warning"] == [
        ("prompts/docwriter.yaml", "3", "10", "BOS051")
    ]


def test_json_shape(shop: Path) -> None:
    edit(shop, FEATURE, "needs: [review]", "needs: [reviwe]")
    edit(shop, "prompts/docwriter.yaml", "version: 1.0.1\ndesc", "version: 1.0.2\ndesc")
    proc = run_cli("validate", "--format", "json", cwd=shop)
    assert proc.returncode == 1
    report = _json(proc)
    assert set(report) == {"diagnostics", "summary"}
    assert report["summary"] == {"files": 17, "errors": 1, "warnings": 1}
    for d in report["diagnostics"]:
        assert set(d) == {"file", "code", "severity", "message", "range"}
        assert set(d["range"]) == {"start", "end"}
        assert set(d["range"]["start"]) == set(d["range"]["end"]) == {"line", "character"}
        assert not os.path.isabs(d["file"]) and "\\" not in d["file"]
        assert d["severity"] in ("error", "warning", "information", "hint")
    by_code = {d["code"]: d for d in report["diagnostics"] if d["code"] != "BOS041"}
    messages = {code: by_code[code].pop("message") for code in by_code}
    assert by_code == {
        "BOS011": {
            "file": FEATURE,
            "code": "BOS011",
            "severity": "error",
            "range": {"start": {"line": 31, "character": 12}, "end": {"line": 31, "character": 18}},
        },
        "BOS051": {
            "file": "prompts/docwriter.yaml",
            "code": "BOS051",
            "severity": "warning",
            "range": {"start": {"line": 2, "character": 9}, "end": {"line": 2, "character": 14}},
        },
    }
    # the message carries the hint after " — "
    assert re.fullmatch(r"unknown step.* 'reviwe': did you mean 'review'\? — .+", messages["BOS011"])
    assert re.fullmatch(r"the changelog has no entry for version 1\.0\.2 — .+", messages["BOS051"])
    infos = [d for d in report["diagnostics"] if d["code"] == "BOS041"]
    assert len(infos) == 5 and all(d["severity"] == "information" for d in infos)


def test_json_columns_are_utf16(shop: Path) -> None:
    """An emoji is two UTF-16 units, a CJK character one; columns count them per line."""
    edit(shop, FEATURE, "description: plan → generate", "description: 🚀🎉 plan → generate")
    edit(
        shop,
        FEATURE,
        '    agent: builder\n    with: {goal: "${{ inputs.goal }}"}\n    outputs',
        '    agent: builder\n    with: {goal: "🚀🎉 部署す ${{ inputs.gaol }}"}\n    outputs',
    )
    edit(shop, FEATURE, "needs: [review]", "needs: [reviwe]")  # a later line without emoji: no shift
    proc = run_cli("validate", "--format", "json", FEATURE, cwd=shop)
    report = _json(proc)
    errors = {d["code"]: lsp_span(d["range"]) for d in report["diagnostics"] if d["severity"] == "error"}
    # `    with: {goal: "` is 18 code points; then 🚀🎉 (4 units), space, 部署す, space, `${{ inputs.`
    assert errors == {"BOS031": (9, 38, 9, 42), "BOS011": (31, 12, 31, 18)}
    text = run_cli("validate", FEATURE, cwd=shop)
    assert any(line.startswith(f"{FEATURE}:10:") and " BOS031 " in line for line in text.stdout.split("\n"))
    assert "🚀🎉 部署す" not in text.stdout  # the message names the input, not the line
    assert "unknown input 'gaol'" in text.stdout


# -- PATH arguments and --workspace --------------------------------------------------------------


def test_path_arguments_files_and_folders(shop: Path) -> None:
    edit(shop, FEATURE, "needs: [review]", "needs: [reviwe]")
    edit(shop, "agents/builder.yaml", "model: offline", "model: ofline")

    one = _json(run_cli("validate", "--format", "json", "agents/builder.yaml", cwd=shop))
    assert one["summary"] == {"files": 1, "errors": 1, "warnings": 0}
    assert {d["file"] for d in one["diagnostics"]} == {"agents/builder.yaml"}

    folder = _json(run_cli("validate", "--format", "json", "agents", cwd=shop))
    assert folder["summary"] == {"files": 4, "errors": 1, "warnings": 0}

    two = run_cli("validate", "--format", "json", "agents/tester.yaml", "ship", cwd=shop)
    assert two.returncode == 1
    report = _json(two)
    assert report["summary"]["files"] == 3
    assert {d["file"] for d in report["diagnostics"]} == {FEATURE, "ship/hotfix.yaml"}

    clean = run_cli("validate", "agents/tester.yaml", "prompts", cwd=shop)
    assert clean.returncode == 0
    assert clean.stdout.strip().split("\n")[-1] == "6 files checked: clean"

    dotted = _json(run_cli("validate", "--format", "json", "./ship/../ship/feature.yaml", cwd=shop))
    assert {d["file"] for d in dotted["diagnostics"]} == {FEATURE}

    absolute = _json(run_cli("validate", "--format", "json", shop / "ship", cwd=shop / "agents"))
    assert {d["file"] for d in absolute["diagnostics"]} == {FEATURE, "ship/hotfix.yaml"}

    everything = _json(run_cli("validate", "--format", "json", ".", cwd=shop))
    assert everything["summary"]["files"] == 17


def test_workspace_is_found_upward_and_given_with_workspace(tmp_path: Path, shop: Path) -> None:
    edit(shop, FEATURE, "needs: [review]", "needs: [reviwe]")
    from_subfolder = _json(run_cli("validate", "--format", "json", cwd=shop / "ship"))
    assert from_subfolder["summary"]["files"] == 17
    assert {d["file"] for d in from_subfolder["diagnostics"] if d["severity"] == "error"} == {FEATURE}

    elsewhere = _json(run_cli("validate", "--format", "json", "--workspace", shop, cwd=tmp_path))
    assert elsewhere == from_subfolder
    relative_workspace = _json(run_cli("validate", "--format", "json", "--workspace", "shop", cwd=tmp_path))
    assert relative_workspace == from_subfolder

    # PATHs that exist only relative to the workspace given with --workspace
    in_workspace = _json(run_cli("validate", "--format", "json", "--workspace", shop, "ship", cwd=tmp_path))
    assert in_workspace["summary"] == {"files": 2, "errors": 1, "warnings": 0}

    absolute = _json(run_cli("validate", "--format", "json", shop / FEATURE, cwd=tmp_path))
    assert absolute["summary"] == {"files": 1, "errors": 1, "warnings": 0}


def test_paths_are_relative_to_the_current_folder(tmp_path: Path, shop: Path) -> None:
    edit(shop, FEATURE, "needs: [review]", "needs: [reviwe]")
    results = []
    for args, cwd in [
        (("--workspace", "shop", "shop/ship"), tmp_path),
        (("shop/ship/feature.yaml",), tmp_path),
        (("../ship",), shop / "agents"),
    ]:
        proc = run_cli("validate", "--format", "json", *args, cwd=cwd)
        results.append((proc.returncode, proc.stdout and json.loads(proc.stdout)["summary"]))
    assert results == [
        (1, {"files": 2, "errors": 1, "warnings": 0}),
        (1, {"files": 1, "errors": 1, "warnings": 0}),
        (1, {"files": 2, "errors": 1, "warnings": 0}),
    ]


def test_file_with_a_kind_outside_the_usual_folders(shop: Path) -> None:
    write(shop, "pipelines/extra.yaml", "kind: pipeline\nname: extra\nsteps:\n  - id: a\n    agent: nobody\n")
    report = _json(run_cli("validate", "--format", "json", "pipelines/extra.yaml", cwd=shop))
    assert [(d["file"], d["code"], lsp_span(d["range"])) for d in report["diagnostics"]] == [
        ("pipelines/extra.yaml", "BOS020", (4, 11, 4, 17))
    ]


# -- user errors: one line with a hint, exit 2, never a traceback --------------------------------


def test_no_workspace(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    if any((p / "builderos.yaml").exists() for p in (empty, *empty.parents)):
        pytest.skip("a folder above the tmp dir is a BuilderOS workspace")
    line = assert_one_line_user_error(run_cli("validate", cwd=empty))
    assert "no BuilderOS workspace" in line and "--workspace" in line


def test_workspace_option_errors(tmp_path: Path) -> None:
    line = assert_one_line_user_error(run_cli("validate", "--workspace", tmp_path / "missing", cwd=tmp_path))
    assert "is not a folder" in line
    (tmp_path / "plain").mkdir()
    line = assert_one_line_user_error(run_cli("validate", "--workspace", tmp_path / "plain", cwd=tmp_path))
    assert "has no builderos.yaml" in line
    line = assert_one_line_user_error(run_cli("validate", "--workspace", cwd=tmp_path))
    assert "--workspace" in line


def test_path_that_does_not_exist(shop: Path) -> None:
    line = assert_one_line_user_error(run_cli("validate", "ship/nope.yaml", cwd=shop))
    assert "'ship/nope.yaml' does not exist" in line


def test_path_outside_the_workspace(tmp_path: Path, shop: Path) -> None:
    write(tmp_path, "other/ship/x.yaml", "name: x\n")
    line = assert_one_line_user_error(
        run_cli("validate", "--workspace", shop, tmp_path / "other/ship/x.yaml")
    )
    assert "outside the workspace" in line


def test_path_that_is_not_a_builderos_file(shop: Path) -> None:
    line = assert_one_line_user_error(run_cli("validate", "src/app/main.py", cwd=shop))
    assert "is not a BuilderOS file" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading")
def test_unreadable_file(shop: Path) -> None:
    target = shop / "agents" / "builder.yaml"
    target.chmod(0)
    try:
        line = assert_one_line_user_error(run_cli("validate", "agents/builder.yaml", cwd=shop))
        assert "cannot read 'agents/builder.yaml'" in line
    finally:
        target.chmod(0o644)


def test_a_folder_named_like_a_file_is_a_folder(shop: Path) -> None:
    """`ship/odd.yaml/` is a folder: validating it checks the (no) files inside, it is not read as a file."""
    (shop / "ship" / "odd.yaml").mkdir()
    write(shop, "ship/odd.yaml/inner.txt", "not yaml")
    proc = run_cli("validate", "ship/odd.yaml", cwd=shop)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0 files checked: clean"
    whole = run_cli("validate", cwd=shop)  # and the scan of the workspace steps over it
    assert whole.returncode == 0 and "Traceback" not in whole.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_named_pipe_in_the_workspace_does_not_hang(shop: Path) -> None:
    os.mkfifo(shop / "ship" / "pipe.yaml")
    proc = run_cli("validate", "--format", "json", cwd=shop, timeout=10)
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 1, 2)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("validate", "--frobnicate"), id="unknown-option"),
        pytest.param(("validate", "--format", "xml"), id="bad-format"),
        pytest.param(("validat",), id="unknown-command"),
    ],
)
def test_usage_errors(shop: Path, args: tuple[str, ...]) -> None:
    line = assert_one_line_user_error(run_cli(*args, cwd=shop))
    assert "--help" in line


def test_broken_yaml_is_a_diagnostic_not_a_crash(shop: Path) -> None:
    write(shop, "ship/broken.yaml", "name: [unclosed\nsteps:\n  - id: a\n")
    (shop / "agents" / "binary.yaml").write_bytes(b"name: \xff\xfe\x00bad\n")
    proc = run_cli("validate", "--format", "json", cwd=shop)
    assert proc.returncode == 1
    report = _json(proc)
    broken = [d for d in report["diagnostics"] if d["file"] == "ship/broken.yaml"]
    assert [d["code"] for d in broken] == ["BOS001"]
    assert any(d["file"] == "agents/binary.yaml" for d in report["diagnostics"])


def test_a_huge_file_is_reported_not_skipped(shop: Path) -> None:
    huge = shop / "ship" / "huge.yaml"
    line = "# " + "x" * 1021 + "\n"
    try:
        with huge.open("w", encoding="utf-8") as f:
            f.write("name: huge\nsteps:\n  - id: a\n    run: echo\n")
            for _ in range(33 * 1024):
                f.write(line)
        proc = run_cli("validate", "--format", "json", cwd=shop)
    finally:
        huge.unlink()  # 33 MiB: do not keep it in pytest's tmp folders
    report = _json(proc)
    assert proc.returncode == 1
    assert [d["code"] for d in report["diagnostics"] if d["file"] == "ship/huge.yaml"] == ["BOS090"]
