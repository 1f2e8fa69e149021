"""MCP servers declared in builderos.yaml, through the real CLI and a real MCP server (the `mcp` SDK
over stdio, tests/fixtures/mcp/notes_server.py): their tools run under the same policy gate,
approvals, ledger, audit and redaction as the built-in ones. The server appends every call it
really served to a file, so the tests count effects where they happen.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import run_cli, write

from builderos.store.audit import verify_db

SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "mcp" / "notes_server.py"
TOKEN = "tok-SECRET-4242"
TOOLS = "[mcp.notes.add, mcp.notes.note, mcp.notes.secret, mcp.notes.broken, mcp.ghost.boo]"


def make_ws(tmp: Path) -> tuple[Path, Path]:
    ws = tmp / "ws"
    notes = tmp / "notes.log"
    project = {
        "version": 1,
        "name": "mcpws",
        "models": {"default": "offline", "profiles": {"offline": {"provider": "scripted"}}},
        "mcp": {
            "servers": {
                "notes": {
                    "command": sys.executable,
                    "args": [str(SERVER)],
                    "env": {"NOTES_FILE": str(notes), "NOTES_TOKEN": TOKEN},
                },
                "ghost": {"command": str(tmp / "no-such-program")},
            }
        },
    }
    files = {
        "builderos.yaml": json.dumps(project),
        "builderos.policy.yaml": (
            "version: 1\ndefault: deny\n"
            f"agents:\n  researcher: {{tools: {TOOLS}}}\n"
            'secrets:\n  patterns: ["tok-SECRET-[0-9]+"]\n'
            "approvals:\n  - {action: mcp.notes.note}\n"
        ),
        "agents/researcher.yaml": (
            f"kind: agent\nname: researcher\nrole: Researcher\nmodel: offline\ntools: {TOOLS}\n"
        ),
        "ship/p.yaml": "kind: pipeline\nname: p\nsteps:\n  - {id: ask, agent: researcher}\n",
        "scenarios/s.yaml": """\
kind: scenario
name: s
pipeline: p
stubs:
  llm:
    - step: ask
      tool_calls:
        - {tool: mcp.notes.add, args: {a: 2, b: 3}}
        - {tool: mcp.notes.note, args: {text: hello}}
        - {tool: mcp.notes.secret, args: {}}
        - {tool: mcp.notes.broken, args: {}}
        - {tool: mcp.notes.slow, args: {seconds: 0}}
        - {tool: mcp.ghost.boo, args: {}}
      respond: done
