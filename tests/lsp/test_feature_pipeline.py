"""The whole feature pipeline of the example, with its add-health scenario, through the daemon and
through the CLI: both runs succeed, and each run record holds the provenance of every agent step
(agent, role, prompt name@version and its hash, model profile and model, the tool trace with
argument and result hashes), of the files they wrote (sha256) and of the approvals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import copy_shop
from tests.lsp.test_runs import Daemon

from builderos import protocol

AGENT_STEPS = {"plan": "builder", "generate": "builder", "docs": "docwriter", "review": "reviewer"}


def check_provenance(record: dict[str, Any]) -> None:
    assert record["status"] == "succeeded"
    assert {s["id"]: s["status"] for s in record["steps"]}["verify"] == "succeeded"
    steps = record["provenance"]["steps"]
    for sid, agent in AGENT_STEPS.items():
        p = steps[sid]
        assert p["agent"] == agent and p["model_profile"] == "offline" and p["model"] == "scripted"
        name, _, version = p["prompt"].partition("@")
        assert name == agent and version.count(".") == 2
        assert len(p["prompt_sha256"]) == 64 and len(p["inputs_sha256"]) == 64
    trace = steps["generate"]["tool_trace"]
    assert [(t["type"], t["tool"]) for t in trace] == [
        ("tool.call", "fs.write"),
        ("tool.result", "fs.write"),
        ("tool.call", "fs.write"),
        ("tool.result", "fs.write"),
    ]
    assert all(len(t.get("args_sha256") or t.get("result_sha256")) == 64 for t in trace)
    written = {a["name"] for a in steps["generate"]["artifacts"]}
    assert written == {"src/app/health.py", "tests/test_health.py"}
    assert len(steps["generate"]["approvals"]) == 2 and len(steps["pr"]["approvals"]) == 1
    assert len(record["provenance"]["pipeline_sha256"]) == 64


def git_init(ws: Path) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "before"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=ws, check=True
        )


async def test_the_feature_pipeline_runs_from_the_editor_with_full_provenance(tmp_path: Path) -> None:
    ws = copy_shop(tmp_path)
    git_init(ws)
    daemon = await Daemon(ws).start()
    try:
        started = await daemon.request(
            protocol.RUN_START, {"pipeline": "feature", "inputs": {}, "scenario": "add-health"}
        )
        run_id = started["runId"]
        await daemon.until(lambda: daemon.status(run_id) in ("succeeded", "failed", "cancelled"), 120)
        record = await daemon.request(protocol.RUN, {"runId": run_id})
    finally:
        await daemon.stop()
    check_provenance(record)
    assert record["provenance"]["git_before"]


def test_the_feature_pipeline_runs_from_the_cli_with_full_provenance(tmp_path: Path) -> None:
    ws = copy_shop(tmp_path)
    git_init(ws)
    proc = subprocess.run(
        [sys.executable, "-m", "builderos", "run", "feature", "--scenario", "add-health", "--json"],
        cwd=ws,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    check_provenance(json.loads(proc.stdout))
