"""The run's budget survives a resume: a run that stopped at an approval goes on with the tokens it
had already spent (counted from its recorded model responses), through the real CLI and a local
stub server speaking OpenAI chat completions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import run_cli, write

from agents.stub_llm import Reply, StubLLM


def make_ws(tmp: Path, stub: StubLLM) -> Path:
    ws = tmp / "ws"
    project = {
        "version": 1,
        "name": "budgeted",
        "models": {
            "default": "local",
            "profiles": {"local": {"provider": "openai", "base_url": stub.openai_url, "model": "m"}},
        },
        "budgets": {"run_tokens": 100},
    }
    files = {
        "builderos.yaml": json.dumps(project),
        "builderos.policy.yaml": "version: 1\ndefault: deny\n",
        "agents/thinker.yaml": "kind: agent\nname: thinker\nrole: Planner\nmodel: local\n",
        "ship/p.yaml": (
            "kind: pipeline\nname: p\nsteps:\n"
            "  - {id: first, agent: thinker}\n"
            "  - {id: gate, run: echo go, needs: [first], gate: approval}\n"
            "  - {id: second, agent: thinker, needs: [gate]}\n"
        ),
    }
    for rel, text in files.items():
        write(ws, rel, text)
    return ws


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--workspace", ws, timeout=180)


def test_a_resumed_run_keeps_counting_against_its_budget(tmp_path: Path, stub: StubLLM) -> None:
    ws = make_ws(tmp_path, stub)
    stub.push(Reply(text="a plan", usage=(80, 15)), Reply(text="more", usage=(10, 5)))
    first = cli(ws, "run", "p", "--no-wait", "--json")
    assert first.returncode == 3, first.stderr  # waits at the gate, 95 of 100 tokens spent
    run_id = json.loads(first.stdout)["id"]
    pending = json.loads(cli(ws, "approvals", "--json").stdout)
    assert cli(ws, "approve", pending[0]["id"]).returncode == 0
    resumed = cli(ws, "resume", run_id, "--json")
    record = json.loads(resumed.stdout)
    second = next(s for s in record["steps"] if s["id"] == "second")
    assert second["status"] == "failed"
    assert "run budget exceeded: 110 of 100 tokens" in (second.get("error") or ""), second
    assert record["status"] == "failed" and resumed.returncode == 1
    assert stub.count == 2  # the second step asked once, and its answer went over the limit


def test_a_step_resumed_after_an_approval_does_not_ask_the_model_again_for_answered_turns(
    tmp_path: Path, stub: StubLLM
) -> None:
    ws = make_ws(tmp_path, stub)
    (ws / "builderos.policy.yaml").write_text(
        "version: 1\ndefault: deny\nagents:\n  writer: {tools: [fs.write]}\n"
        'paths:\n  allow: ["src/**"]\napprovals:\n  - {action: fs.write}\n'
    )
    (ws / "agents" / "writer.yaml").write_text(
        "kind: agent\nname: writer\nrole: Builder\nmodel: local\ntools: [fs.write]\n"
    )
    (ws / "ship" / "w.yaml").write_text("kind: pipeline\nname: w\nsteps:\n  - {id: write, agent: writer}\n")
    stub.push(
        Reply(tool_calls=[("fs_write", {"path": "src/a.txt", "content": "one\n"})], usage=(10, 5)),
        Reply(tool_calls=[("fs_write", {"path": "src/b.txt", "content": "two\n"})], usage=(10, 5)),
        Reply(text="wrote both", usage=(10, 5)),
    )
    run = cli(ws, "run", "w", "--no-wait", "--json")
    assert run.returncode == 3, run.stderr  # turn 1 asked to write src/a.txt: waits for a person
    run_id = json.loads(run.stdout)["id"]
    assert stub.count == 1
    for expected_count in (2, 3):
        pending = json.loads(cli(ws, "approvals", "--json").stdout)
        assert len(pending) == 1
        assert cli(ws, "approve", pending[0]["id"]).returncode == 0
        resumed = cli(ws, "resume", run_id, "--no-wait", "--json")
        # turns already answered come from the record: each resume asks the model one new turn
        assert stub.count == expected_count, (expected_count, resumed.stderr)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout)
    assert record["status"] == "succeeded"
    assert record["steps"][0]["outputs"]["text"] == "wrote both"
    assert (ws / "src" / "a.txt").read_text() == "one\n" and (ws / "src" / "b.txt").read_text() == "two\n"
    # the conversation the model saw on the last turn is the whole one, tool results included
    last = stub.requests[-1].body["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool", "assistant", "tool"]
