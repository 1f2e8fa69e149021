#!/usr/bin/env python3
"""Validation benchmark: the parse limit, our validator and keystroke latency against yaml-language-server.

Run from the repository root:

    .venv/bin/python scripts/bench_validate.py                 # sizes 100,1000,5000, 7 repetitions
    .venv/bin/python scripts/bench_validate.py --quick         # sizes 100,1000, 3 repetitions
    .venv/bin/python scripts/bench_validate.py --sizes 5000 --repeat 11

For each pipeline size it measures, interleaved so that the figures of one row are taken side by side:

  (a)  ``yaml.compose(text, Loader=yaml.CSafeLoader)``: the parse limit, with the cyclic GC on and off;
  (b)  ``builderos.validate.api.validate_text(path, text)``, and the ratio (b)/(a);
  (c)  keystroke -> ``textDocument/publishDiagnostics`` through a real LSP client (Content-Length
       framed JSON-RPC over stdio), for our daemon and for yaml-language-server validating the same
       file against ``schemas/pipeline.schema.json``;
  (d)  daemon start -> first diagnostics for ``tests/fixtures/workspaces/shop/ship/feature.yaml``.

It prints one table of medians. Every process it starts is stopped, every wait has a timeout.
``generate_pipeline`` and ``write_workspace`` are importable by tests.
"""

import argparse
import asyncio
import atexit
import contextlib
import gc
import importlib
import inspect
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = REPO / "scripts" / "bench-peers"
YLS_DIR = PEERS_DIR / "node_modules" / "yaml-language-server"
YLS_BIN = YLS_DIR / "bin" / "yaml-language-server"
YLS_SETTINGS_JS = YLS_DIR / "out" / "server" / "src" / "yamlSettings.js"
REPO_SCHEMA = REPO / "schemas" / "pipeline.schema.json"
SHOP = REPO / "tests" / "fixtures" / "workspaces" / "shop"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"

AGENTS = ("builder", "tester", "reviewer")
TARGET_SIZE = 5000
TARGET_B_OVER_A = 1.5
TARGET_C_SPEEDUP = 5.0
TARGET_D_MS = 1000.0

# Timeouts (seconds). Every wait in this script is bounded by one of these.
T_NPM = 300.0
T_INIT = 30.0
T_FIRST_DIAG = 120.0
T_KEYSTROKE = 60.0
T_CONFIG = 10.0
T_SHUTDOWN = 5.0
T_SEND = 30.0
T_START_DIAG = 30.0


# --------------------------------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------------------------------


def generate_pipeline(n_steps: int) -> str:
    """A realistic pipeline of ``n_steps`` steps, about 4.2 lines and 115 bytes per step.

    Steps cycle through builder / command / tester / http.check / reviewer; ``needs:`` only name
    earlier steps (a DAG), ``with:`` values read ``inputs.goal`` and earlier steps' outputs, and every
    tester step has an ``if:`` on the previous command's exit code.
    """
    if n_steps < 1:
        raise ValueError("n_steps must be at least 1")
    out = [
        "kind: pipeline",
        f"name: bench-{n_steps}",
        f"description: generated benchmark pipeline with {n_steps} steps",
        "inputs:",
        "  goal: {type: string, required: true, description: What the change should achieve}",
        "concurrency: 4",
        "steps:",
    ]
    ids: list[str] = []
    for i in range(n_steps):
        kind = i % 5
        prev = ids[-1] if ids else ""
        before = ids[-2] if len(ids) >= 2 else ""
        if kind == 0 or (kind in (2, 4) and not before):
            # A builder step; the very first one only reads the pipeline input.
            sid = f"build_{i}"
            out += [f"  - id: {sid}", "    agent: builder"]
            if prev:
                far = f", {ids[i - 8]}" if i >= 8 else ""
                out.append(f"    needs: [{prev}{far}]")
                out.append(f'    with: {{plan: "${{{{ steps.{prev}.outputs.text }}}}"}}')
            else:
                out.append('    with: {goal: "${{ inputs.goal }}"}')
        elif kind == 1:
            sid = f"unit_{i}"
            out += [
                f"  - id: {sid}",
                f"    needs: [{prev}]",
                f"    run: make test SHARD={i}",
                "    timeout: 10m",
            ]
        elif kind == 2:
            sid = f"test_{i}"
            out += [
                f"  - id: {sid}",
                "    agent: tester",
                f"    needs: [{prev}, {before}]",
                f'    if: "${{{{ steps.{prev}.outputs.exit_code == 0 }}}}"',
            ]
        elif kind == 3:
            sid = f"check_{i}"
            out += [
                f"  - id: {sid}",
                "    uses: http.check",
                f"    needs: [{prev}]",
                "    with: {url: http://localhost/health, expect_status: 200}",
            ]
        else:
            sid = f"review_{i}"
            out += [
                f"  - id: {sid}",
                "    agent: reviewer",
                f"    needs: [{prev}, {before}]",
                "    with:",
                '      goal: "${{ inputs.goal }}"',
            ]
        ids.append(sid)
    return "\n".join(out) + "\n"


