"""The daemon answers `initialize` from its cache before the LSP stack is loaded (lsp/early_init.py).

Driven over real stdio with hand-framed JSON-RPC, so what the editor receives is seen byte for byte:
the answer from the cache equals the one pygls gave, the prefetched diagnostics arrive once, in
order, and the daemon behind the bridge serves requests and shuts down cleanly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "shop"
INIT_PARAMS = {"processId": None, "capabilities": {"general": {"positionEncodings": ["utf-16"]}}}


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while True:
        line = stream.readline()
        assert line, "the daemon closed its output"
        if line == b"\r\n":
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    message: dict[str, Any] = json.loads(stream.read(length))
    return message


class Session:
    """One daemon process and everything it wrote, in order."""

    def __init__(self, ws: Path, cache: Path, **env: str) -> None:
        self.ws = ws
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "builderos", "serve", "--stdio"],
            cwd=ws,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "XDG_CACHE_HOME": str(cache), **env},
        )
        self.seen: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(frame(message))
        self.proc.stdin.flush()

    def until(self, test: Any) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            message = read(self.proc.stdout)
            self.seen.append(message)
            if test(message):
                return message

    def initialize(self) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {**INIT_PARAMS, "rootUri": self.ws.as_uri()},
            }
        )
        answer = self.until(lambda m: m.get("id") == 1)
        took = time.perf_counter() - t0
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return answer, took

    def diagnostics_of(self, rel: str) -> dict[str, Any]:
        uri = (self.ws / rel).as_uri()
        return self.until(
            lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        )

    def close(self) -> int:
        self.send({"jsonrpc": "2.0", "id": 99, "method": "shutdown"})
        self.until(lambda m: m.get("id") == 99)
        self.send({"jsonrpc": "2.0", "method": "exit"})
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=20)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    (root / "agents" / "broken.yaml").write_text("kind: agent\nname: broken\nrole: [\n")  # a BOS001
    return root


def answers(session: Session) -> list[dict[str, Any]]:
    return [m for m in session.seen if m.get("id") == 1]


def test_the_second_start_answers_from_the_cache_with_what_pygls_said(ws: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Session(ws, cache)
    answer1, _ = first.initialize()
    broken1 = first.diagnostics_of("agents/broken.yaml")
    assert first.close() == 0
    stored = list((cache / "builderos").glob("initialize-*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text()) == answer1["result"]

    second = Session(ws, cache)
    answer2, _ = second.initialize()
    broken2 = second.diagnostics_of("agents/broken.yaml")  # published by the bridge, from the fork
    assert answer2 == answer1
    assert [d["code"] for d in broken2["params"]["diagnostics"]] == ["BOS001"]
    assert broken2["params"]["diagnostics"] == broken1["params"]["diagnostics"]
    # the daemon behind the bridge: it had the real initialize, it answers requests
    second.send({"jsonrpc": "2.0", "id": 7, "method": "builderos/workspaceIndex", "params": {}})
    index = second.until(lambda m: m.get("id") == 7)["result"]
    assert {p["name"] for p in index["pipelines"]} == {"feature", "hotfix"}
    assert second.close() == 0
    assert len(answers(second)) == 1  # pygls's own answer to initialize was not passed on


def test_an_edit_after_the_prefetch_is_what_the_editor_is_left_with(ws: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    warm = Session(ws, cache)
    warm.initialize()
    assert warm.close() == 0
    s = Session(ws, cache)
    s.initialize()
    uri = (ws / "agents" / "broken.yaml").as_uri()
    s.send(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {
                    "uri": uri,
                    "languageId": "yaml",
                    "version": 1,
                    "text": "kind: agent\nname: broken\nrole: Builder\n",
                }
            },
        }
    )
    s.send({"jsonrpc": "2.0", "id": 8, "method": "builderos/workspaceIndex", "params": {}})
    s.until(lambda m: m.get("id") == 8)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the last word on the file is the fixed buffer's: no error
        last = [
            m
            for m in s.seen
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        ]
        if last and not last[-1]["params"]["diagnostics"]:
            break
        s.diagnostics_of("agents/broken.yaml")
    assert last and last[0]["params"]["diagnostics"] and not last[-1]["params"]["diagnostics"]
    assert s.close() == 0


def test_a_damaged_cache_or_the_switch_off_falls_back_to_pygls(ws: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    warm = Session(ws, cache)
    answer, _ = warm.initialize()
    assert warm.close() == 0
    for stored in (cache / "builderos").glob("initialize-*.json"):
        stored.write_text("{not json")
    damaged = Session(ws, cache)
    assert damaged.initialize()[0] == answer
    assert damaged.close() == 0
    off_cache = tmp_path / "off"
    off = Session(ws, off_cache, BUILDEROS_EARLY_INIT="0")
    assert off.initialize()[0] == answer
    assert off.close() == 0
    assert not off_cache.exists()  # switched off: nothing is stored either