""",
    }
    for rel, text in files.items():
        write(ws, rel, text)
    return ws, notes


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--workspace", ws, timeout=180)


def query(ws: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def results(ws: Path, run_id: str) -> dict[str, dict[str, Any]]:
    rows = query(ws, "SELECT data FROM events WHERE run_id = ? AND type = 'tool.result' ORDER BY seq", run_id)
    return {json.loads(r[0])["tool"]: json.loads(r[0])["result"] for r in rows}


def served(notes: Path) -> list[str]:
    return notes.read_text().splitlines() if notes.exists() else []


def test_mcp_tools_run_under_the_policy_gate_with_approvals_audit_and_redaction(tmp_path: Path) -> None:
    ws, notes = make_ws(tmp_path)
    assert cli(ws, "validate").returncode == 0
    proc = cli(ws, "run", "p", "--scenario", "s", "--approve-all", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    got = results(ws, record["id"])
    assert got["mcp.notes.add"]["content"] == "5"
    assert got["mcp.notes.add"]["structured"] == {"result": 5}
    assert got["mcp.notes.note"]["content"] == "noted: hello"
    assert got["mcp.notes.secret"]["content"] == "the token is [REDACTED]"
    assert "broken" in got["mcp.notes.broken"]["error"]  # the SDK reports that it failed, not why
    # a tool the agent does not list is denied before any server hears of it
    assert got["mcp.notes.slow"]["denied"] is True
    # a server that cannot start: a one-line reason for the agent, the run goes on
    assert "MCP server 'ghost'" in got["mcp.ghost.boo"]["error"]
    assert "\n" not in got["mcp.ghost.boo"]["error"]
    # what the server really served: each allowed call once, the denied one never
    assert served(notes) == ["add 2 3", "note hello", "secret", "broken"]
    # the approval rule for mcp.notes.note asked (and --approve-all answered, recorded as such)
    asked = query(
        ws, "SELECT data FROM events WHERE run_id = ? AND type = 'approval.requested'", record["id"]
    )
    assert len(asked) == 1 and "mcp.notes.note" in asked[0][0]
    denied = [
        json.loads(r[0])["details"]
        for r in query(ws, "SELECT record FROM audit WHERE action = 'policy.deny' AND outcome = 'denied'")
    ]
    assert [d["tool"] for d in denied] == ["mcp.notes.slow"], "the denial is in the audit chain"
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        assert verify_db(conn).ok
    finally:
        conn.close()
    # the secret the server answered with is nowhere in the store
    for path in (ws / ".builderos").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_resumed_run_does_not_call_the_server_again_for_a_recorded_call(tmp_path: Path) -> None:
    ws, notes = make_ws(tmp_path)
    proc = cli(ws, "run", "p", "--scenario", "s", "--json", "--no-wait")
    assert proc.returncode == 3, proc.stderr  # stopped at the approval of mcp.notes.note
    run_id = json.loads(proc.stdout)["id"]
    assert served(notes) == ["add 2 3"]
    pending = json.loads(cli(ws, "approvals", "--json").stdout)
    assert len(pending) == 1
    assert cli(ws, "approve", pending[0]["id"]).returncode == 0
    resumed = cli(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    # `add` was answered from the ledger on resume; `note` ran once, after its approval
    assert served(notes) == ["add 2 3", "note hello", "secret", "broken"]
    done = query(
        ws, "SELECT count(*) FROM effects WHERE run_id = ? AND kind = 'mcp.call' AND status = 'done'", run_id
    )
    assert done[0][0] == 4


def test_an_undeclared_server_is_an_unknown_tool_in_the_editor_and_the_cli(tmp_path: Path) -> None:
    ws, _ = make_ws(tmp_path)
    agent = ws / "agents" / "researcher.yaml"
    agent.write_text(agent.read_text().replace("mcp.ghost.boo", "mcp.nowhere.boo"))
    proc = cli(ws, "validate", "--format", "json")
    assert proc.returncode == 1
    codes = {d["code"] for d in json.loads(proc.stdout)["diagnostics"] if d["file"].startswith("agents/")}
    assert "BOS024" in codes


async def test_the_hub_describes_tools_for_the_model_and_drops_an_answer_that_came_too_late(
    tmp_path: Path,
) -> None:
    from builderos.agents.tool_schemas import tool_set
    from builderos.engine.interfaces import StepFailed
    from builderos.engine.mcp_hub import McpHub

    notes = tmp_path / "notes.log"
    spec = {"command": sys.executable, "args": [str(SERVER)], "env": {"NOTES_FILE": str(notes)}}
    hub = McpHub({"notes": spec}, tmp_path)
    try:
        add = await hub.describe("mcp.notes.add")
        assert add is not None and add.description == "Add two integers."
        assert set(add.input_schema["properties"]) == {"a", "b"}
        offered = tool_set(["mcp.notes.add", "fs.read"], {"mcp.notes.add": add})
        wire = {d.name: d for d in offered.definitions}
        assert wire["mcp_notes_add"].parameters["required"] == ["a", "b"]
        try:
            await hub.call("mcp.notes.slow", {"seconds": 2}, timeout=0.3)
        except StepFailed as exc:
            assert "did not answer within 0.3s" in str(exc)
        else:
            raise AssertionError("the slow call should have timed out")
        # the next call gets its own answer, never the late one
        assert (await hub.call("mcp.notes.add", {"a": 1, "b": 1}))["content"] == "2"
        try:
            await hub.call("mcp.notes.nope", {})
        except StepFailed as exc:
            assert "has no tool 'nope'" in str(exc) and "add" in str(exc)
        else:
            raise AssertionError("an unknown tool should fail")
    finally:
        await hub.close()
    assert hub.connections == {}