def agent_yaml(name: str) -> str:
    return f"kind: agent\nname: {name}\nrole: {name.capitalize()}\nprompt: {name}@^1.0\ntools: [fs.read]\n"


def prompt_yaml(name: str) -> str:
    return (
        f"kind: prompt\nname: {name}\nversion: 1.0.0\n"
        "changelog: [{version: 1.0.0, notes: init}]\n"
        "inputs: [goal, plan]\n"
        f'template: "You are the {name}. Goal: {{{{ goal }}}}. Plan: {{{{ plan }}}}"\n'
    )


PROJECT_YAML = """\
version: 1
name: bench
stack: [python]
envs: [dev]
models:
  default: offline
  profiles:
    offline: {provider: scripted}
"""

POLICY_YAML = """\
version: 1
default: deny
agents:
  builder: {tools: [fs.read]}
  tester: {tools: [fs.read]}
  reviewer: {tools: [fs.read]}
commands:
  allow: ["make *"]
network:
  allow: ["localhost"]
"""


def write_workspace(root: Path, n_steps: int) -> Path:
    """Write a workspace (project, policy, agents, prompts, ``ship/pipeline.yaml``); return the pipeline."""
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "ship").mkdir(exist_ok=True)
    (root / "builderos.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    (root / "builderos.policy.yaml").write_text(POLICY_YAML, encoding="utf-8")
    for name in AGENTS:
        (root / "agents" / f"{name}.yaml").write_text(agent_yaml(name), encoding="utf-8")
        (root / "prompts" / f"{name}.yaml").write_text(prompt_yaml(name), encoding="utf-8")
    pipeline = root / "ship" / "pipeline.yaml"
    pipeline.write_text(generate_pipeline(n_steps), encoding="utf-8")
    return pipeline


# A permissive stand-in for schemas/pipeline.schema.json until that file is generated: it describes
# the shape (so yaml-language-server really walks every step) but allows any extra key.
PLACEHOLDER_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "BuilderOS pipeline (bench placeholder)",
    "type": "object",
    "required": ["kind", "name", "steps"],
    "properties": {
        "kind": {"const": "pipeline"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "inputs": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"type": {"type": "string"}, "required": {"type": "boolean"}},
            },
        },
        "concurrency": {"type": "integer", "minimum": 1},
        "steps": {"type": "array", "items": {"$ref": "#/definitions/step"}},
    },
    "definitions": {
        "step": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                "agent": {"type": "string"},
                "run": {"type": "string"},
                "uses": {"type": "string"},
                "needs": {"type": "array", "items": {"type": "string"}},
                "with": {"type": "object"},
                "if": {"type": ["string", "boolean"]},
                "timeout": {"type": ["string", "number"]},
                "retries": {
                    "oneOf": [
                        {"type": "integer", "minimum": 0},
                        {"type": "object", "required": ["max"], "properties": {"max": {"type": "integer"}}},
                    ]
                },
            },
        }
    },
}

# A pipeline with one deliberately broken step, opened once per yaml-language-server session to
# prove that it validates against the configured schema (and is not just parsing YAML).
BROKEN_PROBE = """\
kind: pipeline
name: probe
steps:
  - id: a
    run: make test
    retries: "x"
"""


