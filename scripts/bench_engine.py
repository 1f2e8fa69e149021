#!/usr/bin/env python3
"""Engine benchmark: per-step overhead against LangGraph and Prefect, the sleep floor, audit, store size.

Run from the repository root:

    .venv/bin/python scripts/bench_engine.py                  # 1,000-step shapes, 5 repetitions
    .venv/bin/python scripts/bench_engine.py --quick          # 200-step shapes, 3 repetitions, store to 10k
    .venv/bin/python scripts/bench_engine.py --skip-prefect   # LangGraph only (no 25 s Prefect cold start)
    .venv/bin/python scripts/bench_engine.py --json out.json  # also keep every sample

It measures, with the systems interleaved (the order rotates each repetition) so that the figures of
one row are taken side by side, and prints one table of medians:

  (a) per-step engine overhead (total wall time / steps) of a 1,000-step chain and of a
      1 -> 1,000 -> 1 fan-out/fan-in of no-op steps. Ours: agent steps with an AgentRuntime that
      returns at once, every event committed (SQLite WAL, synchronous=FULL) before the engine moves
      on. Peers: LangGraph with ``SqliteSaver`` (durability "sync", and its default "async") and
      without a checkpointer, and Prefect 3 tasks in a flow (ephemeral local API, its SQLite),
      after a warm-up run; cold starts (process start -> first one-step run finished) separately.
      Totals include building the run: our preflight (parse, validate, plan; after the first run a
      hit in the process's memo, since the files do not change) and LangGraph's ``StateGraph``
      build and ``compile``; footnotes give those shares, and our preflight from scratch.
  (b) 40 sequential steps that each sleep 10 ms, against the 0.4 s floor.
  (c) ``builderos audit verify`` as the CLI runs it (``audit_parallel.verify_file``: worker
      processes over ranges of a 100,000-record log made of the (a) runs' real records, with the
      compiled fast check when it is built), against single-core ``hashlib.sha256`` of each
      record's stored bytes (one hash per record), in MB/s.
  (d) the size of the store (db + wal, and the whole .builderos folder) after 1,000, 10,000 and
      100,000 events made by running pipelines, in bytes per event, and whether growth is linear.

The peers run in their own venv (``scripts/.bench-venv``, created on first use from
``scripts/bench-peers/requirements-engine.txt``) as worker subprocesses of
``scripts/bench_engine_peers.py`` that answer JSON lines. Where this user may (root, ``unshare`` and
``ip`` present) they run in a network namespace of their own with only loopback, so they cannot reach
the network. Every subprocess and every wait is bounded by a timeout; workers are killed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import hashlib
import json
import os
import platform
import queue
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PEERS_SCRIPT = REPO / "scripts" / "bench_engine_peers.py"
REQUIREMENTS = REPO / "scripts" / "bench-peers" / "requirements-engine.txt"
BENCH_VENV = REPO / "scripts" / ".bench-venv"
STAMP_NAME = ".requirements.sha256"

# Targets
TARGET_A = 0.5  # our durable per-step overhead <= 0.5 x LangGraph's SqliteSaver "sync"
TARGET_B = 1.1  # 40 x 10 ms <= 1.1 x 0.4 s
TARGET_C = 0.5  # audit verify >= 0.5 x raw sha256 throughput
LINEAR_BAND = 0.30  # bytes/event between sizes within +-30%

SLEEP_STEPS = 40
SLEEP_S = 0.01

# Timeouts (seconds). Every wait in this script is bounded by one of these.
T_VENV = 120.0
T_PIP = 1200.0
T_NETNS_PROBE = 10.0
T_WORKER_READY = 180.0
T_WARMUP_LANGGRAPH = 300.0
T_WARMUP_PREFECT = 420.0  # the ephemeral API server's first start migrates a new database
T_INFO = 60.0
T_RUN_BASE = 120.0
T_RUN_PER_STEP = 0.5
T_OURS_BASE = 120.0
T_OURS_PER_STEP = 0.25
T_COLD_PROBE = 180.0
T_QUIT = 15.0
T_QUIESCE = 30.0

LANGGRAPH_SYSTEMS = ("langgraph-none", "langgraph-sync", "langgraph-default")
SYSTEM_LABELS = {
    "ours": "ours (durable)",
    "langgraph-sync": 'LangGraph SqliteSaver "sync"',
    "langgraph-default": "LangGraph SqliteSaver default (async)",
    "langgraph-none": "LangGraph, no checkpointer",
    "prefect": "Prefect 3, until the flow returns",
    "prefect-persisted": "Prefect 3, until its task states are in its DB",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Workspaces and pipelines
# --------------------------------------------------------------------------------------------------


def chain_pipeline(name: str, n: int) -> str:
    """n agent steps, each needing the previous one."""
    lines = ["kind: pipeline", f"name: {name}", "steps:"]
    for i in range(n):
        lines.append(f"  - id: s{i}")
        lines.append("    agent: noop")
        if i:
            lines.append(f"    needs: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def fan_pipeline(name: str, n: int) -> str:
    """1 -> n -> 1: a source, n steps that need it, a sink that needs them all (all may run at once)."""
    lines = [
        "kind: pipeline",
        f"name: {name}",
        f"concurrency: {n}",
        "steps:",
        "  - id: src",
        "    agent: noop",
    ]
    for i in range(n):
        lines += [f"  - id: s{i}", "    agent: noop", "    needs: [src]"]
    lines += ["  - id: sink", "    agent: noop", "    needs: [" + ", ".join(f"s{i}" for i in range(n)) + "]"]
    return "\n".join(lines) + "\n"


def steps_of(shape: str, n: int) -> int:
    return n + 2 if shape == "fan" else n


def pipeline_text(shape: str, n: int, name: str | None = None) -> str:
    name = name or shape
    return fan_pipeline(name, n) if shape == "fan" else chain_pipeline(name, n)


def write_workspace(root: Path, pipelines: dict[str, str]) -> Path:
    """A minimal workspace: project, deny-all policy, the no-op agent and the given pipelines."""
    (root / "ship").mkdir(parents=True, exist_ok=True)
    (root / "agents").mkdir(exist_ok=True)
    (root / "builderos.yaml").write_text("version: 1\nname: b\n")
    (root / "builderos.policy.yaml").write_text("version: 1\ndefault: deny\n")
    (root / "agents" / "noop.yaml").write_text("kind: agent\nname: noop\nrole: Builder\ntools: []\n")
    for name, text in pipelines.items():
        (root / "ship" / f"{name}.yaml").write_text(text)
    return root


# --------------------------------------------------------------------------------------------------
# Ours, in this process
# --------------------------------------------------------------------------------------------------


class NoopAgent:
    """An AgentRuntime that answers at once: what is left is the engine's own overhead."""

    async def run(self, call: Any) -> dict[str, Any]:
        return {"text": ""}


