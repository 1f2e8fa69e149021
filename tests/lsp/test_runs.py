"""Runs through the daemon: builderos/run* requests, notifications in order, CLI runs seen, restarts."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from builderos import protocol

PIPELINE = """
kind: pipeline
name: p
inputs: {who: {type: string, default: world}}
concurrency: 2
steps:
  - {id: a, run: "echo hello ${{ inputs.who }}"}
  - {id: b, run: "echo b", needs: [a]}
  - {id: c, run: "echo c", needs: [a]}
  - {id: gate, run: "echo gated >> gated.txt", needs: [b, c], gate: approval}
"""

SLOW = """
kind: pipeline
name: slow
steps:
  - {id: one, run: "sleep 0.3"}
  - {id: two, run: "echo two", needs: [one]}
"""


def make_ws(tmp: Path) -> Path:
    ws = tmp / "ws"
    (ws / "ship").mkdir(parents=True)
    (ws / "builderos.yaml").write_text("version: 1\nname: t\n")
    (ws / "builderos.policy.yaml").write_text("version: 1\ndefault: deny\n")
    (ws / "ship" / "p.yaml").write_text(PIPELINE)
    (ws / "ship" / "slow.yaml").write_text(SLOW)
    return ws


class Daemon:
    """A real daemon subprocess with a client that records every builderos/* notification."""

    #: How long a request may take (a scenario or a replay runs a whole pipeline before answering).
    timeout = 20.0

    def __init__(self, ws: Path) -> None:
        self.ws = ws
        self.client = LanguageClient("test", "1")
        self.events: list[dict[str, Any]] = []
        self.changed: list[dict[str, Any]] = []
        self.requested: list[dict[str, Any]] = []
        self.wake = asyncio.Event()

        @self.client.feature(protocol.RUN_EVENT)
        def on_event(params: Any) -> None:
            self.events.append(_plain(params))
            self.wake.set()

        @self.client.feature(protocol.RUNS_CHANGED)
        def on_changed(params: Any) -> None:
            self.changed.append(_plain(params))
            self.wake.set()

        @self.client.feature(protocol.APPROVAL_REQUESTED)
        def on_requested(params: Any) -> None:
            self.requested.append(_plain(params))
            self.wake.set()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: Any) -> None:
            pass

    async def start(self) -> Daemon:
        await self.client.start_io(sys.executable, "-m", "builderos", "serve", "--stdio", cwd=str(self.ws))
        await self.client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=self.ws.as_uri())
        )
        self.client.initialized(types.InitializedParams())
        return self

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        return _plain(
            await asyncio.wait_for(self.client.protocol.send_request_async(method, params), self.timeout)
        )

    async def command(self, name: str, *args: Any) -> Any:
        result = self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(args))
        )
        return _plain(await asyncio.wait_for(result, self.timeout))

    async def until(self, predicate: Any, timeout: float = 30.0) -> None:
        async def wait() -> None:
            while not predicate():
                self.wake.clear()
                await self.wake.wait()

        await asyncio.wait_for(wait(), timeout)

    def status(self, run_id: str) -> str | None:
        found = [c["status"] for c in self.changed if c.get("runId") == run_id]
        return found[-1] if found else None

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 5)
            self.client.exit(None)
        except Exception:  # a daemon killed by the test has nothing to answer
            pass
        await self.client.stop()

    def kill(self) -> None:
        server = self.client._server  # the subprocess started by start_io
        assert server is not None
        server.kill()


def _plain(value: Any) -> Any:
    """pygls hands custom payloads over as namedtuples; compare them as plain data."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@pytest_asyncio.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = await Daemon(make_ws(tmp_path)).start()
    try:
        yield d
    finally:
        await d.stop()


def db_events(ws: Path, run_id: str) -> list[tuple[int, str]]:
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        return conn.execute(
            "SELECT seq, type FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    finally:
        conn.close()


async def test_a_run_from_the_editor_streams_every_event_in_order_and_waits_for_approval(
    daemon: Daemon,
) -> None:
    started = await daemon.request(protocol.RUN_START, {"pipeline": "p", "inputs": {"who": "editor"}})
    run_id = started["runId"]
    await daemon.until(lambda: any(r.get("runId") == run_id for r in daemon.requested))
    pending = await daemon.request(protocol.APPROVALS, {})
    assert [(a["run_id"], a["step_id"], a["rule"]) for a in pending] == [(run_id, "gate", "gate: approval")]
    assert daemon.status(run_id) == "awaiting_approval"
    assert not (daemon.ws / "gated.txt").exists()
    decided = await daemon.request(protocol.APPROVAL_RESOLVE, {"id": pending[0]["id"], "decision": "approve"})
    assert decided["status"] == "approved"
    await daemon.until(lambda: daemon.status(run_id) == "succeeded")
    await asyncio.sleep(0.2)
    mine = [e["event"] for e in daemon.events if e["runId"] == run_id]
    assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))  # in order, none lost
    assert [(e["seq"], e["type"]) for e in mine] == db_events(daemon.ws, run_id)
    assert (daemon.ws / "gated.txt").read_text() == "gated\n"
    record = await daemon.request(protocol.RUN, {"runId": run_id})
    assert record["status"] == "succeeded" and record["inputs"] == {"who": "editor"}
    assert record["steps"][0]["outputs"]["stdout"].strip() == "hello editor"
    timeline = await daemon.request(protocol.TIMELINE, {"runId": run_id})
    assert [lane["step"] for lane in timeline["lanes"]] == ["a", "b", "c", "gate"]
    runs = await daemon.request(protocol.RUNS, {})
    assert runs[0]["id"] == run_id and runs[0]["status"] == "succeeded"
    verified = await daemon.request(protocol.AUDIT_VERIFY, {})
    assert verified["ok"] and verified["count"] > 10


async def test_bad_requests_are_errors_not_crashes(daemon: Daemon) -> None:
    from pygls.exceptions import JsonRpcException

    for params, needle in (
        ({"pipeline": "nope"}, "unknown pipeline 'nope'"),
        ({"pipeline": "p", "inputs": {"x": 1}}, "unknown input 'x'"),
    ):
        with pytest.raises(JsonRpcException) as info:
            await daemon.request(protocol.RUN_START, params)
        assert needle in str(info.value)
    with pytest.raises(JsonRpcException):
        await daemon.request(protocol.RUN, {"runId": "01NOPE"})
    started = await daemon.request(protocol.RUN_START, {"pipeline": "slow"})
    assert started["runId"]


def cli(ws: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env=env,
    )


async def test_runs_started_from_the_cli_appear_in_the_daemon(daemon: Daemon) -> None:
    proc = await asyncio.to_thread(cli, daemon.ws, "run", "slow", "--json")
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["id"]
    await daemon.until(lambda: daemon.status(run_id) == "succeeded")
    await daemon.until(
        lambda: len([e for e in daemon.events if e["runId"] == run_id]) == len(db_events(daemon.ws, run_id))
    )
    seqs = [e["event"]["seq"] for e in daemon.events if e["runId"] == run_id]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_the_cli_and_the_daemon_write_the_store_at_the_same_time(daemon: Daemon) -> None:
    procs = [asyncio.to_thread(cli, daemon.ws, "run", "p", "--approve-all", "--json") for _ in range(2)]
    mine = [await daemon.request(protocol.RUN_START, {"pipeline": "slow"}) for _ in range(2)]
    done = await asyncio.gather(*procs)
    for proc in done:
        assert proc.returncode == 0, proc.stderr
        assert "locked" not in proc.stderr
    for started in mine:
        await daemon.until(lambda s=started: daemon.status(s["runId"]) == "succeeded")
    conn = sqlite3.connect(daemon.ws / ".builderos" / "builderos.db")
    counts = conn.execute("SELECT run_id, count(*), max(seq) FROM events GROUP BY run_id").fetchall()
    assert len(counts) == 4 and all(n == mx for _, n, mx in counts)


async def test_an_interrupted_run_is_resumed_when_the_daemon_starts(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    env = {**os.environ, "BUILDEROS_CRASHPOINT": "after-commit:step.finished:2"}
    killed = await asyncio.to_thread(cli, ws, "run", "p", "--approve-all", env=env)
    assert killed.returncode == -9
    run_id = sqlite3.connect(ws / ".builderos" / "builderos.db").execute("SELECT id FROM runs").fetchone()[0]
    d = await Daemon(ws).start()
    try:
        await d.until(lambda: d.status(run_id) == "awaiting_approval")
        pending = await d.request(protocol.APPROVALS, {})
        await d.request(protocol.APPROVAL_RESOLVE, {"id": pending[0]["id"], "decision": "approve"})
        await d.until(lambda: d.status(run_id) == "succeeded")
    finally:
        await d.stop()
    seqs = [s for s, _ in db_events(ws, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.parametrize(
    "point",
    [
        "before-commit:approval.requested:1",
        "after-commit:approval.requested:1",
        "before-commit:approval.resolved:1",
    ],
)
async def test_a_run_killed_around_its_approval_is_carried_on(tmp_path: Path, point: str) -> None:
    """Resumed with the request open, the run says it awaits approval (not 'running'), and goes on."""
    ws = make_ws(tmp_path)
    killed = await asyncio.to_thread(
        cli, ws, "run", "p", "--approve-all", env={**os.environ, "BUILDEROS_CRASHPOINT": point}
    )
    assert killed.returncode == -9
    run_id = sqlite3.connect(ws / ".builderos" / "builderos.db").execute("SELECT id FROM runs").fetchone()[0]
    d = await Daemon(ws).start()
    try:
        await d.until(lambda: d.status(run_id) in ("awaiting_approval", "succeeded"))
        pending = await d.request(protocol.APPROVALS, {})
        if pending:  # asked again or still open; a decision made before the kill is simply applied
            assert [a["run_id"] for a in pending] == [run_id]
            await d.request(protocol.APPROVAL_RESOLVE, {"id": pending[0]["id"], "decision": "approve"})
        await d.until(lambda: d.status(run_id) == "succeeded")
    finally:
        await d.stop()
    assert (ws / "gated.txt").read_text() == "gated\n"  # the gated step ran exactly once
    seqs = [s for s, _ in db_events(ws, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_pending_approval_survives_a_killed_daemon(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    d = await Daemon(ws).start()
    started = await d.request(protocol.RUN_START, {"pipeline": "p"})
    run_id = started["runId"]
    await d.until(lambda: d.status(run_id) == "awaiting_approval")
    d.kill()
    await d.stop()
    d2 = await Daemon(ws).start()
    try:
        pending = await d2.request(protocol.APPROVALS, {})
        assert [a["run_id"] for a in pending] == [run_id]
        await d2.request(protocol.APPROVAL_RESOLVE, {"id": pending[0]["id"], "decision": "approve"})
        await d2.until(lambda: d2.status(run_id) == "succeeded")
    finally:
        await d2.stop()
    assert (ws / "gated.txt").read_text() == "gated\n"
    assert cli(ws, "audit", "verify").returncode == 0


async def test_a_denied_gate_fails_its_step_and_the_run_ends_from_the_editor_and_the_cli(
    tmp_path: Path,
) -> None:
    ws = make_ws(tmp_path)
    d = await Daemon(ws).start()
    try:
        run_id = (await d.request(protocol.RUN_START, {"pipeline": "p"}))["runId"]
        await d.until(lambda: d.status(run_id) == "awaiting_approval")
        pending = await d.request(protocol.APPROVALS, {})
        await d.request(
            protocol.APPROVAL_RESOLVE, {"id": pending[0]["id"], "decision": "deny", "comment": "not today"}
        )
        await d.until(lambda: d.status(run_id) == "failed")
        record = await d.request(protocol.RUN, {"runId": run_id})
    finally:
        await d.stop()
    gate = next(s for s in record["steps"] if s["id"] == "gate")
    assert gate["status"] == "failed" and "not today" in gate["error"]
    assert not (ws / "gated.txt").exists()
    # the same from the CLI: deny, then resume ends the run as failed, one line, no traceback
    started = cli(ws, "run", "p", "--no-wait", "--json")
    assert started.returncode == 3
    second = json.loads(started.stdout)["id"]
    request = json.loads(cli(ws, "approvals", "--json").stdout)[0]["id"]
    assert cli(ws, "deny", request, "--reason", "not now either").returncode == 0
    resumed = cli(ws, "resume", second)
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr
    assert json.loads(cli(ws, "show", second, "--json").stdout)["status"] == "failed"


async def test_a_starting_daemon_does_not_resend_the_stores_history(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    assert cli(ws, "run", "p", "--approve-all").returncode == 0
    d = await Daemon(ws).start()
    try:
        await asyncio.sleep(1.5)  # several watch intervals
        assert d.events == []  # the finished run is history: the editor asks for it
        later = await asyncio.to_thread(cli, ws, "run", "slow", "--approve-all")
        assert later.returncode == 0
        await d.until(lambda: any(e["event"]["type"] == "run.finished" for e in d.events))
        streamed = [e["event"]["seq"] for e in d.events]
        assert streamed == list(range(1, len(streamed) + 1))  # the new run, all of it, in order
    finally:
        await d.stop()