def keystroke_target(text: str) -> tuple[int, int, str, str]:
    """(line, character, original, alternate) of the last character of the middle ``run:`` value."""
    lines = text.split("\n")
    for line_no in range(len(lines) // 2, len(lines)):
        if lines[line_no].lstrip().startswith("run: "):
            col = len(lines[line_no]) - 1
            original = lines[line_no][col]
            return line_no, col, original, "x" if original != "x" else "y"
    raise ValueError("no `run:` step in the second half of the pipeline")


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "n/a"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    return f"{ms:.0f} ms"


def first_line(text: str, limit: int = 90) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__


def file_uri(path: Path) -> str:
    return path.resolve().as_uri()


@dataclass
class Row:
    workload: str
    ours: str = "—"
    peer: str = "—"
    ratio: str = "—"
    target: str = ""


# --------------------------------------------------------------------------------------------------
# (a) and (b): in-process parse and validation
# --------------------------------------------------------------------------------------------------


def load_validate_text() -> tuple[Callable[..., Any] | None, str]:
    server_dir = str(REPO / "server")
    if server_dir not in sys.path:
        sys.path.append(server_dir)
    try:
        module = importlib.import_module("builderos.validate.api")
        fn = module.validate_text
    except Exception as exc:  # a half-written module may fail in any way
        return None, f"{type(exc).__name__}: {exc}"
    return fn, ""


def validate_call(fn: Callable[..., Any], path: Path, workspace: Path) -> Callable[[str], Any]:
    """``validate_text(path, text)``, with the path as ``str`` when annotated so, and with the
    workspace root when the function takes one (so that agents and prompts resolve)."""
    try:
        params = dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = {}
    first = next(iter(params.values()), None)
    arg: Any = str(path) if first is not None and first.annotation in (str, "str") else path
    if "workspace_root" in params:
        return lambda text: fn(arg, text, workspace_root=workspace)
    return lambda text: fn(arg, text)


def time_once(fn: Callable[[], Any], gc_off: bool) -> tuple[float, Any]:
    gc.collect()
    if gc_off:
        gc.disable()
    try:
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
    finally:
        if gc_off:
            gc.enable()
    return elapsed, result


def bench_in_process(
    workspace: Path, path: Path, text: str, repeat: int, validate_text: Callable[..., Any] | None
) -> dict[str, Any]:
    def compose() -> Any:
        return yaml.compose(text, Loader=yaml.CSafeLoader)

    res: dict[str, Any] = {"a": [], "a_nogc": [], "b": [], "b_error": "", "b_count": None}
    compose()  # warm-up
    validate = validate_call(validate_text, path, workspace) if validate_text else None
    if validate is not None:
        try:
            result = validate(text)  # warm-up; also tells how many diagnostics it finds
            with contextlib.suppress(TypeError):
                res["b_count"] = len(result)
        except Exception as exc:
            res["b_error"] = f"{type(exc).__name__}: {exc}"
            validate = None
    for _ in range(repeat):  # interleaved, so that (b)/(a) compares figures taken side by side
        res["a"].append(time_once(compose, gc_off=False)[0])
        res["a_nogc"].append(time_once(compose, gc_off=True)[0])
        if validate is not None:
            res["b"].append(time_once(lambda: validate(text), gc_off=False)[0])
    return res


# --------------------------------------------------------------------------------------------------
# A minimal LSP client: asyncio subprocess, Content-Length framing (bytes), receive timestamps
# --------------------------------------------------------------------------------------------------

_LIVE_GROUPS: set[int] = set()


def _kill_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _LIVE_GROUPS.discard(pgid)


atexit.register(_kill_leftovers)


class LspError(Exception):
    pass


@dataclass
class Publish:
    t: float
    version: int | None
    diagnostics: list[dict[str, Any]]


class LspClient:
    """Just enough of an LSP client to time diagnostics precisely and answer server requests."""

    def __init__(self, name: str, settings: dict[str, Any] | None = None) -> None:
        self.name = name
        self.settings = settings or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.t_spawn = 0.0
        self.publishes: dict[str, list[Publish]] = {}
        self.config_requests = 0
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._cond = asyncio.Condition()
        self._eof = False
        self._stderr = bytearray()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.t_spawn = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=str(cwd),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so that close() can stop its children too
            limit=1 << 24,
        )
        _LIVE_GROUPS.add(self.proc.pid)
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._drain_stderr())]

    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def failure(self) -> str:
        code = self.proc.returncode if self.proc else None
        tail = first_line(self.stderr_tail())
        if code is not None:
            return f"exited {code}" + (f": {tail}" if tail else "")
        return tail or "no answer"

    async def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while chunk := await self.proc.stderr.read(65536):
            self._stderr += chunk
            del self._stderr[:-16384]

    async def _read_loop(self) -> None:
        assert self.proc and self.proc.stdout
        stdout = self.proc.stdout
        try:
            while True:
                header = await stdout.readuntil(b"\r\n\r\n")
                length = None
                for line in header.decode("ascii").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    raise LspError(f"{self.name}: message without Content-Length: {header!r}")
                body = await stdout.readexactly(length)
                received = time.perf_counter()
                await self._dispatch(json.loads(body), received)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, LspError, ValueError):
            pass
        finally:
            self._eof = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(LspError(f"{self.name} closed the connection"))
            async with self._cond:
                self._cond.notify_all()

    async def _dispatch(self, msg: dict[str, Any], received: float) -> None:
        if "method" in msg and "id" in msg:  # a request from the server
            await self._send({"jsonrpc": "2.0", "id": msg["id"], "result": self._answer(msg)})
        elif "id" in msg:  # a response
            fut = self._pending.pop(msg["id"], None)
            if fut is not None and not fut.done():
                if "error" in msg:
                    fut.set_exception(LspError(f"{self.name}: {msg['error']}"))
                else:
                    fut.set_result(msg.get("result"))
        elif msg.get("method") == "textDocument/publishDiagnostics":
            params = msg.get("params") or {}
            pub = Publish(received, params.get("version"), params.get("diagnostics") or [])
            self.publishes.setdefault(params.get("uri", ""), []).append(pub)
            async with self._cond:
                self._cond.notify_all()

    def _answer(self, msg: dict[str, Any]) -> Any:
        if msg["method"] == "workspace/configuration":
            self.config_requests += 1
            items = (msg.get("params") or {}).get("items") or []
            return [self.settings.get(item.get("section") or "") for item in items]
        return None  # client/registerCapability, window/workDoneProgress/create, …: accept

    async def _send(self, msg: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None or self.proc.stdin.is_closing():
            raise LspError(f"{self.name} is not running")
        body = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await asyncio.wait_for(self.proc.stdin.drain(), T_SEND)  # a server that stops reading

    async def notify(self, method: str, params: Any = None) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: Any, timeout: float) -> Any:
        if self._eof:
            raise LspError(f"{self.name} closed the connection")
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    def consistent(self, uri: str, changes: int) -> bool:
        """One publish per version: open plus ``changes`` edits (else unversioned pairing is off)."""
        return self.count(uri) == 1 + changes

    def count(self, uri: str) -> int:
        return len(self.publishes.get(uri, []))

    async def wait_publish(self, uri: str, start: int, version: int | None, timeout: float) -> Publish:
        """The first publish for ``uri`` after index ``start`` (for ``version`` if the server sends one)."""

        async def wait() -> Publish:
            async with self._cond:
                while True:
                    for pub in self.publishes.get(uri, [])[start:]:
                        if version is None or pub.version is None or pub.version >= version:
                            return pub
                    if self._eof:
                        raise LspError(f"{self.name} closed the connection")
                    await self._cond.wait()

        return await asyncio.wait_for(wait(), timeout)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while not predicate():
            if self._eof or time.perf_counter() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def initialize(self, root: Path, options: dict[str, Any] | None) -> None:
        params = {
            "processId": os.getpid(),
            "clientInfo": {"name": "bench_validate"},
            "rootUri": file_uri(root),
            "rootPath": str(root),
            "workspaceFolders": [{"uri": file_uri(root), "name": root.name}],
            "initializationOptions": options,
            "capabilities": {
                "workspace": {"configuration": True, "workspaceFolders": True},
                "textDocument": {
                    "synchronization": {"dynamicRegistration": False},
                    "publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
                },
            },
        }
        await self.request("initialize", params, T_INIT)
        await self.notify("initialized", {})

    async def close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None and not self._eof:
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, T_SHUTDOWN)
                await self.notify("exit")
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), T_SHUTDOWN)
        except TimeoutError:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), T_SHUTDOWN)
                    break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the server left behind in its group
        _LIVE_GROUPS.discard(proc.pid)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# --------------------------------------------------------------------------------------------------
