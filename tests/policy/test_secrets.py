"""Secrets never reach the store or the CLI's output: redaction happens at the boundary.

A run through the real CLI with a secret in the environment (named in the policy's `secrets.env`),
in a file the agent reads (an `sk-…` key), in a command's output (a `run:` step echoing the
variable), in the model's reply and in a file the agent writes (through an approval diff); then
every file under `.builderos/` (the database's tables and its raw pages, the WAL if any, run
records, logs, artifacts, the content-addressed blobs, prompt snapshots) and everything the CLI
printed are searched for the secrets, and for fragments of them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import string
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from builderos.engine.ledger_memory import MemoryLedger
from builderos.engine.toolbox import OUTPUT_LIMIT, ToolBox
from builderos.policy.redact import MASK, Redactor
from builderos.policy.rules import PolicyView

PROJECT = "version: 1\nname: leaky\nmodels: {default: offline, profiles: {offline: {provider: scripted}}}\n"
POLICY = """\
version: 1
default: deny
agents:
  reader: {tools: [fs.read, fs.write, shell.run]}
paths:
  allow: ["src/**"]
commands:
  allow: ["cat *", "printenv *"]
secrets:
  env: [BOS_TEST_TOKEN]
  patterns: ["sk-[A-Za-z0-9]{20,}"]
approvals:
  - {action: fs.write}
"""
AGENT = """\
kind: agent
name: reader
role: Builder
prompt: reader@^1.0
model: offline
tools: [fs.read, fs.write, shell.run]
"""
PROMPT = """\
kind: prompt
name: reader
version: 1.0.0
changelog:
  - {version: 1.0.0, notes: first}
inputs: [token]
template: |
  Read the configuration and say what it holds. Token: {{ token }}
"""
PIPELINE = """\
kind: pipeline
name: leak
steps:
  - id: read
    agent: reader
    with: {token: "${{ env.BOS_TEST_TOKEN }}"}
  - id: echo
    needs: [read]
    run: |
      echo "token=$BOS_TEST_TOKEN"
      echo "on stderr: $BOS_TEST_TOKEN" >&2
      cat src/config.py
  - id: again
    needs: [echo]
    run: echo "${{ steps.read.outputs.text }} / ${{ steps.echo.outputs.stdout }}"
  - id: keep
    needs: [again]
    uses: fs.write
    with: {path: src/summary.txt, content: "${{ steps.read.outputs.text }}"}
  - id: failing
    needs: [keep]
    run: echo "about to fail with $BOS_TEST_TOKEN"; exit 4
    continue_on_error: true