class SleepAgent:
    """An AgentRuntime whose every step takes `seconds` (an awaited sleep, as an LLM call would be)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def run(self, call: Any) -> dict[str, Any]:
        await asyncio.sleep(self.seconds)
        return {"text": ""}


def _runtime(shape: str) -> Any:
    return SleepAgent(SLEEP_S) if shape == "sleep" else NoopAgent()


async def _engine_run(store: Any, ws: Path, pipeline: str, runtime: Any) -> tuple[float, Any]:
    from builderos.engine.runner import Engine, RunOptions

    engine = Engine(ws, store, RunOptions(agent_runtime=runtime))
    t0 = time.perf_counter()
    state = await engine.start(pipeline, {})
    return time.perf_counter() - t0, state


def _check_state(state: Any, steps: int) -> None:
    done = sum(1 for s in state.steps.values() if s.status == "succeeded")
    if state.status != "succeeded" or done != steps:
        raise RuntimeError(f"our run ended {state.status} with {done}/{steps} steps succeeded: {state.error}")


def run_ours(ws: Path, pipeline: str, shape: str, n: int) -> dict[str, Any]:
    """One run of `pipeline` in workspace `ws` (store opened before and closed after the timing)."""
    from builderos import event_loop
    from builderos.store.db import Store

    event_loop.install()  # the event loop the CLI and the daemon run on (builderos/event_loop.py)

    steps = steps_of(shape, n)

    async def go() -> dict[str, Any]:
        store = await Store.open(ws / ".builderos")
        try:
            seconds, state = await asyncio.wait_for(
                _engine_run(store, ws, pipeline, _runtime(shape)), T_OURS_BASE + T_OURS_PER_STEP * steps
            )
            commits = store.commits
        finally:
            await store.close()
        _check_state(state, steps)
        return {"seconds": seconds, "steps": steps, "commits": commits}

    return asyncio.run(go())


def time_preflight(ws: Path, pipeline: str) -> tuple[float, float]:
    """Our preflight as the timed runs had it (files unchanged: the process's memo) and from scratch."""
    from builderos.engine import preflight as pf

    t0 = time.perf_counter()
    pf.preflight(ws, pipeline)
    memo = time.perf_counter() - t0
    pf._PASSED.clear()
    t0 = time.perf_counter()
    pf.preflight(ws, pipeline)
    return memo, time.perf_counter() - t0


def cold_probe(ws: Path) -> None:
    """`--cold-probe`: run the one-step pipeline `one` of a fresh workspace (timed by the parent)."""
    result = run_ours(ws, "one", "chain", 1)
    print(json.dumps(result))


def measure_ours_cold(tmp: Path, k: int) -> list[float]:
    """Process start -> first one-step run finished, in a fresh workspace (new store) each time."""
    out = []
    for i in range(k):
        ws = write_workspace(tmp / f"cold-{i}", {"one": chain_pipeline("one", 1)})
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--cold-probe", str(ws)],
            capture_output=True,
            text=True,
            timeout=T_COLD_PROBE,
            check=False,
        )
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"cold probe failed: {proc.stderr.strip()[-400:]}")
        out.append(elapsed)
    return out