# The servers
# --------------------------------------------------------------------------------------------------


def daemon_command() -> list[str]:
    python = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
    return [str(python), "-m", "builderos", "serve", "--stdio"]


def ensure_peer_installed() -> str:
    """Install the pinned peers when node_modules is missing; return '' or why the peer is n/a."""
    if YLS_BIN.exists():
        return ""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node/npm not found"
    print(f"installing peers: npm install in {PEERS_DIR.relative_to(REPO)} …", file=sys.stderr)
    try:
        # --no-package-lock: package.json pins the version; keep the tree free of a lockfile.
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=PEERS_DIR,
            capture_output=True,
            text=True,
            timeout=T_NPM,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"npm install timed out after {T_NPM:.0f} s"
    if proc.returncode != 0 or not YLS_BIN.exists():
        return f"npm install failed: {first_line(proc.stderr)}"
    return ""


def yls_version() -> str:
    try:
        return str(json.loads((YLS_DIR / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def yls_debounce() -> tuple[int, str]:
    """yaml-language-server's validation debounce, read from its source: (ms, 'file:line')."""
    pattern = re.compile(r"this\.validationDelayMs\s*=\s*(\d+)")
    with contextlib.suppress(OSError):
        for no, line in enumerate(YLS_SETTINGS_JS.read_text(encoding="utf-8").splitlines(), 1):
            if match := pattern.search(line):
                return int(match.group(1)), f"{YLS_SETTINGS_JS.relative_to(PEERS_DIR)}:{no}"
    raise LspError(f"validationDelayMs not found in {YLS_SETTINGS_JS}")


# yaml-language-server has no setting for its debounce (SettingsState's constructor assigns
# `this.validationDelayMs = 200`). This launcher turns it into an accessor on the prototype, so the
# constructor's assignment is ignored and validation runs on the next tick, then starts the server.
YLS_NO_DEBOUNCE_JS = r"""
const dir = process.env.BOS_BENCH_YLS_DIR;
const delay = Number(process.env.BOS_BENCH_YLS_DELAY_MS);
const { SettingsState } = require(dir + '/out/server/src/yamlSettings.js');
Object.defineProperty(SettingsState.prototype, 'validationDelayMs', {
  configurable: true, get() { return delay; }, set(_value) {},
});
if (new SettingsState().validationDelayMs !== delay) {
  process.stderr.write('bench: could not override validationDelayMs\n');
  process.exit(3);
}
process.env.YAML_LANGUAGE_SERVER_VERSION = require(dir + '/package.json').version;
process.argv.splice(1, 0, dir + '/bin/yaml-language-server');  // it reads its transport from argv[2:]
require(dir + '/out/server/src/server.js');
"""


def yls_command(delay_ms: int | None) -> tuple[list[str], dict[str, str]]:
    node = shutil.which("node") or "node"
    env = dict(os.environ)
    if delay_ms is None:
        return [node, str(YLS_BIN), "--stdio"], env
    env["BOS_BENCH_YLS_DIR"] = str(YLS_DIR)
    env["BOS_BENCH_YLS_DELAY_MS"] = str(delay_ms)
    return [node, "-e", YLS_NO_DEBOUNCE_JS, "--", "--stdio"], env


def yls_settings(schema_uri: str, glob: str = "*.yaml") -> dict[str, Any]:
    return {
        "yaml": {
            "schemas": {schema_uri: [glob]},
            "validate": True,
            "hover": False,
            "completion": False,
            "format": {"enable": False},
            "schemaStore": {"enable": False},  # no network here, and no unrelated schemas
            "kubernetesCRDStore": {"enable": False},
        },
        "http": {},
        "[yaml]": {},
        "editor": {},
    }


@dataclass
class Session:
    """One server with one open pipeline, ready to take keystrokes."""

    label: str
    client: LspClient
    uri: str
    line: int
    col: int
    chars: tuple[str, str]
    versioned: bool
    version: int = 1
    samples: list[float] = field(default_factory=list)
    last_count: int = 0
    error: str = ""  # fatal: the server is not measured (any more)
    probe: str = ""  # the schema self-check's finding (yaml-language-server only)

    async def keystroke(self) -> float:
        self.version += 1
        char = self.chars[self.version % 2]
        start = self.client.count(self.uri)
        change = {
            "range": {
                "start": {"line": self.line, "character": self.col},
                "end": {"line": self.line, "character": self.col + 1},
            },
            "text": char,
        }
        t0 = time.perf_counter()
        await self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [change]},
        )
        pub = await self.client.wait_publish(
            self.uri, start, self.version if self.versioned else None, T_KEYSTROKE
        )
        self.last_count = len(pub.diagnostics)
        return pub.t - t0


async def open_session(
    label: str,
    client: LspClient,
    cmd: list[str],
    env: dict[str, str] | None,
    workspace: Path,
    pipeline: Path,
    text: str,
    init_options: dict[str, Any] | None,
    versioned: bool,
    probe: bool,
) -> Session:
    line, col, original, alternate = keystroke_target(text)
    session = Session(label, client, file_uri(pipeline), line, col, (original, alternate), versioned)
    await client.start(cmd, workspace, env)
    await client.initialize(workspace, init_options)
    if client.settings:
        await client.notify("workspace/didChangeConfiguration", {"settings": client.settings})
        # initialized and didChangeConfiguration each make yaml-language-server pull its settings:
        # open the document once both are in, so that no re-validation comes in later.
        await client.wait_until(lambda: client.config_requests >= 2, T_CONFIG)
    if probe:
        session.probe = await run_probe(client, workspace)
    await client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": session.uri, "languageId": "yaml", "version": 1, "text": text}},
    )
    first = await client.wait_publish(session.uri, 0, 1 if versioned else None, T_FIRST_DIAG)
    session.last_count = len(first.diagnostics)
    for _ in range(2):  # warm-up keystrokes (JIT, caches), not counted
        await session.keystroke()
    return session


