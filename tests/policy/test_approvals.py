"""Approvals through the real CLI and engine: one pause, one effect; a changed file is asked again;
a denial reaches the agent; a pending request outlives the process that created it.

The workspace's policy asks for every `fs.write` (`approvals: [{action: fs.write}]`); the scripted
agent writes files. Decisions are made from the CLI (`approvals --json`, `approve`, `deny`), and
`resume` carries the run on, as a user would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from builderos.engine.approvals import Change
from builderos.engine.ledger import StoreLedger
from builderos.engine.runner import HOST, Engine, RunOptions
from builderos.engine.toolbox import ToolBox
from builderos.policy.rules import PolicyView
from builderos.store.audit import verify_db
from builderos.store.db import Batch, Store

N_FILES = 3
PROJECT = "version: 1\nname: gated\nmodels: {default: offline, profiles: {offline: {provider: scripted}}}\n"
POLICY = """\
version: 1
default: deny
agents:
  writer: {tools: [fs.read, fs.write]}
paths:
  allow: ["src/**"]
approvals:
  - {action: fs.write}
"""
AGENT = "kind: agent\nname: writer\nrole: Builder\nmodel: offline\ntools: [fs.read, fs.write]\n"
PIPELINE = "kind: pipeline\nname: p\nsteps:\n  - {id: write, agent: writer}\n"
MANY = (
    "kind: scenario\nname: many\npipeline: p\nstubs:\n  llm:\n    - step: write\n      tool_calls:\n"
    + "".join(
        f'        - {{tool: fs.write, args: {{path: src/f{i}.txt, content: "file {i}\\n"}}}}\n'
        for i in range(1, N_FILES + 1)
    )
    + "      respond: done\n"
)
ONE = """\
kind: scenario
name: one
pipeline: p
stubs:
  llm:
    - step: write
      tool_calls:
        - {tool: fs.write, args: {path: src/target.txt, content: "the agent's version\\n"}}
      respond: done