# --------------------------------------------------------------------------------------------------
# Peers: venv and workers
# --------------------------------------------------------------------------------------------------


class PeerError(Exception):
    pass


def _requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def ensure_venv() -> Path:
    """scripts/.bench-venv with the pinned peers; (re)made when the requirements file changed."""
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / STAMP_NAME
    want = _requirements_hash()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    log(
        f"[venv] creating {BENCH_VENV.relative_to(REPO)} "
        f"from {REQUIREMENTS.relative_to(REPO)} (a few minutes)"
    )
    if not python.exists():
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True, timeout=T_VENV)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
        timeout=T_PIP,
        check=False,
    )
    if pip.returncode != 0:
        errors = [ln for ln in pip.stderr.splitlines() if "ERROR" in ln or "error" in ln.lower()]
        raise PeerError("pip install of the peers failed: " + " | ".join(errors[-3:] or [pip.stderr[-400:]]))
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2] >= (3, 11))"],
        capture_output=True,
        text=True,
        timeout=T_VENV,
        check=False,
    )
    if version.stdout.strip() != "True":
        raise PeerError(f"{python} is not Python 3.11+")
    stamp.write_text(want + "\n")
    return python


def netns_prefix() -> list[str]:
    """A command prefix that runs a process in a new network namespace with only loopback, if we may."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip or os.geteuid() != 0:
        return []
    prefix = [unshare, "-n", "--", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=T_NETNS_PROBE, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return prefix if probe.returncode == 0 else []


def peer_env(kind: str, tmp: Path) -> dict[str, str]:
    drop = ("PREFECT_", "LANGCHAIN_", "LANGSMITH_", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["DO_NOT_TRACK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if kind == "prefect":
        # Ephemeral mode (Prefect's docs): no PREFECT_API_URL, so the client starts a local API on
        # 127.0.0.1 backed by SQLite in PREFECT_HOME. No analytics, no UI; a slow first start is fine.
        env["PREFECT_HOME"] = str(tmp / "prefect-home")
        env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "true"
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        env["PREFECT_UI_ENABLED"] = "false"
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = str(int(T_WARMUP_PREFECT - 60))
    return env


_WORKERS: list[Worker] = []


class Worker:
    """One peer worker process (its own process group); JSON line requests with a timeout each."""

    def __init__(self, kind: str, python: Path, tmp: Path, prefix: list[str]) -> None:
        self.kind = kind
        self.dead = False
        folder = tmp / f"worker-{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "stderr.log"
        self._log = self.log_path.open("w")
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(
            [*prefix, str(python), str(PEERS_SCRIPT), "--serve", kind, "--tmp", str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=peer_env(kind, folder),
            cwd=str(folder),
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        _WORKERS.append(self)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
            return " | ".join(lines[-3:])[-600:]
        return ""

    def read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise PeerError(f"{self.kind} worker: no answer within {timeout:.0f}s (killed)")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.dead = True
                raise PeerError(f"{self.kind} worker ended: {self._tail()}")
            with contextlib.suppress(json.JSONDecodeError):
                reply: dict[str, Any] = json.loads(line)
                if not reply.get("ok"):
                    raise PeerError(f"{self.kind}: {reply.get('error')}")
                return reply

    def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.dead:
            raise PeerError(f"{self.kind} worker is not running")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(payload) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.dead = True
            raise PeerError(f"{self.kind} worker: {exc}") from None
        return self.read(timeout)

    def kill(self) -> None:
        self.dead = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=T_QUIT)

    def close(self) -> None:
        if self.proc.poll() is None and not self.dead:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=T_QUIT)
        self.kill()  # the whole group: Prefect's ephemeral API server is a child process
        with contextlib.suppress(OSError):
            self._log.close()


@atexit.register
def _kill_workers() -> None:
    for w in _WORKERS:
        with contextlib.suppress(Exception):
            w.kill()


def _process_tree_cpu(root_pids: Iterable[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and all their descendants."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])
    total, stack, seen = 0, list(root_pids), set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += ticks.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def quiesce(workers: list[Worker], idle: float = 0.05, window: float = 0.5) -> None:
    """Wait until the peers' process trees are idle (Prefect's API server drains its backlog)."""
    pids = [w.proc.pid for w in workers if not w.dead and w.proc.poll() is None]
    if not pids or not Path("/proc/self/stat").exists():
        return
    start = time.monotonic()
    before = _process_tree_cpu(pids)
    while time.monotonic() < start + T_QUIESCE:
        time.sleep(window)
        now = _process_tree_cpu(pids)
        if now - before <= idle * window:
            break
        before = now
    waited = time.monotonic() - start
    if waited > 2 * window:
        log(f"[quiesce] waited {waited:.1f} s for the peers to go idle")


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Samples per (workload, system): seconds; failures are kept as messages."""

    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    extra: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, key: tuple[str, str], seconds: float, extra: dict[str, Any] | None = None) -> None:
        self.seconds.setdefault(key, []).append(seconds)
        self.extra.setdefault(key, []).append(extra or {})

    def median(self, key: tuple[str, str]) -> float | None:
        values = self.seconds.get(key)
        return statistics.median(values) if values else None


