"""Preflight in a long-lived process: a pipeline checked once is not parsed again until a file changes.

What matters is that the memo never hides a change: every file's text decides (not its mtime), the
redactor follows the environment, and a resumed run still refuses a pipeline edited meanwhile.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from builderos.engine.preflight import PreflightError, preflight

PIPELINE = """
kind: pipeline
name: p
steps:
  - {id: a, run: echo one}
"""


def make_ws(tmp: Path, policy: str = "version: 1\ndefault: deny\n") -> Path:
    ws = tmp / "ws"
    (ws / "ship").mkdir(parents=True)
    (ws / "builderos.yaml").write_text("version: 1\nname: t\n")
    (ws / "builderos.policy.yaml").write_text(policy)
    (ws / "ship" / "p.yaml").write_text(textwrap.dedent(PIPELINE))
    return ws


def rewrite_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    """An edit a mtime-keyed cache would miss: same size, same timestamps."""
    assert len(old) == len(new)
    info = path.stat()
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size


def test_the_same_files_reuse_the_checked_plan(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    first = preflight(ws, "p")
    again = preflight(ws, "p")
    assert again.plan is first.plan  # not parsed, validated or compiled a second time
    assert again is not first and again._memo is not first._memo  # per-run state is the run's own


def test_an_edit_with_the_same_size_and_mtime_is_seen(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    before = preflight(ws, "p")
    rewrite_keeping_size_and_mtime(ws / "ship" / "p.yaml", "echo one", "echo two")
    after = preflight(ws, "p")
    assert after.plan is not before.plan
    assert after.plan.steps["a"].target == "echo two"
    assert after.plan.sha256 != before.plan.sha256


def test_an_edit_that_breaks_a_checked_pipeline_stops_the_next_run(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    preflight(ws, "p")
    (ws / "ship" / "p.yaml").write_text(textwrap.dedent(PIPELINE).replace("run: echo one", "agent: ghost"))
    with pytest.raises(PreflightError) as info:
        preflight(ws, "p")
    assert [d.code for _, d in info.value.diagnostics] == ["BOS020"]


def test_a_new_file_elsewhere_in_the_workspace_is_seen(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    preflight(ws, "p")
    (ws / "agents").mkdir()
    (ws / "agents" / "dup.yaml").write_text("kind: agent\nname: dup\nrole: Builder\nmodel: nowhere\n")
    with pytest.raises(PreflightError) as info:
        preflight(ws, "p")  # the new agent's error is the workspace's error: the run must not start
    assert info.value.diagnostics


def test_the_redactor_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_ws(tmp_path, "version: 1\ndefault: deny\nsecrets: {env: [DEPLOY_TOKEN]}\n")
    monkeypatch.setenv("DEPLOY_TOKEN", "first-secret-value")
    assert preflight(ws, "p").redactor.text("x first-secret-value") != "x first-secret-value"
    monkeypatch.setenv("DEPLOY_TOKEN", "second-secret-value")
    later = preflight(ws, "p")
    assert "second-secret-value" not in later.redactor.text("x second-secret-value")


def test_a_resume_still_refuses_a_pipeline_changed_since_the_run_started(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    started = preflight(ws, "p").plan.sha256
    assert preflight(ws, "p", expected_sha=started).plan.sha256 == started
    (ws / "ship" / "p.yaml").write_text(textwrap.dedent(PIPELINE).replace("one", "three"))
    with pytest.raises(PreflightError, match="changed since this run started"):
        preflight(ws, "p", expected_sha=started)