"""
AGENT_TEXT = "the agent's version\n"
ORIGINAL = "the original\n"
USER_EDIT = "the user's edit, made while the approval waited\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_ws(tmp: Path) -> Path:
    ws = tmp / "ws"
    for rel, text in {
        "builderos.yaml": PROJECT,
        "builderos.policy.yaml": POLICY,
        "agents/writer.yaml": AGENT,
        "ship/p.yaml": PIPELINE,
        "scenarios/many.yaml": MANY,
        "scenarios/one.yaml": ONE,
        "src/target.txt": ORIGINAL,
    }.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return ws


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def pending(ws: Path, *, from_cli: bool = True) -> list[dict[str, Any]]:
    """The pending requests, as `approvals --json` prints them (or read from the store directly,
    which is what that command prints, to spare a process start)."""
    if not from_cli:
        rows = query(
            ws, "SELECT body, status FROM approvals WHERE status = 'pending' ORDER BY created_at, id"
        )
        return [{**json.loads(body), "status": status} for body, status in rows]
    proc = cli(ws, "approvals", "--json")
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


def query(ws: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def effects(ws: Path, run_id: str) -> int:
    rows = query(
        ws, "SELECT count(*) FROM effects WHERE run_id = ? AND kind = 'fs.write' AND status = 'done'", run_id
    )
    return int(rows[0][0])


def all_approvals(ws: Path, run_id: str) -> list[dict[str, Any]]:
    rows = query(ws, "SELECT body, status FROM approvals WHERE run_id = ? ORDER BY created_at, id", run_id)
    return [{**json.loads(body), "status": status} for body, status in rows]


def events(ws: Path, run_id: str, type_: str) -> list[dict[str, Any]]:
    rows = query(ws, "SELECT data FROM events WHERE run_id = ? AND type = ? ORDER BY seq", run_id, type_)
    return [json.loads(r[0]) for r in rows]


def test_n_approval_pauses_cause_exactly_n_effects(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    first = cli(ws, "run", "p", "--scenario", "many", "--no-wait", "--json")
    assert first.returncode == 3, first.stderr
    run_id = json.loads(first.stdout)["id"]

    def written() -> list[str]:
        return sorted(p.name for p in (ws / "src").glob("f*.txt"))

    for i in range(1, N_FILES + 1):
        waiting = pending(ws, from_cli=i == 1)
        assert len(waiting) == 1, waiting  # one pause at a time, never a request asked twice
        request = waiting[0]
        assert request["run_id"] == run_id and request["action"] == "fs.write"
        assert [c["path"] for c in request["changes"]] == [f"src/f{i}.txt"]
        assert request["changes"][0]["before_sha256"] is None  # a new file
        assert request["changes"][0]["after_sha256"] == sha(f"file {i}\n")
        assert f"+file {i}" in request["changes"][0]["diff"]
        assert written() == [f"f{k}.txt" for k in range(1, i)]  # nothing written before its approval
        assert effects(ws, run_id) == i - 1
        approve = cli(ws, "approve", request["id"], "--comment", f"ok {i}")
        assert approve.returncode == 0, approve.stderr
        resumed = cli(ws, "resume", run_id, "--no-wait", "--json")
        expected = 0 if i == N_FILES else 3
        assert resumed.returncode == expected, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert written() == [f"f{k}.txt" for k in range(1, N_FILES + 1)]
    for k in range(1, N_FILES + 1):
        assert (ws / "src" / f"f{k}.txt").read_text() == f"file {k}\n"
    assert effects(ws, run_id) == N_FILES
    requests = all_approvals(ws, run_id)
    assert len(requests) == N_FILES and {r["status"] for r in requests} == {"approved"}
    assert [r["comment"] for r in requests] == [f"ok {k}" for k in range(1, N_FILES + 1)]
    assert len(events(ws, run_id, "approval.requested")) == N_FILES
    decided = query(ws, "SELECT count(*) FROM audit WHERE action = 'approval.decide' AND outcome = 'success'")
    assert decided[0][0] == N_FILES
    assert pending(ws, from_cli=False) == []
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        assert verify_db(conn).ok
    finally:
        conn.close()


def test_a_file_changed_while_its_approval_waits_is_asked_again_and_kept(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    target = ws / "src" / "target.txt"
    first = cli(ws, "run", "p", "--scenario", "one", "--no-wait", "--json")
    assert first.returncode == 3, first.stderr
    run_id = json.loads(first.stdout)["id"]
    [asked] = pending(ws)
    assert asked["changes"][0]["before_sha256"] == sha(ORIGINAL)
    target.write_text(USER_EDIT)  # the user edits the file while the request waits
    assert cli(ws, "approve", asked["id"]).returncode == 0
    resumed = cli(ws, "resume", run_id, "--no-wait", "--json")
    assert resumed.returncode == 3, resumed.stderr  # asked again, not written
    assert target.read_text() == USER_EDIT
    [again] = pending(ws, from_cli=False)
    assert again["id"] != asked["id"]
    change = again["changes"][0]
    assert change["before_sha256"] == sha(USER_EDIT) and change["after_sha256"] == sha(AGENT_TEXT)
    assert "-the user's edit" in change["diff"] and "+the agent's version" in change["diff"]
    assert effects(ws, run_id) == 0
    assert cli(ws, "approve", again["id"]).returncode == 0
    done = cli(ws, "resume", run_id, "--json")
    assert done.returncode == 0, done.stderr
    assert target.read_text() == AGENT_TEXT
    assert effects(ws, run_id) == 1
    assert [a["status"] for a in all_approvals(ws, run_id)] == ["approved", "approved"]


async def test_a_file_changed_during_an_in_process_wait_is_asked_again(tmp_path: Path) -> None:
    """The same with a person answering while the run waits in this process (the terminal, the
    editor): the approval of the first diff is not taken for the second."""
    ws = make_ws(tmp_path)
    target = ws / "src" / "target.txt"
    seen: list[dict[str, Any]] = []

    async def person(approval: dict[str, Any]) -> tuple[str, str | None, str]:
        seen.append({"approval": approval, "file": target.read_text()})
        if len(seen) == 1:
            target.write_text(USER_EDIT)  # edits the file, then approves the diff it saw
        return "approve", None, "tester"

    store = await Store.open(ws / ".builderos")
    try:
        engine = Engine(ws, store, RunOptions(poll_interval=0.05, approver=person))
        state = await engine.start("p", {}, "one")
    finally:
        await store.close()
    assert state.status == "succeeded"
    assert len(seen) == 2
    assert seen[0]["approval"]["changes"][0]["before_sha256"] == sha(ORIGINAL)
    assert seen[1]["approval"]["changes"][0]["before_sha256"] == sha(USER_EDIT)
    assert seen[1]["file"] == USER_EDIT  # the user's content was kept until the second approval
    assert target.read_text() == AGENT_TEXT
    assert effects(ws, state.id) == 1


def test_deny_tells_the_agent_and_leaves_the_file_untouched(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    target = ws / "src" / "target.txt"
    first = cli(ws, "run", "p", "--scenario", "one", "--no-wait", "--json")
    assert first.returncode == 3, first.stderr
    run_id = json.loads(first.stdout)["id"]
    [asked] = pending(ws, from_cli=False)
    denied = cli(ws, "deny", asked["id"], "--reason", "not this file")
    assert denied.returncode == 0, denied.stderr
    resumed = cli(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr  # the agent carried on with the denial
    assert target.read_text() == ORIGINAL
    assert effects(ws, run_id) == 0
    [result] = [r for r in events(ws, run_id, "tool.result") if r["tool"] == "fs.write"][-1:]
    assert result["result"]["denied"] is True
    assert "a person denied this change" in result["result"]["error"]
    assert events(ws, run_id, "policy.denied")
    [request] = all_approvals(ws, run_id)
    assert request["status"] == "denied" and request["comment"] == "not this file"
    denials = query(ws, "SELECT count(*) FROM audit WHERE action = 'approval.decide' AND outcome = 'denied'")
    assert denials[0][0] == 1


def test_a_pending_approval_survives_the_death_of_its_process(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    target = ws / "src" / "target.txt"
    leader, follower = pty.openpty()  # a terminal on stdin: `run` shows the diff and waits for an answer
    proc = subprocess.Popen(
        [sys.executable, "-m", "builderos", "run", "p", "--scenario", "one", "--workspace", str(ws)],
        stdin=follower,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        db = ws / ".builderos" / "builderos.db"
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            with contextlib.suppress(sqlite3.Error):  # the store may still be being created
                if db.exists() and query(ws, "SELECT count(*) FROM approvals WHERE status = 'pending'")[0][0]:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the run never asked for approval")
        time.sleep(0.3)  # it is now waiting at the prompt
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        os.close(leader)
        os.close(follower)
    assert proc.returncode == -signal.SIGKILL
    [request] = pending(ws)  # a new process still sees the request
    assert request["changes"][0]["path"] == "src/target.txt"
    assert target.read_text() == ORIGINAL
    run_id = request["run_id"]
    assert cli(ws, "approve", request["id"]).returncode == 0
    resumed = cli(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    assert target.read_text() == AGENT_TEXT
    assert effects(ws, run_id) == 1
    assert len(all_approvals(ws, run_id)) == 1  # the resumed run found the decision, asked nothing new


def test_the_run_process_is_really_gone_before_resume(tmp_path: Path) -> None:
    """`resume` refuses while the process that owns a run is alive, so the kill test above proves
    the new process took over from a dead one, not from a live one."""
    ws = make_ws(tmp_path)

    async def go() -> str:
        store = await Store.open(ws / ".builderos")
        try:
            engine = Engine(ws, store, RunOptions(poll_interval=0.05))
            run_id = await engine.create("p", {}, "one")
            owner = f"{HOST}:{os.getpid()}"  # this (live) test process
            await store.write(
                Batch().add(
                    "UPDATE runs SET owner = ?, heartbeat = ? WHERE id = ?",
                    (owner, store.clock.now(), run_id),
                )
            )
            return run_id
        finally:
            await store.close()

    run_id = asyncio.run(go())
    refused = cli(ws, "resume", run_id)
    assert refused.returncode == 2 and "being executed by another process" in refused.stderr


async def test_an_approved_command_runs_once_across_a_resume_and_again_on_a_retry(tmp_path: Path) -> None:
    """A command an agent runs is an effect too: a resumed step finds it done, a new attempt runs it
    again. (Enabled when the engine tells the tool box its attempt.)"""
    ws = tmp_path
    store = await Store.open(ws / ".builderos")
    asked: list[str] = []

    async def ask(tool: str, rule: str, changes: list[Change], summary: str) -> bool:
        asked.append(summary)
        return True

    async def emit(type_: str, data: dict[str, Any]) -> None:
        pass

    policy = PolicyView(
        {
            "version": 1,
            "default": "deny",
            "agents": {"a": {"tools": ["shell.run"]}},
            "commands": {"allow": [f"{sys.executable} *"]},
            "approvals": [{"action": "shell.run"}],
        }
    )

    def tools(attempt: int) -> ToolBox:
        ledger = StoreLedger(store, "run1", "step", {"type": "system", "id": "test", "source": "test"})
        return ToolBox(
            ws, "a", ["shell.run"], policy, emit, ask, ledger, "run1", "step", asked.append, attempt=attempt
        )

    command = [sys.executable, "-c", "open('ran.txt', 'a').write('x') and print('ran')"]
    try:
        first = await tools(1).call("shell.run", {"command": command})
        resumed = await tools(1).call("shell.run", {"command": command})  # call 1 of attempt 1, again
        assert first == resumed == {"exit_code": 0, "stdout": "ran\n", "stderr": ""}
        assert (ws / "ran.txt").read_text() == "x"
        retried = await tools(2).call("shell.run", {"command": command})
        assert retried["exit_code"] == 0 and (ws / "ran.txt").read_text() == "xx"
        rows = await store.fetch("SELECT count(*) FROM effects WHERE kind = 'shell.run' AND status = 'done'")
        assert rows[0][0] == 2
    finally:
        await store.close()