@dataclass
class Config:
    chain_n: int
    fan_n: int
    repeat: int
    store_sizes: list[int]
    skip_prefect: bool
    skip_peers: bool
    store_width: int


def rotate(items: list[str], k: int) -> list[str]:
    k %= len(items)
    return items[k:] + items[:k]


def run_workloads(cfg: Config, tmp: Path, workers: dict[str, Worker], samples: Samples) -> dict[str, Path]:
    """(a) and (b), interleaved: per repetition, per workload, every system once, order rotating."""
    workloads = [("chain", cfg.chain_n), ("fan", cfg.fan_n), ("sleep", SLEEP_STEPS)]
    spaces = {
        shape: write_workspace(tmp / f"ours-{shape}", {shape: pipeline_text(shape, n)})
        for shape, n in workloads
    }
    for shape, _ in workloads:  # warm-up: imports, caches, a first store; not counted
        write_workspace(tmp / "ours-warmup", {shape: pipeline_text(shape, 20 if shape != "sleep" else 2)})
        run_ours(tmp / "ours-warmup", shape, shape, 20 if shape != "sleep" else 2)
    for rep in range(cfg.repeat):
        for shape, n in workloads:
            systems = ["ours"]
            if "langgraph" in workers:
                systems += list(LANGGRAPH_SYSTEMS) if shape != "sleep" else ["langgraph-sync"]
            if "prefect" in workers:
                systems.append("prefect")
            for system in rotate(systems, rep):
                key = (shape, system)
                if key in samples.errors:
                    continue
                quiesce(list(workers.values()))
                try:
                    if system == "ours":
                        result = run_ours(spaces[shape], shape, shape, n)
                        result["preflight_s"], result["preflight_fresh_s"] = time_preflight(
                            spaces[shape], shape
                        )
                    else:
                        worker = workers["prefect" if system == "prefect" else "langgraph"]
                        steps = steps_of(shape, n)
                        limit = T_RUN_BASE + T_RUN_PER_STEP * steps
                        request = {"op": "run", "system": system, "shape": shape, "n": n, "sleep": SLEEP_S}
                        result = worker.request({**request, "patience": limit / 2}, limit)
                        if system == "prefect":
                            persisted = result.get("persisted_s")
                            if persisted is None:
                                samples.errors[(shape, "prefect-persisted")] = (
                                    "task states not recorded in time"
                                )
                            else:
                                samples.add((shape, "prefect-persisted"), float(persisted), result)
                except (PeerError, RuntimeError, TimeoutError, subprocess.SubprocessError) as exc:
                    samples.errors[key] = str(exc)
                    log(f"[{shape}] {system}: FAILED {exc}")
                    continue
                samples.add(key, float(result["seconds"]), result)
                per = float(result["seconds"]) / steps_of(shape, n) * 1000
                saved = result.get("persisted_s")
                persisted = f"  (task states in its DB after {saved:.3f} s)" if saved else ""
                log(
                    f"[rep {rep + 1}/{cfg.repeat}] {shape:5} {system:18} "
                    f"{result['seconds']:8.3f} s  {per:7.3f} ms/step{persisted}"
                )
    return spaces


