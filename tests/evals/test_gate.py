"""Release gates: `uses: eval.gate` before a real local deploy, through `builderos run` (a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import run_cli, write


def run_release(root: Path, threshold: float) -> tuple[int, dict[str, Any]]:
    proc = run_cli("run", "release", "--input", f"threshold={threshold}", "--json", "--workspace", root)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def gate_audit(root: Path) -> list[dict[str, Any]]:
    proc = run_cli("audit", "export", "--action", "eval.gate", "--workspace", root)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_under_the_threshold_the_gate_stops_the_deploy_and_audits_why(lab: Path) -> None:
    code, record = run_release(lab, 0.9)  # the release suite passes 3 of 4 runs
    assert code == 1 and record["status"] == "failed"
    steps = {s["id"]: s for s in record["steps"]}
    assert steps["gate"]["status"] == "failed"
    assert steps["ship"]["status"] == "skipped"
    assert not (lab / ".builderos/deployments/dev").exists()
    outputs = steps["gate"]["outputs"]
    assert outputs["passed"] is False and outputs["pass_rate"] == 0.75 and outputs["threshold"] == 0.9
    run_id = outputs["evalRunId"]
    assert (lab / f".builderos/evals/release/runs/{run_id}.json").is_file()
    (entry,) = gate_audit(lab)
    assert entry["outcome"] == "denied" and entry["entity_id"] == run_id
    assert entry["details"]["threshold"] == 0.9 and entry["details"]["pass_rate"] == 0.75
    assert entry["details"]["run_id"] == record["id"] and entry["details"]["step_id"] == "gate"
    assert run_cli("audit", "verify", "--workspace", lab).returncode == 0


def test_above_the_threshold_the_release_deploys(lab: Path) -> None:
    code, record = run_release(lab, 0.7)
    assert code == 0 and record["status"] == "succeeded"
    steps = {s["id"]: s for s in record["steps"]}
    assert steps["gate"]["outputs"]["passed"] is True
    assert steps["ship"]["status"] == "succeeded"
    release = steps["ship"]["outputs"]["release"]
    assert (lab / ".builderos/deployments/dev" / release / "index.html").read_text() == "<h1>promptlab</h1>\n"
    (entry,) = gate_audit(lab)
    assert (
        entry["outcome"] == "success"
        and entry["details"]["evalRunId"] == steps["gate"]["outputs"]["evalRunId"]
    )


def test_the_suites_own_pass_rate_is_the_default_threshold_and_a_bad_suite_fails_clearly(lab: Path) -> None:
    pipeline = (lab / "ship/release.yaml").read_text()
    write(lab, "ship/release.yaml", pipeline.replace(', threshold: "${{ inputs.threshold }}"', ""))
    code, record = run_release(lab, 0.0)
    assert code == 0  # require_pass_rate 0.5 < 0.75
    assert {s["id"]: s for s in record["steps"]}["gate"]["outputs"]["threshold"] == 0.5
    write(lab, "ship/release.yaml", pipeline.replace("suite: release", "suite: missing"))
    code, record = run_release(lab, 0.5)
    gate = {s["id"]: s for s in record["steps"]}["gate"]
    assert code == 1 and gate["status"] == "failed"
    assert "eval.gate: unknown eval suite 'missing'" in json.dumps(record)
