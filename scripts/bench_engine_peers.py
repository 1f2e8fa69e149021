#!/usr/bin/env python3
"""The peers of scripts/bench_engine.py: LangGraph and Prefect 3 running the equivalent pipelines.

It runs inside its own venv (``scripts/.bench-venv``, made by bench_engine.py from
``scripts/bench-peers/requirements-engine.txt``), never in the project's venv. Two ways to use it:

    # one measurement, one JSON object on stdout
    scripts/.bench-venv/bin/python scripts/bench_engine_peers.py \
        --system langgraph-sync --shape chain --n 1000

    # a worker: one JSON request per line on stdin, one JSON reply per line on stdout
    scripts/.bench-venv/bin/python scripts/bench_engine_peers.py --serve langgraph --tmp /tmp/x

Systems: ``langgraph-none`` (no checkpointer), ``langgraph-sync`` (``SqliteSaver``,
``durability="sync"``: each superstep's checkpoint is committed before the next starts),
``langgraph-default`` (``SqliteSaver`` with LangGraph's default durability, ``"async"``), and
``prefect`` (``@task`` calls in a ``@flow``; task and flow states go to the local ephemeral API's
SQLite database under ``PREFECT_HOME``). Shapes: ``chain`` (n steps, each needs the previous),
``fan`` (1 -> n -> 1) and ``sleep`` (a chain whose steps each sleep ``sleep`` seconds).

Requests: ``{"op": "run", "system": ..., "shape": ..., "n": ..., "sleep": 0.0}`` answers
``{"ok": true, "seconds": total, "build_s": ..., "run_s": ..., "steps": ...}``; ``{"op": "warmup"}``
runs a small pipeline of every shape (for Prefect: the cold start, the ephemeral server included);
``{"op": "info"}`` answers versions and settings; ``{"op": "quit"}`` ends the worker. A failure
answers ``{"ok": false, "error": "..."}``. Every library's own printing goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import sqlite3
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, TypedDict

LANGGRAPH_SYSTEMS = ("langgraph-none", "langgraph-sync", "langgraph-default")
SYSTEMS = (*LANGGRAPH_SYSTEMS, "prefect")
SHAPES = ("chain", "fan", "sleep")


def steps_of(shape: str, n: int) -> int:
    return n + 2 if shape == "fan" else n


# --------------------------------------------------------------------------------------------------
# LangGraph
# --------------------------------------------------------------------------------------------------


class _LGState(TypedDict):
    count: Annotated[int, operator.add]


class LangGraphPeer:
    """A StateGraph of no-op nodes; each node adds 1 to one counter (a reducer, so a fan-in is fine)."""

    def __init__(self, tmp: Path) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.db_path = tmp / "langgraph-checkpoints.sqlite"
        # check_same_thread=False as SqliteSaver's docs show (it serialises access with a lock)
        self.conn = sqlite3.connect(str(self.db_path), check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()

    def info(self) -> dict[str, Any]:
        return {
            "langgraph": metadata.version("langgraph"),
            "langgraph-checkpoint-sqlite": metadata.version("langgraph-checkpoint-sqlite"),
            "sqlite_journal_mode": self.conn.execute("PRAGMA journal_mode").fetchone()[0],
            "sqlite_synchronous": self.conn.execute("PRAGMA synchronous").fetchone()[0],
        }

    def build(self, shape: str, n: int, sleep: float) -> Any:
        from langgraph.graph import END, START, StateGraph

        node = _sleeper(sleep) if shape == "sleep" else _lg_noop
        g = StateGraph(_LGState)
        if shape in ("chain", "sleep"):
            for i in range(n):
                g.add_node(f"s{i}", node)
            g.add_edge(START, "s0")
            for i in range(1, n):
                g.add_edge(f"s{i - 1}", f"s{i}")
            g.add_edge(f"s{n - 1}", END)
        else:
            g.add_node("src", node)
            g.add_node("sink", node)
            g.add_edge(START, "src")
            for i in range(n):
                g.add_node(f"s{i}", node)
                g.add_edge("src", f"s{i}")
                g.add_edge(f"s{i}", "sink")
            g.add_edge("sink", END)
        return g

    def run(self, system: str, shape: str, n: int, sleep: float) -> dict[str, Any]:
        t0 = time.perf_counter()
        graph = self.build(shape, n, sleep).compile(
            checkpointer=None if system == "langgraph-none" else self.saver
        )
        t1 = time.perf_counter()
        config = {"recursion_limit": n + 10, "configurable": {"thread_id": uuid.uuid4().hex}}
        kwargs: dict[str, Any] = {"durability": "sync"} if system == "langgraph-sync" else {}
        out = graph.invoke({"count": 0}, config, **kwargs)
        t2 = time.perf_counter()
        steps = steps_of(shape, n)
        if out.get("count") != steps:
            raise RuntimeError(f"expected {steps} node runs, counted {out.get('count')}")
        return {"seconds": t2 - t0, "build_s": t1 - t0, "run_s": t2 - t1, "steps": steps}

    def warmup(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        first = self.run("langgraph-sync", "chain", 1, 0.0)["seconds"]  # the first durable run (cold)
        for system in LANGGRAPH_SYSTEMS:
            for shape in ("chain", "fan"):
                self.run(system, shape, 20, 0.0)
        self.run("langgraph-sync", "sleep", 2, 0.001)
        return {"seconds": time.perf_counter() - t0, "first_s": first}

    def close(self) -> None:
        self.conn.close()


def _lg_noop(state: _LGState) -> dict[str, int]:
    return {"count": 1}


def _sleeper(seconds: float) -> Callable[[_LGState], dict[str, int]]:
    def node(state: _LGState) -> dict[str, int]:
        time.sleep(seconds)
        return {"count": 1}

    return node


# --------------------------------------------------------------------------------------------------
# Prefect
# --------------------------------------------------------------------------------------------------


class PrefectPeer:
    """Tasks in a flow, against the ephemeral local API (no server to start, no PREFECT_API_URL).

    The caller sets PREFECT_HOME to a scratch folder (its SQLite database lives there), leaves
    PREFECT_API_URL unset and turns analytics off; bench_engine.py also runs this worker in a network
    namespace of its own (loopback only) where it can.
    """

    def __init__(self) -> None:
        t0 = time.perf_counter()
        from prefect import flow, task
        from prefect.futures import wait

        self.import_s = time.perf_counter() - t0

        @task
        def noop(x: int) -> int:
            return x

        @task
        def nap(x: int, seconds: float) -> int:
            time.sleep(seconds)
            return x

        @flow
        def chain(n: int) -> int:
            x = 0
            for _ in range(n):
                x = noop(x)
            return x

        @flow
        def fan(n: int) -> int:
            src = noop(0)
            futures = [noop.submit(src) for _ in range(n)]
            wait(futures)
            for f in futures:
                f.result()
            return noop(src, wait_for=futures)

        @flow
        def sleeps(n: int, seconds: float) -> int:
            x = 0
            for _ in range(n):
                x = nap(x, seconds)
            return x

        self.flows = {"chain": chain, "fan": fan, "sleep": sleeps}
        self._conn: sqlite3.Connection | None = None
        self._recorded_at_return: int | None = None

    def info(self) -> dict[str, Any]:
        from prefect.settings import get_current_settings

        s = get_current_settings()
        url = s.server.database.connection_url
        database = url.get_secret_value() if hasattr(url, "get_secret_value") else url
        return {
            "prefect": metadata.version("prefect"),
            "fastapi": metadata.version("fastapi"),
            "api_url": s.api.url,
            "prefect_home": str(s.home),
            "database": str(database or "sqlite (default)"),
            "import_s": self.import_s,
        }

    def run(self, system: str, shape: str, n: int, sleep: float, patience: float = 600.0) -> dict[str, Any]:
        """Time the flow until it returns, then until its task runs are recorded as COMPLETED.

        Prefect 3 records task-run states from events, asynchronously, in its API server: when the
        flow returns, many of them are not in the database yet (and a process that exits then loses
        them). `persisted_s` is the time until all of them are there (polled every 10 ms).
        """
        steps = steps_of(shape, n)
        self._recorded_at_return = None
        t0 = time.perf_counter()
        if shape == "sleep":
            state = self.flows["sleep"](n, sleep, return_state=True)
        else:
            state = self.flows[shape](n, return_state=True)
        t1 = time.perf_counter()
        if not state.is_completed():
            raise RuntimeError(f"the flow ended {state.type}: {state.message}")
        flow_run_id = str(state.state_details.flow_run_id)
        recorded = self._completed_tasks(flow_run_id)
        while recorded < steps and time.perf_counter() - t1 < patience:
            time.sleep(0.01)
            recorded = self._completed_tasks(flow_run_id)
        t2 = time.perf_counter()
        return {
            "seconds": t1 - t0,
            "persisted_s": t2 - t0 if recorded >= steps else None,
            "recorded_at_return": self._recorded_at_return,
            "build_s": 0.0,
            "run_s": t1 - t0,
            "steps": steps,
        }

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            from prefect.settings import get_current_settings

            s = get_current_settings()
            url = s.server.database.connection_url
            text = str(url.get_secret_value() if hasattr(url, "get_secret_value") else url or "")
            path = text.split(":///", 1)[1] if text.startswith("sqlite") else str(Path(s.home) / "prefect.db")
            self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        return self._conn

    def _completed_tasks(self, flow_run_id: str) -> int:
        row = (
            self._db()
            .execute(
                "SELECT count(*) FROM task_run WHERE flow_run_id = ? AND state_type = 'COMPLETED'",
                (flow_run_id,),
            )
            .fetchone()
        )
        if self._recorded_at_return is None:
            self._recorded_at_return = int(row[0])
        return int(row[0])

    def warmup(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.run("prefect", "chain", 1, 0.0)
        first = time.perf_counter() - t0
        self.run("prefect", "chain", 20, 0.0)
        self.run("prefect", "fan", 20, 0.0)
        self.run("prefect", "sleep", 2, 0.001)
        return {"seconds": time.perf_counter() - t0, "first_s": first, "import_s": self.import_s}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# --------------------------------------------------------------------------------------------------
# Driving
# --------------------------------------------------------------------------------------------------


def make_peer(kind: str, tmp: Path) -> LangGraphPeer | PrefectPeer:
    return LangGraphPeer(tmp) if kind == "langgraph" else PrefectPeer()


def handle(peer: LangGraphPeer | PrefectPeer, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "info":
        return {"ok": True, **peer.info()}
    if op == "warmup":
        return {"ok": True, **peer.warmup()}
    if op == "run":
        system, shape = str(request["system"]), str(request["shape"])
        if system not in SYSTEMS or shape not in SHAPES:
            raise ValueError(f"unknown system or shape: {system} {shape}")
        n, sleep = int(request["n"]), float(request.get("sleep", 0.0))
        if isinstance(peer, PrefectPeer):
            return {"ok": True, **peer.run(system, shape, n, sleep, float(request.get("patience", 600.0)))}
        return {"ok": True, **peer.run(system, shape, n, sleep)}
    raise ValueError(f"unknown op {op!r}")


def serve(kind: str, tmp: Path) -> int:
    # The protocol owns the real stdout; whatever a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    t0 = time.perf_counter()
    try:
        peer = make_peer(kind, tmp)
    except Exception as exc:
        out.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        traceback.print_exc()
        return 1
    out.write(json.dumps({"ok": True, "ready": kind, "import_s": time.perf_counter() - t0}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if request.get("op") == "quit":
                break
            reply = handle(peer, request)
        except Exception as exc:
            traceback.print_exc()
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
    peer.close()
    out.write(json.dumps({"ok": True, "bye": kind}) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=("langgraph", "prefect"), help="answer JSON requests on stdin")
    parser.add_argument("--tmp", type=Path, help="scratch folder (LangGraph's checkpoint database)")
    parser.add_argument("--system", choices=SYSTEMS)
    parser.add_argument("--shape", choices=SHAPES, default="chain")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.01)
    parser.add_argument("--no-warmup", action="store_true", help="one-shot: skip the warm-up run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as scratch:
        tmp = args.tmp or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        if args.serve:
            return serve(args.serve, tmp)
        if not args.system:
            parser.error("give --serve or --system")
        peer = make_peer("prefect" if args.system == "prefect" else "langgraph", tmp)
        result: dict[str, Any] = {"system": args.system, "shape": args.shape, "n": args.n}
        if not args.no_warmup:
            result["warmup"] = peer.warmup()
        result.update(peer.run(args.system, args.shape, args.n, args.sleep))
        result["per_step_ms"] = result["seconds"] / result["steps"] * 1000
        print(json.dumps(result))
        peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