def measure_audit(db: Path, repeat: int, n_records: int = 100_000) -> dict[str, Any]:
    """(c): ``audit verify`` (verify_file) against one sha256 per stored record, same bytes, interleaved.

    On a log of `n_records` records built from the (a) chain's audit records. Each repetition
    times, in turn: verify_file as ``builderos audit verify`` runs it (worker processes, one per
    CPU), sha256 of every record already in memory on one core, the sequential verify_db, and the
    SQLite read alone (the rows fetched as verify_db fetches them, nothing done with them).
    """
    from builderos.store import audit as audit_module
    from builderos.store.audit import verify_db
    from builderos.store.audit_parallel import default_start_method, verify_file

    def build_log(n: int) -> Path:
        """A chain of `n` records next to `db`: its audit records' contents, cycled and re-chained.

        The records are what the (a) runs wrote (actors, actions, details), given new seq numbers and
        hashes with `make_record`, so the sizes and shapes are real. Written in one transaction, WAL,
        checkpointed, as the store keeps its file.
        """
        from builderos.store.audit import (
            AUDIT_DDL,
            GENESIS_HASH,
            insert_sql,
            make_record,
            parse_record,
            row_values,
        )

        src = sqlite3.connect(str(db))
        try:
            templates = [
                parse_record(bytes(r[0])) for r in src.execute("SELECT record FROM audit ORDER BY seq")
            ]
        finally:
            src.close()
        if not templates:
            raise RuntimeError(f"{db} has no audit records to copy")
        path = db.parent / "audit-bench.db"
        conn = sqlite3.connect(str(path))
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(AUDIT_DDL)
            prev, batch = GENESIS_HASH, []
            with conn:
                for seq in range(1, n + 1):
                    t = templates[(seq - 1) % len(templates)]
                    record, raw = make_record(
                        prev, seq, t.ts, t.actor, t.action, t.entity_type, t.entity_id, t.outcome, t.details
                    )
                    batch.append(row_values(record, raw))
                    prev = record.hash
                    if len(batch) == 5000:
                        conn.executemany(insert_sql(), batch)
                        batch.clear()
                conn.executemany(insert_sql(), batch)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return path

    t0 = time.perf_counter()
    path = build_log(n_records)
    build_s = time.perf_counter() - t0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        records = [bytes(r[0]) for r in conn.execute("SELECT record FROM audit ORDER BY seq")]
        total = sum(len(r) for r in records)
        sha = hashlib.sha256

        def read_only() -> None:
            cursor = conn.execute("SELECT seq, record FROM audit ORDER BY seq")
            while cursor.fetchmany(1024):
                pass

        def cpu() -> float:  # this process and its finished children (the verify workers)
            t = os.times()
            return t.user + t.system + t.children_user + t.children_system

        times: dict[str, list[float]] = {"verify": [], "sha256": [], "sequential": [], "read": []}
        cpu_s: dict[str, list[float]] = {"verify": [], "sha256": []}
        loads: list[float] = []
        ok, strategy, workers, ranges = True, "", 0, 0
        for _ in range(max(repeat, 5)):
            loads.append(os.getloadavg()[0])
            c0, t0 = cpu(), time.perf_counter()
            found = verify_file(path)
            times["verify"].append(time.perf_counter() - t0)
            cpu_s["verify"].append(cpu() - c0)
            ok = ok and found.result.ok and found.result.count == len(records)
            strategy, workers, ranges = found.strategy, found.workers, found.ranges
            c0, t0 = cpu(), time.perf_counter()
            for r in records:
                sha(r).digest()
            times["sha256"].append(time.perf_counter() - t0)
            cpu_s["sha256"].append(cpu() - c0)
            t0 = time.perf_counter()
            ok = verify_db(conn).ok and ok
            times["sequential"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            read_only()
            times["read"].append(time.perf_counter() - t0)
    finally:
        conn.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "records": len(records),
        "bytes": total,
        "ok": ok,
        "build_s": build_s,
        "strategy": strategy,
        "workers": workers,
        "ranges": ranges,
        "start_method": default_start_method(),
        "verify_s": times["verify"],
        "sha256_s": times["sha256"],
        "sequential_s": times["sequential"],
        "read_s": times["read"],
        "verify_mbs": total / med["verify"] / 1e6 if records else None,
        "sha256_mbs": total / med["sha256"] / 1e6 if records else None,
        "sequential_mbs": total / med["sequential"] / 1e6 if records else None,
        "read_share": med["read"] / med["sequential"],
        "verify_cpu_s": cpu_s["verify"],
        "sha256_cpu_s": cpu_s["sha256"],
        # CPU seconds of sha256 over CPU seconds of verify (all its processes): the wall ratio verify
        # would reach with `workers` cores to itself is about workers times this
        "cpu_ratio": statistics.median(cpu_s["sha256"]) / statistics.median(cpu_s["verify"]),
        "loadavg": statistics.median(loads),
        "fast_check": "compiled (C)" if audit_module._fast_rows is not None else "pure Python",
    }


def _sizes(root: Path) -> dict[str, int]:
    db = root / "builderos.db"
    files = {name: (db.parent / name) for name in ("builderos.db", "builderos.db-wal", "builderos.db-shm")}
    size = {name: p.stat().st_size if p.exists() else 0 for name, p in files.items()}
    folder = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {
        "db": size["builderos.db"],
        "wal": size["builderos.db-wal"],
        "db_wal": size["builderos.db"] + size["builderos.db-wal"],
        "folder": folder,
    }


