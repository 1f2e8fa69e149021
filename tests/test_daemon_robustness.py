"""The daemon under hostile input: every YAML test suite case opened as a pipeline, alias bombs, deep nesting.

A real `python -m builderos serve --stdio` subprocess on a fresh copy of the shop workspace. The cases are
opened in one burst (as an editor restoring many tabs would); afterwards the daemon must still answer
requests, and every invalid case must have been published with BOS001/BOS090.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from helpers import (
    LIBYAML_ACCEPTS_INVALID,
    YAML_SUITE_MISSING,
    alias_bomb,
    copy_shop,
    deep_flow,
    yaml_suite_cases,
)

SERVER = [sys.executable, "-m", "builderos", "serve", "--stdio"]
CASES = yaml_suite_cases()
SYNTAX = {"BOS001", "BOS090"}


class Daemon:
    """A started daemon, its workspace root, and every publishDiagnostics it sent, in order."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.versions: dict[str, int] = {}

    def uri(self, rel: str) -> str:
        uri = from_fs_path(str(self.root / rel))
        assert uri is not None
        return uri

    @property
    def alive(self) -> bool:
        server = getattr(self.client, "_server", None)
        return server is not None and server.returncode is None

    def open(self, rel: str, text: str) -> str:
        uri = self.uri(rel)
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=text)
            )
        )
        return uri

    def change(self, rel: str, text: str) -> str:
        uri = self.uri(rel)
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return uri

    def latest(self, uri: str) -> types.PublishDiagnosticsParams | None:
        """The last publication for the version the editor holds (any, for a file it never opened)."""
        current = self.versions.get(uri)
        for params in reversed(self.published.get(uri, [])):
            if current is None or params.version == current:
                return params
        return None

    def kill(self) -> None:
        server = getattr(self.client, "_server", None)
        if server is not None and server.returncode is None:
            server.kill()  # the process the fixture started

    async def wait_for(self, uris: list[str], timeout: float) -> dict[str, list[types.Diagnostic]]:
        """Diagnostics of the current version of every uri; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [u for u in uris if self.latest(u) is None]
            if not missing:
                return {u: list(self.latest(u).diagnostics) for u in uris}  # type: ignore[union-attr]
            assert self.alive, f"the daemon exited (code {self.client._server.returncode})"  # type: ignore[attr-defined]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no diagnostics within {timeout}s for {len(missing)} documents: {missing[:5]}"
                )
            await asyncio.sleep(0.05)

    async def answers(self, timeout: float = 10.0) -> None:
        """The daemon answers requests: a documentSymbol and a hover return (a result or a JSON-RPC error)."""
        uri = self.uri("ship/feature.yaml")
        for request in (
            self.client.text_document_document_symbol_async(
                types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
            ),
            self.client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=8, character=13),
                )
            ),
        ):
            with contextlib.suppress(JsonRpcException):
                await asyncio.wait_for(request, timeout)


def _make_client(daemon_box: list[Daemon]) -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    features: dict[str, Any] = dict(DEFAULT_CLIENT_FEATURES)

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        daemon_box[0].published.setdefault(params.uri, []).append(params)

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    register_lsp_features(client, features)
    return client


@pytest_asyncio.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    root = copy_shop(tmp_path)
    box: list[Daemon] = []
    client = _make_client(box)
    box.append(Daemon(client, root))
    await client.start_io(*SERVER, cwd=str(root))
    try:
        root_uri = box[0].uri("")
        await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(
                        text_document=types.TextDocumentClientCapabilities(
                            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                                version_support=True
                            )
                        )
                    ),
                    root_uri=root_uri,
                    workspace_folders=[types.WorkspaceFolder(uri=root_uri, name="shop")],
                    initialization_options={"debounceMs": 0},
                )
            ),
            30,
        )
        # the initial scan publishes every file of the workspace
        await box[0].wait_for([box[0].uri("ship/feature.yaml"), box[0].uri("builderos.yaml")], 30)
        yield box[0]
    finally:
        if box[0].alive:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.shutdown_session(), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 10)
        box[0].kill()


FINAL = "kind: pipeline\nname: final\nsteps:\n  - id: a\n    agent: buidler\n"


async def _final_open_gets_diagnostics(d: Daemon) -> None:
    uri = d.open("ship/final.yaml", FINAL)
    found = (await d.wait_for([uri], 20))[uri]
    assert [(x.code, x.range.start.line, x.range.start.character, x.range.end.character) for x in found] == [
        ("BOS020", 4, 11, 18)
    ]


@pytest.mark.skipif(not CASES, reason=YAML_SUITE_MISSING)
async def test_every_yaml_suite_case_opened_at_once(daemon: Daemon) -> None:
    started = time.monotonic()
    uris = {daemon.open(f"ship/case-{case.slug}.yaml", case.text): case for case in CASES}
    published = await daemon.wait_for(list(uris), 45)
    await daemon.answers()
    missing = []
    rejected = 0
    for uri, case in uris.items():
        found = {d.code for d in published[uri]}
        if case.is_error and not found & SYNTAX:
            missing.append(case.id)
        rejected += bool(found & SYNTAX)
        for d in published[uri]:
            assert d.source == "builderos" and d.severity is not None and d.range.start.line >= 0
    assert missing == [], missing
    assert rejected >= sum(c.is_error for c in CASES)
    # Edits of broken documents keep flowing; a fixed document loses its error.
    fixed = next(u for u, c in uris.items() if c.is_error and c.id not in LIBYAML_ACCEPTS_INVALID)
    rel = fixed.rsplit("/ship/", 1)[1]
    daemon.change(f"ship/{rel}", "name: fixed\nsteps:\n  - id: a\n    run: echo\n")
    assert not {d.code for d in (await daemon.wait_for([fixed], 20))[fixed]} & SYNTAX
    await _final_open_gets_diagnostics(daemon)
    assert time.monotonic() - started < 60


async def test_alias_bomb_and_deep_nesting(daemon: Daemon) -> None:
    bomb = daemon.open("ship/bomb.yaml", alias_bomb(9, 9))
    deep = daemon.open("ship/deep.yaml", deep_flow(100_000))
    deep_map = daemon.open("agents/deep.yaml", "kind: agent\nname: deep\ntools: " + "{a: " * 50_000)
    started = time.monotonic()
    found = await daemon.wait_for([bomb, deep, deep_map], 20)
    assert time.monotonic() - started < 10
    assert [d.code for d in found[bomb]] == ["BOS090"]
    assert "alias expansion" in found[bomb][0].message
    assert [d.code for d in found[deep]] == ["BOS090"]
    assert [d.code for d in found[deep_map]] == ["BOS090"]
    # the project file as a bomb: it gets BOS090, the other files survive the missing project
    project = (daemon.root / "builderos.yaml").read_text(encoding="utf-8")
    uri = daemon.open("builderos.yaml", project)
    await daemon.wait_for([uri], 20)
    daemon.change("builderos.yaml", alias_bomb(9, 9))
    assert [d.code for d in (await daemon.wait_for([uri], 20))[uri]] == ["BOS090"]
    daemon.change("builderos.yaml", project)
    assert (await daemon.wait_for([uri], 20))[uri] == []
    await daemon.answers()
    await _final_open_gets_diagnostics(daemon)


async def test_deep_nesting_inside_a_step(daemon: Daemon) -> None:
    text = "name: deep\nsteps:\n  - id: a\n    run: echo\n    with: {x: " + deep_flow(100_000) + "}\n"
    uri = daemon.open("ship/deep-step.yaml", text)
    try:
        found = await daemon.wait_for([uri], 15)
    except AssertionError:
        daemon.kill()  # it spins for a minute, then dies: no need to wait for that
        raise
    assert [d.code for d in found[uri]] == ["BOS090"]
    await daemon.answers()
    await _final_open_gets_diagnostics(daemon)