async def run_probe(client: LspClient, workspace: Path) -> str:
    """Open a pipeline with `retries: "x"` and tell whether the server flagged that line."""
    uri = file_uri(workspace / "ship" / "zz-probe.yaml")
    await client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": BROKEN_PROBE}},
    )
    pub = await client.wait_publish(uri, 0, None, T_FIRST_DIAG)
    await client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    await client.wait_publish(uri, 1, None, T_CONFIG)  # the clearing publish on close
    hits = [d for d in pub.diagnostics if d.get("range", {}).get("start", {}).get("line") == 5]
    if not hits:
        return 'FAILED: no diagnostic on a broken `retries: "x"` (is the schema applied?)'
    return f'ok, a broken `retries: "x"` gives: {first_line(str(hits[0].get("message", "")), 70)}'


# --------------------------------------------------------------------------------------------------
# (c) keystroke latency, side by side; (d) daemon start
# --------------------------------------------------------------------------------------------------


@dataclass
class Peer:
    ok: bool
    reason: str
    schema_uri: str = ""
    schema_note: str = ""
    debounce_ms: int = 0
    debounce_where: str = ""


async def bench_keystrokes(
    workspace: Path, pipeline: Path, text: str, repeat: int, peer: Peer, with_ours: bool
) -> list[Session]:
    specs: list[tuple[str, LspClient, list[str], dict[str, str] | None, dict[str, Any] | None, bool]] = []
    if with_ours:
        specs.append(("ours", LspClient("builderos"), daemon_command(), None, {"debounceMs": 0}, True))
    if peer.ok:
        settings = yls_settings(peer.schema_uri)
        cmd0, env0 = yls_command(0)
        cmd1, env1 = yls_command(None)
        yls0 = LspClient("yaml-language-server (debounce 0)", settings)
        specs.append(("yls0", yls0, cmd0, env0, None, False))
        specs.append(("yls", LspClient("yaml-language-server", settings), cmd1, env1, None, False))
    sessions: list[Session] = []
    try:
        for label, client, cmd, env, options, versioned in specs:
            probe = label == "yls0"
            try:
                sessions.append(
                    await open_session(
                        label, client, cmd, env, workspace, pipeline, text, options, versioned, probe
                    )
                )
            except (LspError, OSError, TimeoutError) as exc:
                error = f"start-up: {describe(exc)}; {client.failure()}"
                sessions.append(Session(label, client, "", 0, 0, ("", ""), versioned, error=error))
        for _ in range(repeat):  # round-robin: one keystroke to each server in turn
            for session in sessions:
                if session.error:
                    continue
                try:
                    session.samples.append(await session.keystroke())
                except (LspError, OSError, TimeoutError) as exc:
                    session.error = f"keystroke: {describe(exc)}; {session.client.failure()}"
    finally:
        await asyncio.gather(*(client.close() for _, client, *_ in specs), return_exceptions=True)
    return sessions


