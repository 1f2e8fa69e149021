"""The engine through its real interfaces: a store on disk, real commands, real git, the CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from builderos.engine import approvals
from builderos.engine.inputs import InputError
from builderos.engine.preflight import PreflightError
from builderos.engine.runlog import load_events
from builderos.engine.runner import Engine, RunOptions
from builderos.store.audit import verify_db
from builderos.store.clock import FixedClock, SeqIds
from builderos.store.db import Store

PROJECT = "version: 1\nname: t\nmodels: {default: offline, profiles: {offline: {provider: scripted}}}\n"
POLICY = "version: 1\ndefault: deny\n"


def make_ws(tmp: Path, pipeline: str, extra: dict[str, str] | None = None) -> Path:
    ws = tmp / "ws"
    (ws / "ship").mkdir(parents=True)
    (ws / "builderos.yaml").write_text(PROJECT)
    (ws / "builderos.policy.yaml").write_text(POLICY)
    (ws / "ship" / "p.yaml").write_text(textwrap.dedent(pipeline))
    for rel, text in (extra or {}).items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(textwrap.dedent(text))
    return ws


async def run(ws: Path, name: str = "p", inputs: dict[str, Any] | None = None, **opts: Any) -> Any:
    store = await Store.open(ws / ".builderos", clock=opts.pop("clock", None))
    try:
        engine = Engine(ws, store, RunOptions(poll_interval=0.05, **opts))
        return await engine.start(name, inputs or {}, opts.pop("scenario", None))
    finally:
        await store.close()


def audit_ok(ws: Path) -> bool:
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        return verify_db(conn).ok
    finally:
        conn.close()


CHAIN = """
kind: pipeline
name: p
inputs:
  who: {type: string, default: world}
  n: {type: integer, default: 2}
concurrency: 2
steps:
  - id: a
    run: echo hello ${{ inputs.who }}
  - id: b
    needs: [a]
    run: echo "${{ steps.a.outputs.stdout }}" | tr a-z A-Z
  - id: c
    needs: [a]
    if: "${{ inputs.n > 5 }}"
    run: echo never
  - id: d
    needs: [b]
    run: test "${{ steps.b.outputs.exit_code }}" = 0
"""


async def test_a_run_passes_outputs_skips_false_conditions_and_verifies(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, CHAIN)
    state = await run(ws, inputs={"who": "shop"})
    assert state.status == "succeeded"
    assert state.steps["a"].outputs["stdout"].strip() == "hello shop"
    assert state.steps["b"].outputs["stdout"].strip() == "HELLO SHOP"
    assert state.steps["c"].status == "skipped"
    assert state.steps["d"].status == "succeeded"
    record = json.loads((ws / ".builderos" / "runs" / f"{state.id}.json").read_text())
    assert record["status"] == "succeeded" and record["inputs"] == {"who": "shop", "n": 2}
    assert {s["id"] for s in record["steps"]} == {"a", "b", "c", "d"}
    assert record["provenance"]["pipeline_sha256"]
    assert record["provenance"]["steps"]["b"]["inputs_sha256"]
    assert audit_ok(ws)
    log = (ws / ".builderos" / "logs" / state.id / "a.log").read_text()
    assert "hello shop" in log


async def test_retries_back_off_and_then_fail_with_the_reason(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        steps:
          - id: flaky
            run: echo try >> tries.txt; exit 3
            retries: {max: 2, backoff: exponential, initial: 50ms, max_delay: 1s}
        """,
    )
    state = await run(ws)
    assert state.status == "failed"
    s = state.steps["flaky"]
    assert s.attempts == 3 and s.status == "failed"
    assert s.retry_delays == [0.05, 0.1]
    assert (ws / "tries.txt").read_text().count("try") == 3
    assert "exited with code 3" in (state.error or "")


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        steps:
          - id: slow
            run: sleep 30 & echo $! > child.pid; wait
            timeout: 500ms
        """,
    )
    state = await run(ws)
    assert state.steps["slow"].status == "failed"
    assert "timed out" in (state.steps["slow"].error or "")
    child = int((ws / "child.pid").read_text())
    await asyncio.sleep(0.2)
    assert not alive(child), "the command's child outlived the timeout"


async def test_unknown_and_missing_inputs_are_refused_before_anything_starts(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        inputs: {goal: {type: string, required: true}}
        steps:
          - {id: a, run: "echo ${{ inputs.goal }}"}
        """,
    )
    with pytest.raises(InputError, match="missing required input 'goal'"):
        await run(ws)
    with pytest.raises(InputError, match="unknown input 'gaol'"):
        await run(ws, inputs={"goal": "x", "gaol": "y"})
    rows = sqlite3.connect(ws / ".builderos" / "builderos.db").execute("SELECT count(*) FROM runs").fetchone()
    assert rows[0] == 0


async def test_preflight_is_the_validator(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        steps:
          - {id: a, agent: ghost}
        """,
    )
    with pytest.raises(PreflightError) as info:
        await run(ws)
    assert [d.code for _, d in info.value.diagnostics] == ["BOS020"]


async def test_gate_approval_stops_and_resume_continues_after_approve(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        steps:
          - {id: a, run: echo a >> effects.txt}
          - {id: b, run: echo b >> effects.txt, needs: [a], gate: approval}
        """,
    )
    state = await run(ws)
    assert state.status == "awaiting_approval"
    assert state.steps["b"].status == "awaiting_approval"
    store = await Store.open(ws / ".builderos")
    try:
        pending = await approvals.pending(store)
        assert len(pending) == 1 and pending[0]["step_id"] == "b" and pending[0]["rule"] == "gate: approval"
        await approvals.resolve(
            store, pending[0]["id"], "approve", {"type": "user", "id": "t", "source": "test"}, None
        )
        state = await Engine(ws, store, RunOptions(poll_interval=0.05)).resume(state.id)
    finally:
        await store.close()
    assert state.status == "succeeded"
    assert (ws / "effects.txt").read_text() == "a\nb\n"
    assert audit_ok(ws)