"""


def scenario(key: str, token: str) -> str:
    reply = f"The configuration holds the key {key}; the token is {token}."
    return textwrap.dedent(
        f"""\
        kind: scenario
        name: leak
        pipeline: leak
        stubs:
          llm:
            - step: read
              tool_calls:
                - {{tool: fs.read, args: {{path: src/config.py}}}}
                - {{tool: shell.run, args: {{command: "printenv BOS_TEST_TOKEN"}}}}
                - {{tool: shell.run, args: {{command: "cat src/config.py"}}}}
                - {{tool: fs.write, args: {{path: src/copy.py, content: "KEY = '{key}'  # {token}\\n"}}}}
              respond: "{reply}"
        """
    )


def make_leaky_ws(ws: Path, key: str, token: str, config_key: str | None = None) -> Path:
    """The leaky workspace: its agent reads `src/config.py` (holding `config_key`, default `key`)."""
    files = {
        "builderos.yaml": PROJECT,
        "builderos.policy.yaml": POLICY,
        "agents/reader.yaml": AGENT,
        "prompts/reader.yaml": PROMPT,
        "ship/leak.yaml": PIPELINE,
        "scenarios/leak.yaml": scenario(key, token),
        "src/config.py": f'API_KEY = "{key if config_key is None else config_key}"\n',
    }
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return ws


@dataclass
class Leak:
    ws: Path
    key: str
    token: str
    outputs: dict[str, str]  # what each CLI command printed (stdout and stderr)


def cli(ws: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def leak(tmp_path_factory: pytest.TempPathFactory) -> Leak:
    alphabet = string.ascii_letters + string.digits
    key = "sk-" + "".join(secrets.choice(alphabet) for _ in range(40))
    token = "tok" + secrets.token_hex(16)  # matches no pattern: only the env list can catch it
    ws = make_leaky_ws(tmp_path_factory.mktemp("secrets") / "ws", key, token)
    env = {**os.environ, "BOS_TEST_TOKEN": token}
    outputs: dict[str, str] = {}
    first = cli(ws, env, "runs", "--json")  # creates the store
    assert first.returncode == 0, first.stderr
    # an idle reader keeps the WAL file from being checkpointed away when the CLI exits, so the
    # pages the run wrote are still there to search
    reader = sqlite3.connect(ws / ".builderos" / "builderos.db")
    reader.execute("SELECT count(*) FROM runs").fetchall()
    run = cli(ws, env, "run", "leak", "--scenario", "leak", "--approve-all", "--json")
    outputs["run"] = run.stdout + run.stderr
    assert run.returncode == 0, run.stderr
    wal = ws / ".builderos" / "builderos.db-wal"
    assert wal.is_file() and wal.stat().st_size > 0
    shutil.copy(wal, ws / ".builderos" / "wal-during-the-run.bin")  # scanned with the rest
    reader.close()
    record = json.loads(run.stdout)
    run_id = record["id"]
    for args in (
        ("show", run_id, "--json"),
        ("show", run_id),
        ("timeline", run_id),
        ("timeline", run_id, "--json"),
        ("runs", "--json"),
        ("approvals", "--json"),
        ("audit", "export"),
        ("audit", "verify"),
    ):
        proc = cli(ws, env, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        outputs[" ".join(args)] = proc.stdout + proc.stderr
    return Leak(ws, key, token, outputs)


def needles(leak: Leak) -> dict[str, str]:
    """The secrets, and long-enough pieces of them (a leak of half a key is a leak)."""
    out: dict[str, str] = {}
    for name, value in (("key", leak.key), ("token", leak.token)):
        body = value[3:]  # without the sk- / tok prefix
        out[name] = value
        out[name + " (first half)"] = body[: len(body) // 2]
        out[name + " (second half)"] = body[len(body) // 2 :]
    return out


def test_the_run_really_saw_the_secrets(leak: Leak) -> None:
    """Not vacuous: the run read, printed and wrote the secrets, and the workspace has them."""
    assert leak.key in (leak.ws / "src" / "copy.py").read_text()
    record = json.loads(leak.outputs["show " + _run_id(leak) + " --json"])
    steps = {s["id"]: s for s in record["steps"]}
    assert steps["read"]["status"] == "succeeded"
    assert steps["echo"]["status"] == "succeeded"
    assert "token=[REDACTED]" in steps["echo"]["outputs"]["stdout"]
    assert "[REDACTED]" in steps["read"]["outputs"]["text"]
    assert steps["failing"]["status"] == "failed"
    log = (leak.ws / ".builderos" / "logs" / record["id"] / "echo.log").read_text()
    assert "token=[REDACTED]" in log and "on stderr: [REDACTED]" in log


def _run_id(leak: Leak) -> str:
    return str(json.loads(leak.outputs["runs --json"])[0]["id"])


def scan_store(leak: Leak) -> tuple[int, dict[str, list[str]]]:
    """(files scanned, {store file: [secrets found in it]}) over every file under .builderos/."""
    store = leak.ws / ".builderos"
    found: dict[str, list[str]] = {}
    scanned = 0
    for path in sorted(store.rglob("*")):
        if not path.is_file():
            continue
        scanned += 1
        data = path.read_bytes()
        hits = [name for name, needle in needles(leak).items() if needle.encode() in data]
        if hits:
            found[path.relative_to(store).as_posix()] = hits
    return scanned, found


def is_artifact_copy(rel: str) -> bool:
    return rel.startswith(("artifacts/", "cas/"))


def test_no_secret_in_any_file_of_the_store(leak: Leak) -> None:
    """The database (raw pages, so deleted rows count too), the WAL if any, run records, logs and
    prompt snapshots hold no secret. (Artifact copies are the next test.)"""
    scanned, found = scan_store(leak)
    assert scanned >= 6  # db, run record, logs, prompt snapshot, artifacts, cas blobs
    leaks = {rel: hits for rel, hits in found.items() if not is_artifact_copy(rel)}
    assert not leaks, f"secrets in the store: {leaks}"


def test_no_secret_in_artifact_copies(leak: Leak) -> None:
    _, found = scan_store(leak)
    leaks = {rel: hits for rel, hits in found.items() if is_artifact_copy(rel)}
    assert not leaks, f"secrets in artifact copies: {leaks}"


def test_no_secret_in_any_table_of_the_database(leak: Leak) -> None:
    conn = sqlite3.connect(leak.ws / ".builderos" / "builderos.db")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"runs", "events", "effects", "approvals", "audit", "artifacts"} <= set(tables)
        found = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                text = " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row)
                for name, needle in needles(leak).items():
                    if needle in text:
                        found.append(f"{table}: {name}")
    finally:
        conn.close()
    assert not found, "secrets in the database: " + "; ".join(sorted(set(found)))


def test_no_secret_in_what_the_cli_printed(leak: Leak) -> None:
    found = [
        f"builderos {cmd}: {name}"
        for cmd, text in leak.outputs.items()
        for name, needle in needles(leak).items()
        if needle in text
    ]
    assert not found, "secrets on the terminal: " + "; ".join(found)
    assert "[REDACTED]" in leak.outputs["run"]


# -- the redactor and the tool box's cuts, on their own ----------------------------------------------


def test_overlapping_patterns_mask_the_whole_secret() -> None:
    key = "tok_" + "a" * 12 + "-" + "b" * 12
    # the policy's pattern stops at the '-'; a second pattern sees the whole key: both spans go
    redactor = Redactor([], [r"tok_[a-z]{12}", r"tok_[a-z\-]{20,}"], environ={})
    assert redactor.text(f"key={key};") == f"key={MASK};"
    assert "b" * 12 not in redactor.text(key)


def test_env_secrets_numbers_and_keys_are_masked() -> None:
    redactor = Redactor(
        ["PIN", "TOKEN", "SHORT"], environ={"PIN": "918273", "TOKEN": " tok-value-1 \n", "SHORT": "ab"}
    )
    data = {"pin": 918273, "n": 12, "tok-value-1": "x tok-value-1 y", "ok": True, "short": "ab"}
    assert redactor.data(data) == {"pin": MASK, "n": 12, MASK: f"x {MASK} y", "ok": True, "short": "ab"}


def test_objects_tuples_and_nested_values_are_masked_as_they_would_be_stored() -> None:
    redactor = Redactor(["TOKEN"], environ={"TOKEN": "tok-value-1"})
    where = Path("/tmp/tok-value-1/out.txt")  # stored as its text: the text is what gets masked
    data = {"path": where, "pair": ("tok-value-1", 2), "deep": [{"k": ["x tok-value-1"]}], "p": Path("/a")}
    assert redactor.data(data) == {
        "path": f"/tmp/{MASK}/out.txt",
        "pair": [MASK, 2],
        "deep": [{"k": [f"x {MASK}"]}],
        "p": Path("/a"),  # nothing secret: the object itself
    }


async def test_a_cut_output_does_not_keep_half_a_secret(tmp_path: Path) -> None:
    """Output is kept to its last 16,000 characters; a cut through a key must not leave its tail."""
    key = "sk-" + "Q" * 40
    filler = "x" * (OUTPUT_LIMIT - 20)
    script = f"print('{key}' + ' ' + '{filler}')"
    seen: list[dict[str, Any]] = []

    async def emit(type_: str, data: dict[str, Any]) -> None:
        seen.append(data)

    async def ask(*_: Any) -> bool:
        return True

    policy = PolicyView(
        {"agents": {"a": {"tools": ["shell.run"]}}, "commands": {"allow": [f"{sys.executable} *"]}}
    )
    tools = ToolBox(tmp_path, "a", ["shell.run"], policy, emit, ask, MemoryLedger(), "r", "s", print)
    result = await tools.call("shell.run", {"command": [sys.executable, "-c", script]})
    assert result["exit_code"] == 0
    assert len(result["stdout"]) <= OUTPUT_LIMIT + 3
    assert "QQQQ" not in result["stdout"]  # the cut fell inside the key: the whole word is dropped
    assert result["stdout"].startswith("[…] ")


def test_a_secret_in_an_approval_comment_is_not_kept(tmp_path: Path) -> None:
    key = "sk-" + "A1b2C3d4" * 5
    ws = make_leaky_ws(tmp_path / "ws", "sk-" + "z" * 30, "tok-not-in-env", config_key="")
    env = {**os.environ, "BOS_TEST_TOKEN": "tok" + secrets.token_hex(16)}
    run = cli(ws, env, "run", "leak", "--scenario", "leak", "--no-wait", "--json")
    assert run.returncode == 3, run.stderr
    pending = json.loads(cli(ws, env, "approvals", "--json").stdout)
    decided = cli(ws, env, "approve", pending[0]["id"], "--comment", f"fine, the key {key} is a test key")
    assert decided.returncode == 0, decided.stderr
    shown = cli(ws, env, "audit", "export").stdout
    assert "fine, the key [REDACTED] is a test key" in shown
    for path in (ws / ".builderos").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
