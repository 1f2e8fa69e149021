"""`builderos scenario run` through the CLI: passing, failing with diffs and lines, golden updates."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.scenarios.conftest import cli, cli_json, run_ids

GOLDEN = "scenarios/golden/release-ok.trace.json"


def line_of(ws: Path, rel: str, needle: str) -> int:
    """0-based line of the first line holding `needle`."""
    return next(i for i, line in enumerate((ws / rel).read_text().splitlines()) if needle in line)


def test_passing_scenarios_are_recorded_in_the_store_and_leave_the_workspace_alone(lab: Path) -> None:
    before = sorted(p.relative_to(lab).as_posix() for p in lab.rglob("*"))
    out = cli_json(lab, "scenario", "run")
    results = {r["name"]: r for r in out["results"]}
    assert set(results) == {"release-ok", "release-denied"}
    for r in results.values():
        assert r["passed"] is True, r["failures"]
        assert r["failures"] == [] and "diff" not in r
        assert r["file"] == f"scenarios/{r['name']}.yaml"
    # the runs are in the user's store (and its audit chain), the files went to a scratch copy
    assert {r["runId"] for r in results.values()} <= set(run_ids(lab))
    runs = cli_json(lab, "runs")
    assert {r["id"]: r["status"] for r in runs}[results["release-denied"]["runId"]] == "failed"
    assert cli(lab, "audit", "verify").returncode == 0
    assert list((lab.parent / "tmp" / "builderos-scratch").iterdir()) == []  # passed: removed
    after = sorted(p.relative_to(lab).as_posix() for p in lab.rglob("*") if ".builderos" not in p.parts)
    assert after == [p for p in before if ".builderos" not in p]
    assert not (lab / "src" / "notes.md").exists() and not (lab / ".git").exists()
    shown = cli_json(lab, "show", results["release-ok"]["runId"])
    assert shown["scenario"] == "release-ok"
    assert [s["attempts"] for s in shown["steps"] if s["id"] == "check"] == [2]  # retried once


def test_a_failing_scenario_names_the_expectation_line_and_shows_the_trace_diff(lab: Path) -> None:
    scenario = lab / "scenarios" / "release-ok.yaml"
    scenario.write_text(scenario.read_text().replace('{contains: "health endpoint"}', '{contains: "nope"}'))
    pipeline = lab / "ship" / "release.yaml"
    pipeline.write_text(pipeline.read_text().replace("grep -c notes", "grep -c -i notes"))
    proc = cli(lab, "scenario", "run", "release-ok")
    assert proc.returncode == 1, proc.stderr
    contains_line = line_of(lab, "scenarios/release-ok.yaml", "contains:")
    golden_line = line_of(lab, "scenarios/release-ok.yaml", "golden:")
    assert f"scenarios/release-ok.yaml:{contains_line + 1}:" in proc.stdout
    assert 'src/notes.md does not contain "nope"' in proc.stdout
    assert f"scenarios/release-ok.yaml:{golden_line + 1}:3: the run's trace differs" in proc.stdout
    out = cli_json(lab, "scenario", "run", "release-ok", code=1)
    (result,) = out["results"]
    assert result["passed"] is False
    by_message = {f["message"].split(" ")[0]: f for f in result["failures"]}
    contains = by_message["src/notes.md"]
    assert contains["file"] == "scenarios/release-ok.yaml"
    text = scenario.read_text().splitlines()[contains_line]
    assert contains["range"]["start"] == {"line": contains_line, "character": text.index("contains")}
    assert contains["range"]["end"]["character"] == text.index("contains") + len("contains")
    kept = lab.parent / "tmp" / "builderos-scratch" / result["runId"]
    assert f"the run's files are kept in {kept}" in proc.stdout or kept.is_dir()
    assert (kept / "src" / "notes.md").read_text().startswith("# Release notes")
    assert (kept / ".git").is_dir() and not (lab / "src" / "notes.md").exists()
    diff = result["diff"]
    assert diff.startswith(f"--- {GOLDEN} (golden)\n+++ {GOLDEN} (this run)\n")
    assert '-          "step_sha256": ' in diff and '+          "step_sha256": ' in diff
    assert not any(line.startswith(("-", "+")) and "run_id" in line for line in diff.splitlines())


def test_update_golden_writes_the_trace_then_the_scenario_passes(lab: Path) -> None:
    golden = lab / GOLDEN
    golden.unlink()
    out = cli_json(lab, "scenario", "run", "release-ok", code=1)
    (failure,) = out["results"][0]["failures"]
    assert "does not exist yet: run with --update-golden" in failure["message"]
    proc = cli(lab, "scenario", "run", "release-ok", "--update-golden")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"wrote golden trace {GOLDEN}" in proc.stdout
    written = json.loads(golden.read_text())
    check = [e["type"] for e in written["steps"]["check"]]
    assert check == ["step.started", "step.retrying", "step.started", "step.finished"]
    assert written["run"][0]["data"]["inputs"] == {"strict": False, "topic": "the health endpoint"}
    text = golden.read_text()
    assert str(lab) not in text and "/tmp" not in text and "<id:1>" in text and "<time>" in text
    again = cli_json(lab, "scenario", "run", "release-ok")
    assert again["results"][0]["passed"] is True
    # the committed golden file is what a run produces (it would also pass unchanged)
    assert hashlib.sha256(text.encode()).hexdigest() == hashlib.sha256(golden.read_bytes()).hexdigest()


def test_the_committed_golden_matches_a_fresh_run(lab: Path) -> None:
    before = (lab / GOLDEN).read_text()
    out = cli_json(lab, "scenario", "run", "release-ok")
    assert out["results"][0]["passed"] is True
    assert (lab / GOLDEN).read_text() == before


def test_file_expectations_equals_exists_and_sha256(lab: Path) -> None:
    scenario = lab / "scenarios" / "release-ok.yaml"
    wrong = "0" * 64
    text = scenario.read_text().replace(
        '    src/notes.md: {contains: "health endpoint"}\n',
        f'    src/notes.md: {{contains: "health endpoint", sha256: "{wrong}"}}\n'
        "    src/missing.md: {exists: true}\n    src/app.py: {exists: false}\n",
    )
    scenario.write_text(text)
    out = cli_json(lab, "scenario", "run", "release-ok", code=1)
    messages = sorted(f["message"] for f in out["results"][0]["failures"])
    good = hashlib.sha256(b"# Release notes\n\nAdded the health endpoint.\n").hexdigest()
    assert messages == sorted(
        [
            f"src/notes.md has sha256 {good}, not {wrong}",
            "expected src/missing.md to exist",
            "expected src/app.py not to exist",
        ]
    )
    fixed = text.replace(wrong, good).replace("{exists: true}", "{exists: false}")
    scenario.write_text(
        fixed.replace("src/app.py: {exists: false}", "src/app.py: {equals: \"print('lab')\\n\"}")
    )
    assert cli_json(lab, "scenario", "run", "release-ok")["results"][0]["passed"] is True


def test_usage_errors_exit_2_with_one_line(lab: Path) -> None:
    proc = cli(lab, "scenario", "run", "nope")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown scenario 'nope'" in proc.stderr
    assert "release-denied, release-ok" in proc.stderr and "Traceback" not in proc.stderr
    scenario = lab / "scenarios" / "release-ok.yaml"
    scenario.write_text(scenario.read_text().replace(GOLDEN, "../outside.json"))
    proc = cli(lab, "scenario", "run", "release-ok")
    assert proc.returncode == 2 and "is outside the workspace" in proc.stderr
    assert run_ids(lab) == []  # refused before anything ran


def test_a_scenario_that_cannot_start_fails_at_its_pipeline_key(lab: Path) -> None:
    scenario = lab / "scenarios" / "release-ok.yaml"
    scenario.write_text(scenario.read_text().replace("pipeline: release", "pipeline: gone"))
    out = cli_json(lab, "scenario", "run", "release-ok", code=1)
    (failure,) = out["results"][0]["failures"]
    assert failure["file"] == "scenarios/release-ok.yaml"
    assert failure["range"]["start"]["line"] == line_of(lab, "scenarios/release-ok.yaml", "pipeline:")
    assert out["results"][0]["runId"] is None


def test_the_shop_example_passes_and_reports_failures_at_their_lines(shop: Path) -> None:
    assert cli_json(shop, "scenario", "run", "add-health")["results"][0]["passed"] is True
    scenario = shop / "scenarios" / "add-health.yaml"
    text = scenario.read_text()
    plan = next(line for line in text.splitlines() if "step: plan" in line)
    # a plan that is not the JSON the builder's prompt asks for: the run fails at `plan`
    scenario.write_text(text.replace(plan, '    - {step: plan, respond: "1. add the route 2. add a test"}'))
    out = cli_json(shop, "scenario", "run", "add-health", code=1)
    (result,) = out["results"]
    status = next(f for f in result["failures"] if f["message"].startswith("expected the run"))
    assert status["range"]["start"]["line"] == line_of(
        shop, "scenarios/add-health.yaml", "  status: succeeded"
    )


def test_a_run_left_waiting_for_an_unscripted_approval_is_checked_then_cancelled(lab: Path) -> None:
    scenario = lab / "scenarios" / "release-ok.yaml"
    text = scenario.read_text().replace(
        "approvals: approve-all", "approvals: [{step: publish, decision: approve}]"
    )
    expect_at = text.index("expect:")
    scenario.write_text(
        text[:expect_at] + "expect:\n  status: awaiting_approval\n  steps: {draft: awaiting_approval}\n"
    )
    out = cli_json(lab, "scenario", "run", "release-ok")
    (result,) = out["results"]
    assert result["passed"] is True, result["failures"]
    shown = cli_json(lab, "show", result["runId"])
    assert shown["status"] == "cancelled"  # never carried on later, in the user's workspace or elsewhere
    assert cli_json(lab, "approvals") == []
    assert not (lab / "src" / "notes.md").exists()


def test_a_scenario_run_killed_midway_is_never_carried_on_in_the_workspace(lab: Path) -> None:
    before = sorted(p.relative_to(lab).as_posix() for p in lab.rglob("*") if ".builderos" not in p.parts)
    tmp = lab.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    killed = subprocess.run(
        [sys.executable, "-m", "builderos", "scenario", "run", "release-ok", "--workspace", str(lab)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp), "BUILDEROS_CRASHPOINT": "after-commit:step.finished:1"},
    )
    assert killed.returncode == -9
    (run_id,) = run_ids(lab)
    resumed = cli(lab, "resume", run_id)
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr
    shown = cli_json(lab, "show", run_id)
    assert shown["status"] == "cancelled"
    assert "scratch copy" in (shown.get("error") or json.dumps(shown))
    after = sorted(p.relative_to(lab).as_posix() for p in lab.rglob("*") if ".builderos" not in p.parts)
    assert after == before  # the workspace was never touched by the scenario's stubs
