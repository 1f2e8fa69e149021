"""Secrets never reach the editor: the leaky run of tests/policy/test_secrets.py, started and approved
through the daemon; every message the client receives (run events, approval requests, runs-changed,
diagnostics, log messages, and the answers to run, timeline, provenance and approvals requests) is
kept as received and searched for the secrets and for halves of them.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from tests.lsp.test_runs import Daemon
from tests.policy.test_secrets import make_leaky_ws

from builderos import protocol
from builderos.policy.redact import MASK


class RecordingDaemon(Daemon):
    """The test daemon, keeping a printed copy of every message the client handles."""

    def __init__(self, ws: Path) -> None:
        super().__init__(ws)
        self.seen: list[str] = []
        handle = self.client.protocol.handle_message

        def recording(message: Any) -> Any:
            self.seen.append(repr(message))
            return handle(message)

        self.client.protocol.handle_message = recording  # type: ignore[method-assign]


async def test_no_secret_in_anything_the_daemon_sends_to_the_editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alphabet = string.ascii_letters + string.digits
    key = "sk-" + "".join(secrets.choice(alphabet) for _ in range(40))
    token = "tok" + secrets.token_hex(16)
    ws = make_leaky_ws(tmp_path / "ws", key, token)
    monkeypatch.setenv("BOS_TEST_TOKEN", token)  # the daemon inherits it, as from a user's shell
    daemon = RecordingDaemon(ws)
    await daemon.start()
    try:
        # the pipeline file is opened in the editor too: diagnostics and lenses go to the client
        leak_uri = (ws / "ship" / "leak.yaml").as_uri()
        daemon.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(leak_uri, "yaml", 1, (ws / "ship" / "leak.yaml").read_text())
            )
        )
        started = await daemon.request(
            protocol.RUN_START, {"pipeline": "leak", "inputs": {}, "scenario": "leak"}
        )
        run_id = started["runId"]
        resolved: set[str] = set()

        def final() -> bool:
            return daemon.status(run_id) in ("succeeded", "failed", "cancelled")

        while not final():
            await daemon.until(lambda: final() or len(daemon.requested) > len(resolved), timeout=60)
            for pending in await daemon.request(protocol.APPROVALS, {}):
                if pending["id"] not in resolved and pending["run_id"] == run_id:
                    resolved.add(pending["id"])
                    await daemon.request(
                        protocol.APPROVAL_RESOLVE,
                        {"id": pending["id"], "decision": "approve", "comment": "ok"},
                    )
        assert daemon.status(run_id) == "succeeded"
        assert resolved, "the run asked for approvals (the agent's writes)"
        await asyncio.sleep(0.3)  # the last notifications
        for method, params in (
            (protocol.RUN, {"runId": run_id}),
            (protocol.TIMELINE, {"runId": run_id}),
            (protocol.PROVENANCE, {"runId": run_id}),
            (protocol.PROVENANCE, {"path": "src/copy.py"}),
            (protocol.APPROVALS, {}),
            (protocol.RUNS, {}),
        ):
            await daemon.request(method, params)
    finally:
        await daemon.stop()
    everything = "\n".join(daemon.seen)
    assert run_id in everything and "leak" in everything  # the capture saw the run
    assert MASK in everything  # and the secrets in it, masked
    for name, value in (("key", key), ("token", token)):
        body = value[3:]
        for needle in (value, body[: len(body) // 2], body[len(body) // 2 :]):
            assert needle not in everything, f"the {name} (or part of it) reached the editor"