async def test_on_failure_runs_the_handler_and_the_run_fails(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        steps:
          - {id: deploy, run: echo deployed}
          - {id: verify, run: exit 1, needs: [deploy], on_failure: undo}
          - {id: undo, run: echo undone > undone.txt}
        """,
    )
    state = await run(ws)
    assert state.status == "failed"
    assert state.steps["undo"].status == "succeeded"
    assert (ws / "undone.txt").exists()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not init in a container does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def normalised(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.seq, e.step_id, e.type, json.dumps(e.data, sort_keys=True)) for e in events]


async def test_two_runs_with_injected_clock_and_ids_give_identical_traces(tmp_path: Path) -> None:
    traces = []
    for i in range(2):
        ws = make_ws(tmp_path / str(i), CHAIN)
        state = await run(ws, clock=FixedClock(), ids=SeqIds())
        store = await Store.open(ws / ".builderos")
        try:
            events = await load_events(store, state.id)
        finally:
            await store.close()
        for e in events:
            e.data.pop("git_before", None)
            e.data.pop("git_after", None)
        traces.append(normalised(events))  # times normalised, as the issue says: batching moves clock reads
    assert traces[0] == traces[1]


def cli(ws: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        **kw,
    )


def test_cli_run_show_timeline_runs_and_audit(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, CHAIN)
    proc = cli(ws, "run", "p", "--input", "who=cli", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "succeeded"
    run_id = record["id"]
    assert "a: succeeded" in proc.stderr  # plain progress lines when not on a terminal
    runs = json.loads(cli(ws, "runs", "--json").stdout)
    assert runs[0]["id"] == run_id and set(runs[0]) == {
        "id",
        "pipeline",
        "status",
        "created_at",
        "started_at",
        "ended_at",
    }
    shown = json.loads(cli(ws, "show", run_id, "--json").stdout)
    assert shown["steps"] == record["steps"]
    timeline = cli(ws, "timeline", run_id)
    assert timeline.returncode == 0 and "succeeded" in timeline.stdout and "|" in timeline.stdout
    verify = cli(ws, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout
    export = cli(ws, "audit", "export", "--entity-type", "run")
    lines = [json.loads(x) for x in export.stdout.splitlines()]
    assert lines and all(x["entity_type"] == "run" for x in lines)


def test_cli_bad_input_is_one_line_with_a_hint(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, CHAIN)
    for args, needle in (
        (("run", "nope"), "unknown pipeline 'nope'"),
        (("run", "p", "--input", "x=1"), "unknown input 'x'"),
        (("run", "p", "--input", "n=many"), "must be a whole number"),
        (("show", "01NOPE"), "no run '01NOPE'"),
        (("resume", "01NOPE"), "no run '01NOPE'"),
    ):
        proc = cli(ws, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr and "hint:" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_run_stops_at_approval_with_exit_3_then_approve_and_resume(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        steps:
          - {id: a, run: echo a, gate: approval}
        """,
    )
    first = cli(ws, "run", "p", "--json")
    assert first.returncode == 3, first.stderr
    run_id = json.loads(first.stdout)["id"]
    pending = json.loads(cli(ws, "approvals", "--json").stdout)
    assert len(pending) == 1
    assert cli(ws, "approve", pending[0]["id"], "--comment", "ok").returncode == 0
    again = cli(ws, "approve", pending[0]["id"])
    assert again.returncode == 2 and "already approved" in again.stderr
    resumed = cli(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"


def test_unwritable_store_and_corrupt_database_are_one_line_errors(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, CHAIN)
    (ws / ".builderos").mkdir()
    (ws / ".builderos" / "builderos.db").write_bytes(b"this is not a database" * 100)
    proc = cli(ws, "run", "p")
    assert proc.returncode == 1 and "unreadable" in proc.stderr and "Traceback" not in proc.stderr
    ws2 = make_ws(tmp_path / "two", CHAIN)
    (ws2 / ".builderos").write_text("a file where the store folder should be")
    proc = cli(ws2, "run", "p")
    assert proc.returncode == 1 and "cannot write" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_and_another_process_write_the_same_store_concurrently(tmp_path: Path) -> None:
    ws = make_ws(
        tmp_path,
        """
        kind: pipeline
        name: p
        concurrency: 8
        steps:
"""
        + "".join(f"          - {{id: s{i}, run: 'true'}}\n" for i in range(30)),
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "builderos", "run", "p", "--workspace", str(ws), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    counts = conn.execute("SELECT run_id, count(*), max(seq) FROM events GROUP BY run_id").fetchall()
    assert len(counts) == 4
    assert all(n == mx for _, n, mx in counts)  # no gaps: nothing acknowledged was lost
    assert audit_ok(ws)


OPEN_AND_WRITE = """
import asyncio, sys, time
from pathlib import Path
from builderos.store.db import Batch, Store
async def main():
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all together, on a fresh store
    store = await Store.open(Path(sys.argv[1]))
    sql = "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"
    await store.write(Batch().add(sql, (sys.argv[3], "1")))
    await store.close()
asyncio.run(main())
"""


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    """Two openers switching a new database to WAL can collide; each waits its turn, none is told
    the database is locked or unreadable."""
    root = tmp_path / ".builderos"
    at = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_WRITE, str(root), at, f"opener-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(16)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    keys = sqlite3.connect(root / "builderos.db").execute("SELECT key FROM meta WHERE key LIKE 'opener-%'")
    assert {k for (k,) in keys} == {f"opener-{i}" for i in range(16)}