async def bench_startup(repeat: int) -> tuple[list[float], str]:
    feature = SHOP / "ship" / "feature.yaml"
    if not feature.exists():
        return [], f"{feature.relative_to(REPO)} does not exist yet"
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bos-bench-shop-") as tmp:
        workspace = Path(tmp) / "shop"
        shutil.copytree(SHOP, workspace, ignore=shutil.ignore_patterns(".builderos"))
        target = workspace / "ship" / "feature.yaml"
        text = target.read_text(encoding="utf-8")
        for _ in range(repeat):
            shutil.rmtree(workspace / ".builderos", ignore_errors=True)  # each start is a cold start
            client = LspClient("builderos")
            try:
                await client.start(daemon_command(), workspace)
                await client.initialize(workspace, None)
                uri = file_uri(target)
                await client.notify(
                    "textDocument/didOpen",
                    {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
                )
                pub = await client.wait_publish(uri, 0, None, T_START_DIAG)
                samples.append(pub.t - client.t_spawn)
            except (LspError, OSError, TimeoutError) as exc:
                return samples, f"{describe(exc)}; {client.failure()}"
            finally:
                await client.close()
    return samples, ""


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


def prepare_peer(tmp: Path) -> Peer:
    reason = ensure_peer_installed()
    if reason:
        return Peer(False, reason)
    try:
        debounce, where = yls_debounce()
    except LspError as exc:
        return Peer(False, str(exc))
    if REPO_SCHEMA.exists():
        uri, note = file_uri(REPO_SCHEMA), f"{REPO_SCHEMA.relative_to(REPO)}"
    else:
        placeholder = tmp / "pipeline.schema.json"
        placeholder.write_text(json.dumps(PLACEHOLDER_SCHEMA, indent=2), encoding="utf-8")
        uri = file_uri(placeholder)
        note = f"placeholder (permissive; {REPO_SCHEMA.relative_to(REPO)} does not exist yet)"
    return Peer(True, "", uri, note, debounce, where)


def daemon_available() -> str:
    """'' when `python -m builderos serve` can be imported, else why not (checked without starting it)."""
    python = daemon_command()[0]
    try:
        proc = subprocess.run(
            [python, "-c", "import builderos.cli"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if proc.returncode == 0 else first_line(proc.stderr)


def build_rows(
    size: int,
    inproc: dict[str, Any],
    validate_reason: str,
    sessions: list[Session],
    peer: Peer,
    notes: list[str],
) -> list[Row]:
    rows: list[Row] = []
    at_target = size == TARGET_SIZE
    a = median_ms(inproc["a"])
    a_nogc = median_ms(inproc["a_nogc"])
    rows.append(Row(f"(a) {size} steps: yaml.compose CSafeLoader", peer=fmt_ms(a)))
    rows.append(
        Row(f"(a) {size} steps: same, gc disabled", peer=fmt_ms(a_nogc), ratio=f"{a_nogc / a:.2f} of (a)")
    )
    b_row = Row(f"(b) {size} steps: validate_text vs (a)", peer=fmt_ms(a))
    if inproc["b"]:
        b = median_ms(inproc["b"])
        b_row.ours = fmt_ms(b)
        b_row.ratio = f"{b / a:.2f}"
        if at_target:
            b_row.target = f"<= {TARGET_B_OVER_A}: {'met' if b / a <= TARGET_B_OVER_A else 'MISSED'}"
        if inproc["b_count"]:
            notes.append(f"validate_text found {inproc['b_count']} diagnostic(s) in the {size}-step pipeline")
    else:
        b_row.ours = "n/a (builderos.validate not importable)"
        if inproc["b_error"]:
            b_row.ours = "n/a (validate_text raised)"
            notes.append(f"validate_text at {size} steps: {inproc['b_error']}")
        b_row.ratio = "n/a"
        if at_target:
            b_row.target = f"<= {TARGET_B_OVER_A}"
    rows.append(b_row)

    by_label = {s.label: s for s in sessions}
    ours = by_label.get("ours")
    yls0 = by_label.get("yls0")
    yls = by_label.get("yls")
    ours_ms = median_ms(ours.samples) if ours and ours.samples and not ours.error else None
    c_row = Row(f"(c) {size} steps: keystroke->diagnostics, debounce 0")
    c_row.ours = fmt_ms(ours_ms) if ours_ms is not None else "n/a (daemon)"
    if ours is not None and ours.error:
        notes.append(f"our daemon at {size} steps: {ours.error}")
    elif ours is not None and ours.last_count:
        notes.append(f"our daemon reported {ours.last_count} diagnostic(s) on the {size}-step pipeline")
    peer_ms = None
    if not peer.ok:
        c_row.peer = "n/a (yaml-language-server)"
    elif yls0 is None or yls0.error or not yls0.samples:
        c_row.peer = "n/a (yaml-language-server)"
        if yls0 is not None:
            notes.append(f"yaml-language-server (debounce 0) at {size} steps: {yls0.error}")
    else:
        peer_ms = median_ms(yls0.samples)
        c_row.peer = f"yls {fmt_ms(peer_ms)}"
    if ours_ms is not None and peer_ms is not None:
        speedup = peer_ms / ours_ms
        c_row.ratio = f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.1f}x slower"
    else:
        c_row.ratio = "n/a"
    if at_target:
        c_row.target = f">= {TARGET_C_SPEEDUP:.0f}x faster"
        if ours_ms is not None and peer_ms is not None:
            c_row.target += ": met" if peer_ms / ours_ms >= TARGET_C_SPEEDUP else ": MISSED"
    rows.append(c_row)

    if peer.ok:
        stock = Row(f"(c) {size} steps: yls stock debounce {peer.debounce_ms} ms, net")
        if yls is None or yls.error or not yls.samples:
            stock.peer = "n/a"
            if yls is not None:
                notes.append(f"yaml-language-server (stock) at {size} steps: {yls.error}")
        else:
            raw = median_ms(yls.samples)
            net = raw - peer.debounce_ms
            stock.peer = f"yls {fmt_ms(net)} (raw {fmt_ms(raw)})"
            if ours_ms is not None:
                stock.ratio = f"{net / ours_ms:.1f}x (net)"
        rows.append(stock)
        for session in (yls0, yls):
            if session is None or not session.samples:
                continue
            if session.last_count:
                notes.append(
                    f"{session.client.name} reported {session.last_count} diagnostic(s) "
                    f"on the {size}-step pipeline"
                )
            if not session.client.consistent(session.uri, session.version - 1):
                notes.append(
                    f"WARNING {session.client.name} at {size} steps published "
                    f"{session.client.count(session.uri)} times for {session.version} versions: "
                    "its latencies (paired with the next publish) are unreliable"
                )
    return rows


def print_table(rows: list[Row]) -> None:
    header = Row("workload", "ours", "peer/limit", "ratio", "target")
    cols = ["workload", "ours", "peer", "ratio", "target"]
    widths = {c: max(len(getattr(r, c)) for r in [header, *rows]) for c in cols}
    sep = "  "

    def line(row: Row) -> str:
        cells = [getattr(row, c).ljust(widths[c]) if c == "workload" else getattr(row, c) for c in cols]
        cells = [cells[0]] + [cells[i].rjust(widths[c]) for i, c in enumerate(cols) if i > 0]
        return sep.join(cells).rstrip()

    print(line(header))
    print(sep.join("-" * widths[c] for c in cols))
    for row in rows:
        print(line(row))


async def run(sizes: list[int], repeat: int) -> int:
    validate, validate_reason = load_validate_text()
    daemon_reason = daemon_available()
    skip_ours = bool(daemon_reason)
    notes: list[str] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bos-bench-") as tmp_name:
        tmp = Path(tmp_name)
        peer = prepare_peer(tmp)
        print(
            f"python {platform.python_version()}, PyYAML {yaml.__version__} "
            f"(libyaml {yaml.__with_libyaml__}), {os.cpu_count()} cores; "
            f"medians of {repeat} repetitions, interleaved",
            file=sys.stderr,
        )
        for size in sizes:
            workspace = tmp / f"ws-{size}"
            pipeline = write_workspace(workspace, size)
            text = pipeline.read_text(encoding="utf-8")
            print(
                f"… {size} steps: {text.count(chr(10))} lines, {len(text.encode()) / 1024:.0f} KiB",
                file=sys.stderr,
            )
            inproc = bench_in_process(workspace, pipeline, text, repeat, validate)
            sessions = await bench_keystrokes(
                workspace, pipeline, text, repeat, peer, with_ours=not skip_ours
            )
            ours = next((s for s in sessions if s.label == "ours"), None)
            if ours is not None and ours.error.startswith("start-up"):
                skip_ours = True  # do not wait for it again at the next sizes
            rows += build_rows(size, inproc, validate_reason, sessions, peer, notes)
            for session in sessions:
                if session.probe:
                    notes.append(f"{size} steps, yaml-language-server schema self-check: {session.probe}")

        print("… daemon start", file=sys.stderr)
        d_row = Row("(d) daemon start -> first diagnostics (shop)", peer=f"limit {TARGET_D_MS:.0f} ms")
        d_row.target = f"< {TARGET_D_MS / 1000:.0f} s"
        if daemon_reason:
            d_row.ours = "n/a (daemon)"
        else:
            samples, why = await bench_startup(repeat)
            if samples and not why:
                d = median_ms(samples)
                d_row.ours = fmt_ms(d)
                d_row.ratio = f"{d / TARGET_D_MS:.2f} of limit"
                d_row.target += ": met" if d < TARGET_D_MS else ": MISSED"
            else:
                d_row.ours = "n/a"
                notes.append(f"(d): {why}")
        rows.append(d_row)

    print()
    print_table(rows)
    print()
    if validate is None:
        notes.insert(0, f"(b) builderos.validate.api.validate_text: {validate_reason}")
    elif "workspace_root" in inspect.signature(validate).parameters:
        notes.insert(0, "(b) calls validate_text(path, text, workspace_root=<the temp workspace>)")
    if daemon_reason:
        command = " ".join(["python", *daemon_command()[1:]])
        notes.insert(0, f"(c)/(d) our daemon `{command}`: {daemon_reason}")
    if peer.ok:
        notes.insert(
            0,
            f"yaml-language-server {yls_version()} validates against {peer.schema_note}; its validation "
            f"debounce is {peer.debounce_ms} ms (validationDelayMs, {peer.debounce_where}, no setting). "
            f"'debounce 0' rows: it is overridden to 0 at start-up, and our daemon runs with "
            f'initializationOptions {{"debounceMs": 0}}; the stock row subtracts {peer.debounce_ms} ms.',
        )
    else:
        notes.insert(0, f"yaml-language-server: n/a ({peer.reason})")
    notes.append(
        "(a) is the parse limit; (b) ratio = validate_text / compose (gc on); (c) ratio = yls / ours; "
        "a keystroke is a 1-character incremental didChange in the middle step's `run:` value, timed "
        "to the publishDiagnostics for that version (yaml-language-server sends none: its next publish)"
    )
    for note in notes:
        print(f"- {note}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", help="comma-separated step counts (default 100,1000,5000)")
    parser.add_argument("--repeat", type=int, help="repetitions per figure (default 7, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="sizes 100,1000 and 3 repetitions")
    args = parser.parse_args(argv)
    sizes_text = args.sizes or ("100,1000" if args.quick else "100,1000,5000")
    try:
        args.sizes = [int(s) for s in sizes_text.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {sizes_text!r}")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes must name at least one positive step count")
    args.repeat = args.repeat or (3 if args.quick else 7)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args.sizes, args.repeat))
    except KeyboardInterrupt:
        return 130
    finally:
        _kill_leftovers()


if __name__ == "__main__":
    raise SystemExit(main())