def measure_store(tmp: Path, sizes: list[int], width: int) -> list[dict[str, Any]]:
    """(d): run fan-out pipelines until the events table reaches each size; sizes at each point."""
    from builderos.store.db import Store

    ws = write_workspace(tmp / "ours-store", {})
    root = ws / ".builderos"
    out: list[dict[str, Any]] = []

    async def go() -> None:
        store = await Store.open(root)
        try:
            written_width = -1
            events = 0
            t_start = time.perf_counter()
            for target in sorted(sizes):
                while events < target:
                    # a run of a fan of width w makes 2w + 7 events: do not overshoot by much
                    w = max(1, min(width, (target - events - 7) // 2))
                    if w != written_width:
                        (ws / "ship" / "gen.yaml").write_text(fan_pipeline("gen", w))
                        written_width = w
                    _, state = await asyncio.wait_for(
                        _engine_run(store, ws, "gen", NoopAgent()), T_OURS_BASE + T_OURS_PER_STEP * w
                    )
                    _check_state(state, w + 2)
                    events = int((await store.fetch("SELECT count(*) FROM events"))[0][0])
                audit = int((await store.fetch("SELECT count(*) FROM audit"))[0][0])
                runs = int((await store.fetch("SELECT count(*) FROM runs"))[0][0])
                as_found = _sizes(root)
                await store.fetch("PRAGMA wal_checkpoint(TRUNCATE)")
                settled = _sizes(root)
                elapsed = time.perf_counter() - t_start
                out.append(
                    {
                        "target": target,
                        "events": events,
                        "audit": audit,
                        "runs": runs,
                        "as_found": as_found,
                        "settled": settled,
                        "elapsed_s": elapsed,
                    }
                )
                log(
                    f"[store] {events} events, {audit} audit records: db+wal {as_found['db_wal']:,} B, "
                    f"db after checkpoint {settled['db']:,} B, folder {settled['folder']:,} B "
                    f"({elapsed:.0f} s)"
                )
        finally:
            await store.close()

    asyncio.run(go())
    return out


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------


def _ms(seconds: float | None, steps: int) -> str:
    return "—" if seconds is None else f"{seconds / steps * 1000:.3f} ms/step"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def _check(ok: bool | None) -> str:
    return "" if ok is None else ("✔" if ok else "✘")


def build_rows(
    cfg: Config,
    samples: Samples,
    cold: dict[str, float | None],
    audit: dict[str, Any] | None,
    store: list[dict[str, Any]],
) -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    notes: list[str] = []
    peers = ["langgraph-sync", "langgraph-default", "langgraph-none", "prefect", "prefect-persisted"]
    for shape, n, label in (
        ("chain", cfg.chain_n, f"(a) chain of {cfg.chain_n:,}"),
        ("fan", cfg.fan_n, f"(a) fan 1→{cfg.fan_n:,}→1"),
    ):
        steps = steps_of(shape, n)
        ours = samples.median((shape, "ours"))
        for peer in peers:
            theirs = samples.median((shape, peer))
            if theirs is None and (shape, peer) not in samples.errors:
                continue
            target = ""
            if peer == "langgraph-sync":
                ok = None if ours is None or theirs is None else ours / theirs <= TARGET_A
                target = f"≤ {TARGET_A}× {_check(ok)}"
            peer_cell = _ms(theirs, steps) if theirs is not None else "failed"
            rows.append(
                [
                    f"{label}: vs {SYSTEM_LABELS[peer]}",
                    _ms(ours, steps),
                    peer_cell,
                    _ratio(ours, theirs),
                    target,
                ]
            )
        if not any(samples.median((shape, p)) is not None for p in peers):
            rows.append([f"{label}: ours (durable), no peer measured", _ms(ours, steps), "—", "—", ""])
    if cold.get("ours") is not None or cold.get("prefect") is not None:
        rows.append(
            [
                "(a) cold start: process start → first 1-step run done, vs Prefect",
                _secs(cold.get("ours")),
                _secs(cold.get("prefect")),
                _ratio(cold.get("ours"), cold.get("prefect")),
                "not counted in (a)",
            ]
        )
    if cold.get("langgraph") is not None:
        rows.append(
            [
                'cold start, vs LangGraph (SqliteSaver "sync")',
                _secs(cold.get("ours")),
                _secs(cold.get("langgraph")),
                _ratio(cold.get("ours"), cold.get("langgraph")),
                "",
            ]
        )
    floor = SLEEP_STEPS * SLEEP_S
    for system, label in (
        ("ours", "ours (durable)"),
        ("langgraph-sync", 'LangGraph "sync"'),
        ("prefect", "Prefect 3 (flow returned)"),
        ("prefect-persisted", "Prefect 3 (task states in its DB)"),
    ):
        value = samples.median(("sleep", system))
        if value is None and ("sleep", system) not in samples.errors:
            continue
        ok = None if value is None or system != "ours" else value / floor <= TARGET_B
        rows.append(
            [
                f"(b) {SLEEP_STEPS} sequential × {SLEEP_S * 1000:.0f} ms: {label}, total vs floor",
                _secs(value) if value is not None else "failed",
                _secs(floor),
                _ratio(value, floor),
                f"≤ {TARGET_B}× {_check(ok)}" if system == "ours" else "",
            ]
        )
    if audit and audit.get("verify_mbs"):
        ratio = audit["verify_mbs"] / audit["sha256_mbs"]
        rows.append(
            [
                f"(c) audit verify, {audit['records']:,} records, {audit['bytes'] / 1e6:.1f} MB, "
                f"{audit['workers'] or 1} process{'es' if audit['workers'] > 1 else ''}"
                + ("" if audit["ok"] else " (CHAIN NOT OK)"),
                f"{audit['verify_mbs']:.0f} MB/s",
                f"{audit['sha256_mbs']:.0f} MB/s sha256",
                f"{ratio:.2f}×",
                f"≥ {TARGET_C}× {_check(ratio >= TARGET_C)}",
            ]
        )
    previous: float | None = None
    for point in store:
        per = point["settled"]["db"] / point["events"]
        found = point["as_found"]["db_wal"] / point["events"]
        folder = point["settled"]["folder"] / point["events"]
        linear = None if previous is None else abs(per / previous - 1) <= LINEAR_BAND
        rows.append(
            [
                f"(d) store after {point['events']:,} events ({point['audit']:,} audit records)",
                f"{per:.0f} B/event (db+wal as found {found:.0f}, folder {folder:.0f})",
                "—" if previous is None else f"{previous:.0f} B/event before",
                "—" if previous is None else f"{per / previous:.2f}×",
                "" if previous is None else f"linear ±{LINEAR_BAND:.0%} {_check(linear)}",
            ]
        )
        previous = per
    for (shape, system), message in sorted(samples.errors.items()):
        notes.append(f"{shape}/{system} failed: {message[:300]}")
    return rows, notes


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def print_table(rows: list[list[str]]) -> None:
    header = ["workload", "ours", "peer / limit", "ratio", "target"]
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    line = "-+-".join("-" * w for w in widths)
    for i, row in enumerate(table):
        print(" | ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            print(line)


def footnotes(
    cfg: Config, samples: Samples, infos: dict[str, dict[str, Any]], audit: dict[str, Any] | None
) -> list[str]:
    notes = []
    for shape, n in (("chain", cfg.chain_n), ("fan", cfg.fan_n), ("sleep", SLEEP_STEPS)):
        ours = samples.extra.get((shape, "ours"), [])
        if ours:
            pre = statistics.median(e.get("preflight_s", 0.0) for e in ours)
            fresh = statistics.median(e.get("preflight_fresh_s", 0.0) for e in ours)
            commits = statistics.median(e.get("commits", 0) for e in ours)
            total = samples.median((shape, "ours")) or 0.0
            notes.append(
                f"ours {shape}: preflight (parse + validate + plan) {pre * 1000:.1f} ms of {total:.3f} s "
                f"(files unchanged since the first repetition: a hit in the process's memo; "
                f"{fresh * 1000:.1f} ms from scratch, as in a new process); "
                f"{commits:.0f} commits for {steps_of(shape, n)} steps"
            )
        if shape == "sleep":
            break
        for system in LANGGRAPH_SYSTEMS:
            extra = samples.extra.get((shape, system), [])
            if extra:
                build = statistics.median(e.get("build_s", 0.0) for e in extra)
                run = statistics.median(e.get("run_s", 0.0) for e in extra)
                notes.append(
                    f"{system} {shape}: build+compile {build * 1000:.0f} ms, invoke {run:.2f} s "
                    f"({run / steps_of(shape, n) * 1000:.3f} ms/step invoke only)"
                )
        extra = samples.extra.get((shape, "prefect"), [])
        if extra:
            at_return = statistics.median(e.get("recorded_at_return") or 0 for e in extra)
            notes.append(
                f"prefect {shape}: when the flow returned, {at_return:.0f} of {steps_of(shape, n)} task runs "
                "were recorded COMPLETED in its database (it records them from events, asynchronously)"
            )
    if audit:
        notes.append(
            f"(c) audit verify = verify_file, as `builderos audit verify` runs it: "
            f"{audit['workers']} worker processes ({audit['start_method']}) over {audit['ranges']} seq "
            f"ranges (strategy {audit['strategy']}), each reading its rows from SQLite itself, fast check "
            f"{audit['fast_check']}; sha256 hashes "
            "the same records, already in memory, on one core (one call per record). Log built from the "
            f"(a) chain's audit records, cycled and re-chained ({audit['build_s']:.0f} s)"
        )
        notes.append(
            f"(c) one process, verify_db: {audit['sequential_mbs']:.0f} MB/s "
            f"({audit['sequential_mbs'] / audit['sha256_mbs']:.2f}× sha256); reading the rows from SQLite "
            f"alone is {audit['read_share']:.0%} of its time"
        )
        records = audit["records"]
        verify_us = statistics.median(audit["verify_cpu_s"]) / records * 1e6
        sha_us = statistics.median(audit["sha256_cpu_s"]) / records * 1e6
        notes.append(
            f"(c) CPU time: verify {verify_us:.2f} µs/record summed over its processes, sha256 "
            f"{sha_us:.2f} µs/record; with {audit['workers']} cores to itself verify would reach about "
            f"{audit['workers'] * audit['cpu_ratio']:.2f}× sha256 (load average during (c): "
            f"{audit['loadavg']:.1f} on {os.cpu_count()} cores; the wall-clock ratio above is what it got)"
        )
    for kind, info in infos.items():
        notes.append(f"{kind}: " + ", ".join(f"{k}={v}" for k, v in info.items() if k != "ok"))
    return notes


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def start_workers(
    cfg: Config, tmp: Path, cold: dict[str, float | None], infos: dict[str, dict[str, Any]]
) -> dict[str, Worker]:
    workers: dict[str, Worker] = {}
    if cfg.skip_peers:
        return workers
    python = ensure_venv()
    prefix = netns_prefix()
    log(
        "[peers] network namespace (loopback only): "
        + ("yes" if prefix else "no (not root or no unshare/ip)")
    )
    kinds = ["langgraph"] + ([] if cfg.skip_prefect else ["prefect"])
    for kind in kinds:
        log(
            f"[peers] starting {kind}"
            + (" (cold start: its API server migrates a new database)" if kind == "prefect" else "")
        )
        worker = Worker(kind, python, tmp, prefix)
        try:
            worker.read(T_WORKER_READY)
            ready_at = time.perf_counter()
            warm = worker.request(
                {"op": "warmup"}, T_WARMUP_PREFECT if kind == "prefect" else T_WARMUP_LANGGRAPH
            )
            # process start -> first one-step (durable) run done: start-up and imports, then the first run
            cold[kind] = ready_at - worker.spawned + float(warm.get("first_s", 0.0))
            infos[kind] = worker.request({"op": "info"}, T_INFO)
            infos[kind]["netns"] = bool(prefix)
        except PeerError as exc:
            log(f"[peers] {kind} unavailable: {exc}")
            infos[kind] = {"error": str(exc)[:300]}
            worker.close()
            continue
        workers[kind] = worker
    return workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="200-step shapes, 3 repetitions, store to 10k events"
    )
    parser.add_argument("--skip-prefect", action="store_true", help="no Prefect (saves its cold start)")
    parser.add_argument("--skip-peers", action="store_true", help="ours only (no peer venv)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 5, quick 3)")
    parser.add_argument(
        "--n", type=int, help="steps of the chain and width of the fan (default 1000, quick 200)"
    )
    parser.add_argument("--store-sizes", help="comma-separated event counts (default 1000,10000,100000)")
    parser.add_argument("--json", type=Path, help="write every sample and figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and print its path")
    parser.add_argument("--cold-probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_probe:
        cold_probe(args.cold_probe)
        return 0
    n = args.n or (200 if args.quick else 1000)
    sizes = args.store_sizes or ("1000,10000" if args.quick else "1000,10000,100000")
    cfg = Config(
        chain_n=n,
        fan_n=n,
        repeat=args.repeat or (3 if args.quick else 5),
        store_sizes=[int(s) for s in sizes.split(",") if s.strip()],
        skip_prefect=args.skip_prefect,
        skip_peers=args.skip_peers,
        store_width=100,
    )
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C: the workers' process groups are killed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    log(f"[bench] python {platform.python_version()}, {os.cpu_count()} cores, scratch {tmp}")
    samples = Samples()
    cold: dict[str, float | None] = {}
    infos: dict[str, dict[str, Any]] = {}
    workers: dict[str, Worker] = {}
    audit: dict[str, Any] | None = None
    store: list[dict[str, Any]] = []
    try:
        workers = start_workers(cfg, tmp, cold, infos)
        cold_ours = measure_ours_cold(tmp, 3)
        cold["ours"] = statistics.median(cold_ours)
        log(
            f"[cold] ours {cold['ours']:.3f} s; "
            + ", ".join(f"{k} {v:.3f} s" for k, v in cold.items() if v and k != "ours")
        )
        spaces = run_workloads(cfg, tmp, workers, samples)
        for w in workers.values():
            w.close()
        db = spaces["chain"] / ".builderos" / "builderos.db"
        if db.exists():
            audit = measure_audit(db, 7)
            log(
                f"[audit] {audit['records']} records: verify {audit['verify_mbs']:.0f} MB/s, "
                f"sha256 {audit['sha256_mbs']:.0f} MB/s, ok={audit['ok']}"
            )
        store = measure_store(tmp, cfg.store_sizes, cfg.store_width)
    finally:
        for w in workers.values():
            w.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"[bench] kept {tmp}")
    rows, notes = build_rows(cfg, samples, cold, audit, store)
    print(
        f"\nBuilderOS engine benchmark — medians of {cfg.repeat} interleaved repetitions; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores\n"
    )
    print_table(rows)
    print()
    for note in [*footnotes(cfg, samples, infos, audit), *notes]:
        print(f"  * {note}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config": cfg.__dict__,
                    "samples": {f"{k[0]}/{k[1]}": v for k, v in samples.seconds.items()},
                    "extra": {f"{k[0]}/{k[1]}": v for k, v in samples.extra.items()},
                    "errors": {f"{k[0]}/{k[1]}": v for k, v in samples.errors.items()},
                    "cold": cold,
                    "infos": infos,
                    "audit": audit,
                    "store": store,
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
