"""`builderos replay` and `builderos diff` through the CLI, on runs of every fixture scenario."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.scenarios.conftest import cli, cli_json

SHOP_JSON_SCENARIO = """\
kind: scenario
name: add-health-json
pipeline: feature
inputs: {goal: "Add a /health endpoint"}
stubs:
  llm:
    - {step: plan, json: {summary: "add the route and a test", files: [{path: src/app/health.py}]}}
    - step: generate
      tool_calls:
        - {tool: fs.write, args: {path: src/app/health.py, content: "def health():\\n    return 'ok'\\n"}}
        - {tool: fs.read, args: {path: src/app/main.py}}
        - {tool: fs.write, args: {path: .env, content: "nope"}}
      json: {summary: "Added health()", files: [{path: src/app/health.py}]}
    - {step: docs, respond: "no change needed"}
    - {step: review, respond: "approve"}
  tools:
    shell.run: {exit_code: 0, stdout: "3 passed"}
    git.pr: {result: {url: "https://example.test/shop/pull/1"}}
    deploy: {result: {url: "http://localhost:8000"}}
    http.check: {result: {status: 200}}
  approvals: approve-all
expect:
  status: succeeded
"""


def scenario_runs(ws: Path) -> dict[str, str]:
    """Run every scenario of the workspace; their run ids by name."""
    proc = cli(ws, "scenario", "run", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return {r["name"]: r["runId"] for r in json.loads(proc.stdout)["results"]}


def events(ws: Path, run_id: str) -> list[tuple[str | None, str]]:
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        return conn.execute(
            "SELECT step_id, type FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("fixture", ["lab", "shop"])
def test_every_scenario_run_replays_without_divergence(fixture: str, request: pytest.FixtureRequest) -> None:
    ws: Path = request.getfixturevalue(fixture)
    if fixture == "shop":
        (ws / "scenarios" / "add-health-json.yaml").write_text(SHOP_JSON_SCENARIO)
    runs = scenario_runs(ws)
    assert len(runs) == 2
    for name, run_id in runs.items():
        out = cli_json(ws, "replay", run_id)
        assert out["runId"] == run_id and out["divergences"] == [], (name, out)
        original = cli_json(ws, "show", run_id)
        replayed = cli_json(ws, "show", out["replayRunId"])
        assert replayed["status"] == original["status"]
        assert [(s["id"], s["status"], s["attempts"], s["outputs"]) for s in replayed["steps"]] == [
            (s["id"], s["status"], s["attempts"], s["outputs"]) for s in original["steps"]
        ]
        kinds = {"tool.call", "tool.result", "llm.response", "step.retrying", "approval.resolved"}
        assert [
            e for e in events(ws, out["replayRunId"]) if e[1] in kinds and e[1] != "approval.resolved"
        ] == [e for e in events(ws, run_id) if e[1] in kinds and e[1] != "approval.resolved"]
    assert cli(ws, "audit", "verify").returncode == 0


def test_replay_has_no_side_effects(shop: Path) -> None:
    (shop / "scenarios" / "add-health-json.yaml").write_text(SHOP_JSON_SCENARIO)
    proc = cli(shop, "run", "feature", "--scenario", "add-health-json", "--json")
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["id"]
    health = shop / "src" / "app" / "health.py"
    assert health.exists()  # `run --scenario` works in the workspace itself
    health.unlink()
    out = cli_json(shop, "replay", run_id)
    assert out["divergences"] == []
    assert not health.exists()  # the replay wrote nothing here
    conn = sqlite3.connect(shop / ".builderos" / "builderos.db")
    effects = conn.execute("SELECT count(*) FROM effects WHERE run_id = ?", (out["replayRunId"],)).fetchone()
    assert effects == (0,)


def test_an_edited_command_is_reported_at_its_step(lab: Path) -> None:
    run_id = scenario_runs(lab)["release-ok"]
    pipeline = lab / "ship" / "release.yaml"
    pipeline.write_text(pipeline.read_text().replace("grep -c notes", "grep -c Release"))
    proc = cli(lab, "replay", run_id)
    assert proc.returncode == 1, proc.stderr
    assert "first divergence at step check (definition)" in proc.stdout
    out = cli_json(lab, "replay", run_id, code=1)
    assert [(d["stepId"], d["field"]) for d in out["divergences"]] == [("check", "definition")]


def test_an_edited_prompt_template_is_reported_at_its_agent_step(lab: Path) -> None:
    run_id = scenario_runs(lab)["release-ok"]
    prompt = lab / "prompts" / "writer.yaml"
    prompt.write_text(prompt.read_text().replace("Write release notes", "Write short release notes"))
    out = cli_json(lab, "replay", run_id, code=1)
    (first,) = out["divergences"]
    assert first["stepId"] == "draft" and first["field"] == "prompt"
    assert first["expected"].startswith("writer@1.0.0") and first["expected"] != first["actual"]


def test_a_changed_input_expression_and_policy_diverge(lab: Path) -> None:
    run_id = scenario_runs(lab)["release-ok"]
    pipeline = lab / "ship" / "release.yaml"
    original = pipeline.read_text()
    pipeline.write_text(original.replace('if: "${{ inputs.strict }}"', 'if: "${{ !inputs.strict }}"'))
    out = cli_json(lab, "replay", run_id, code=1)
    first = out["divergences"][0]
    assert (first["stepId"], first["field"], first["expected"], first["actual"]) == (
        "lint",
        "status",
        "skipped",
        "failed",  # a step the record never ran has nothing to replay
    )
    pipeline.write_text(original)
    policy = lab / "builderos.policy.yaml"
    policy.write_text(policy.read_text().replace('allow: ["src/**"]', 'allow: ["docs/**"]'))
    out = cli_json(lab, "replay", run_id, code=1)
    first = out["divergences"][0]
    assert (first["stepId"], first["field"]) == ("draft", "tool_results")


def test_diff_of_two_scenarios_names_the_differing_steps_and_outputs(lab: Path) -> None:
    runs = scenario_runs(lab)
    out = cli_json(lab, "diff", runs["release-ok"], runs["release-denied"])
    changed = {s["step"]: s["changed"] for s in out["steps"]}
    assert changed == {
        "draft": [],
        "check": ["status", "attempts"],
        "lint": [],
        "publish": ["status", "attempts"],
    }
    check = next(s for s in out["steps"] if s["step"] == "check")
    assert check["a"]["status"] == "succeeded" and check["b"]["status"] == "failed"
    outputs = {(o["step"], o["name"]) for o in out["outputs"]}
    assert {("draft", "text"), ("check", "exit_code"), ("publish", "path")} <= outputs
    assert out["prompts"] == []  # the same prompt version in both
    assert [a["name"] for a in out["artifacts"]] == ["src/notes.md", "src/published.md"]
    assert all(a["b"] is None for a in out["artifacts"])
    text = cli(lab, "diff", runs["release-ok"], runs["release-denied"])
    assert text.returncode == 0
    assert "≠ check" in text.stdout and "draft.text" in text.stdout


def test_unknown_runs_are_usage_errors(lab: Path) -> None:
    for args in (("replay", "01NOPE"), ("diff", "01NOPE", "01NADA")):
        proc = cli(lab, *args)
        assert proc.returncode == 2 and "no run '01NOPE'" in proc.stderr and "Traceback" not in proc.stderr
