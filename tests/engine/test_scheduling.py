"""Scheduling: a chain of steps runs in one task, yet it shares the loop and stops when cancelled.

A step whose predecessor was the only one running is started by the predecessor's task itself (no
pass of the scheduling loop, no new task). These tests hold that shortcut to what the loop did: the
same events in the same order, other coroutines still run between steps, and a cancel from another
process still stops the chain between two steps, killing what runs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.helpers import run_cli

from builderos.engine.runlog import load_events
from builderos.engine.runner import Engine, RunOptions
from builderos.store.db import Store

PROJECT = "version: 1\nname: t\nmodels: {default: offline, profiles: {offline: {provider: scripted}}}\n"


def chain(n: int, step: str) -> str:
    lines = ["kind: pipeline", "name: p", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", f"    {step}"]
        if i:
            lines.append(f"    needs: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def make_ws(tmp: Path, pipeline: str) -> Path:
    ws = tmp / "ws"
    (ws / "ship").mkdir(parents=True)
    (ws / "agents").mkdir()
    (ws / "builderos.yaml").write_text(PROJECT)
    (ws / "builderos.policy.yaml").write_text("version: 1\ndefault: deny\n")
    (ws / "agents" / "noop.yaml").write_text("kind: agent\nname: noop\nrole: Builder\ntools: []\n")
    (ws / "ship" / "p.yaml").write_text(pipeline)
    return ws


class InstantAgent:
    """Answers without awaiting anything: a step that never gives the loop a turn by itself."""

    async def run(self, call: Any) -> dict[str, Any]:
        return {"text": call.step_id}


async def test_a_chain_of_instant_steps_still_lets_the_loop_run_between_steps(tmp_path: Path) -> None:
    steps = 200
    ws = make_ws(tmp_path, chain(steps, "agent: noop"))
    ticks = 0
    done = False
    seen: list[int] = []  # the ticker's count when each step's agent is called

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0)
            ticks += 1

    class CountingAgent(InstantAgent):
        async def run(self, call: Any) -> dict[str, Any]:
            seen.append(ticks)
            return await super().run(call)

    store = await Store.open(ws / ".builderos")
    try:
        other = asyncio.create_task(ticker())
        state = await Engine(ws, store, RunOptions(agent_runtime=CountingAgent())).start("p", {})
        done = True
        await other
        events = await load_events(store, state.id)
        commits = store.commits
    finally:
        await store.close()
    assert state.status == "succeeded"
    # at least one turn of the loop between two steps, as when the loop started each one itself
    assert all(b > a for a, b in itertools.pairwise(seen)), seen
    assert commits > 1  # so the writer commits while the chain goes on, not all at the end
    order = [(e.step_id, e.type) for e in events if e.step_id]
    expected = [(f"s{i}", t) for i in range(steps) for t in ("step.started", "step.finished")]
    assert order == expected
    assert state.steps["s7"].outputs == {"text": "s7"}


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--workspace", ws)


def test_cancel_from_another_process_stops_a_chain_between_steps(tmp_path: Path) -> None:
    steps = 40
    ws = make_ws(tmp_path, chain(steps, "run: sleep 0.2"))
    running = subprocess.Popen(
        [sys.executable, "-m", "builderos", "run", "p", "--json", "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        run_id = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = cli(ws, "runs", "--json")
            runs = json.loads(listed.stdout) if listed.returncode == 0 and listed.stdout.strip() else []
            if runs and runs[0]["status"] == "running":
                shown = json.loads(cli(ws, "show", runs[0]["id"], "--json").stdout)
                if sum(s["status"] == "succeeded" for s in shown["steps"]) >= 3:
                    run_id = runs[0]["id"]
                    break
            time.sleep(0.1)
        assert run_id, "the run never got going"
        cancelled = cli(ws, "cancel", run_id)
        assert cancelled.returncode == 0, cancelled.stderr
        _, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode != 0, "a cancelled run does not exit 0"
    shown = json.loads(cli(ws, "show", run_id, "--json").stdout)
    assert shown["status"] == "cancelled", (shown["status"], err)
    statuses = [s["status"] for s in shown["steps"]]
    done = statuses.count("succeeded")
    assert 3 <= done < steps
    assert set(statuses[done:]) <= {"cancelled", "pending"} and "cancelled" in statuses[done:]
    assert statuses[:done] == ["succeeded"] * done  # a chain: every step before the stop finished
    verify = cli(ws, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_a_step_that_frees_two_others_hands_them_to_the_loop(tmp_path: Path) -> None:
    pipeline = textwrap.dedent(
        """
        kind: pipeline
        name: p
        concurrency: 2
        steps:
          - {id: a, agent: noop}
          - {id: b, agent: noop, needs: [a]}
          - {id: c, agent: noop, needs: [a]}
          - {id: d, agent: noop, needs: [b, c]}
        """
    )
    ws = make_ws(tmp_path, pipeline)

    async def go() -> Any:
        store = await Store.open(ws / ".builderos")
        try:
            return await Engine(ws, store, RunOptions(agent_runtime=InstantAgent())).start("p", {})
        finally:
            await store.close()

    state = asyncio.run(go())
    assert state.status == "succeeded"
    assert {sid: s.outputs["text"] for sid, s in state.steps.items()} == {k: k for k in "abcd"}
