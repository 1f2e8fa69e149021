"""A real daemon (`python -m builderos serve --stdio`) on a fresh copy of the shop workspace per test.

`lsp` wraps the pytest-lsp client with the few steps every test needs: open/change/close a file
and wait for the diagnostics of exactly that version, find positions by text, and call features.
Every publishDiagnostics is recorded, so a test can wait for the one it expects (bounded in time).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "shop"
TIMEOUT = 10.0

CAPABILITIES = types.ClientCapabilities(
    general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
    workspace=types.WorkspaceClientCapabilities(
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=False),
        execute_command=types.ExecuteCommandClientCapabilities(),
    ),
    text_document=types.TextDocumentClientCapabilities(
        synchronization=types.TextDocumentSyncClientCapabilities(),
        completion=types.CompletionClientCapabilities(
            completion_item=types.ClientCompletionItemOptions(
                snippet_support=True, documentation_format=[types.MarkupKind.Markdown]
            )
        ),
        hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
        definition=types.DefinitionClientCapabilities(),
        references=types.ReferenceClientCapabilities(),
        document_symbol=types.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.QuickFix])
            ),
            data_support=True,
        ),
        code_lens=types.CodeLensClientCapabilities(),
        rename=types.RenameClientCapabilities(prepare_support=True),
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
            version_support=True, data_support=True
        ),
    ),
)


class RecordingClient(LanguageClient):
    """The pytest-lsp client, keeping every publishDiagnostics in order of arrival."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.published: list[types.PublishDiagnosticsParams] = []


def _record(client: RecordingClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)


def make_client() -> RecordingClient:
    client = RecordingClient(converter_factory=default_converter)
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record
    register_lsp_features(client, features)
    return client


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Session:
    """One daemon on one workspace copy, with helpers that keep tests short and exact."""

    def __init__(self, client: RecordingClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}

    # -- files -----------------------------------------------------------------------------
    def uri(self, rel: str) -> str:
        return (self.root / rel).as_uri()

    def text(self, rel: str) -> str:
        return self.texts.get(rel) or (self.root / rel).read_text(encoding="utf-8")

    def pos(self, rel: str, needle: str, nth: int = 0, offset: int = 0) -> types.Position:
        """The position of the nth occurrence of `needle` (plus `offset` characters), in UTF-16."""
        text = self.text(rel)
        at = -1
        for _ in range(nth + 1):
            at = text.index(needle, at + 1)
        at += offset
        line = text.count("\n", 0, at)
        line_start = text.rfind("\n", 0, at) + 1
        return types.Position(line=line, character=utf16_len(text[line_start:at]))

    # -- diagnostics ---------------------------------------------------------------------------
    async def wait_published(
        self,
        rel: str,
        check: Callable[[types.PublishDiagnosticsParams], bool] = lambda p: True,
        since: int = 0,
        timeout: float = TIMEOUT,
    ) -> list[types.Diagnostic]:
        """The first publish for `rel` (at or after index `since`) that passes `check`."""
        uri = self.uri(rel)
        deadline = time.monotonic() + timeout
        while True:
            for params in self.client.published[since:]:
                if params.uri == uri and check(params):
                    return list(params.diagnostics)
            if time.monotonic() > deadline:
                seen = [
                    (p.version, [d.code for d in p.diagnostics])
                    for p in self.client.published
                    if p.uri == uri
                ]
                raise AssertionError(f"no matching diagnostics for {rel} within {timeout}s; got {seen}")
            await asyncio.sleep(0.02)

    async def open(self, rel: str, text: str | None = None) -> list[types.Diagnostic]:
        """didOpen, then the diagnostics of that version."""
        text = text if text is not None else (self.root / rel).read_text(encoding="utf-8")
        self.texts[rel] = text
        self.versions[rel] = 1
        waiter = self.client.protocol.wait_for_notification_async(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        mark = len(self.client.published)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri(rel), language_id="yaml", version=1, text=text
                )
            )
        )
        await asyncio.wait({waiter}, timeout=TIMEOUT)  # (cancelling the waiter would upset pytest-lsp)
        return await self.wait_published(rel, lambda p: p.version == 1, since=mark)

    async def change(self, rel: str, text: str) -> list[types.Diagnostic]:
        """didChange with the whole new text, then the diagnostics of the new version."""
        version = self.versions[rel] + 1
        self.versions[rel] = version
        self.texts[rel] = text
        mark = len(self.client.published)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri(rel), version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return await self.wait_published(rel, lambda p: p.version == version, since=mark)

    async def close(self, rel: str) -> list[types.Diagnostic]:
        """didClose: the file on disk is the truth again."""
        mark = len(self.client.published)
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=self.uri(rel)))
        )
        self.texts.pop(rel, None)
        self.versions.pop(rel, None)
        return await self.wait_published(rel, lambda p: p.version is None, since=mark)

    apply = staticmethod(lambda text, edits: apply_edits(text, edits))
    utf16 = staticmethod(lambda text: utf16_len(text))

    # -- features --------------------------------------------------------------------------
    def doc(self, rel: str) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=self.uri(rel))

    async def completion(self, rel: str, position: types.Position) -> list[types.CompletionItem]:
        result = await self.client.text_document_completion_async(
            types.CompletionParams(text_document=self.doc(rel), position=position)
        )
        if result is None:
            return []
        return list(result.items if isinstance(result, types.CompletionList) else result)

    async def hover(self, rel: str, position: types.Position) -> types.Hover | None:
        return await self.client.text_document_hover_async(
            types.HoverParams(text_document=self.doc(rel), position=position)
        )

    async def definition(self, rel: str, position: types.Position) -> list[types.Location]:
        result = await self.client.text_document_definition_async(
            types.DefinitionParams(text_document=self.doc(rel), position=position)
        )
        if result is None:
            return []
        return [
            r for r in (result if isinstance(result, list) else [result]) if isinstance(r, types.Location)
        ]

    async def references(
        self, rel: str, position: types.Position, declaration: bool = True
    ) -> list[types.Location]:
        result = await self.client.text_document_references_async(
            types.ReferenceParams(
                text_document=self.doc(rel),
                position=position,
                context=types.ReferenceContext(include_declaration=declaration),
            )
        )
        return list(result or [])

    async def prepare_rename(self, rel: str, position: types.Position) -> Any:
        return await self.client.text_document_prepare_rename_async(
            types.PrepareRenameParams(text_document=self.doc(rel), position=position)
        )

    async def rename(self, rel: str, position: types.Position, new_name: str) -> types.WorkspaceEdit | None:
        return await self.client.text_document_rename_async(
            types.RenameParams(text_document=self.doc(rel), position=position, new_name=new_name)
        )

    async def symbols(self, rel: str) -> list[types.DocumentSymbol]:
        result = await self.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=self.doc(rel))
        )
        return [s for s in result or [] if isinstance(s, types.DocumentSymbol)]

    async def code_actions(self, rel: str, diagnostics: list[types.Diagnostic]) -> list[types.CodeAction]:
        whole = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=10_000, character=0)
        )
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=self.doc(rel),
                range=whole,
                context=types.CodeActionContext(diagnostics=diagnostics),
            )
        )
        return [a for a in result or [] if isinstance(a, types.CodeAction)]

    async def code_lenses(self, rel: str) -> list[types.CodeLens]:
        result = await self.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=self.doc(rel))
        )
        return list(result or [])

    async def execute(self, command: types.Command) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (UTF-16 positions) to a text, last first."""
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        before = sum(len(line) + 1 for line in lines[: p.line])
        line = lines[p.line] if p.line < len(lines) else ""
        units, i = 0, 0
        while i < len(line) and units < p.character:
            units += 2 if ord(line[i]) > 0xFFFF else 1
            i += 1
        return before + i

    ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
    for edit in ordered:
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the example workspace per test module (the fixture itself is never modified)."""
    root = tmp_path_factory.mktemp("ws") / "shop"
    shutil.copytree(SHOP, root)
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "builderos", "serve", "--stdio"], client_factory=make_client
    ),
)
async def client(lsp_client: RecordingClient, shop: Path) -> AsyncIterator[None]:
    """One daemon per test module: starting it is most of a test's time."""
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=CAPABILITIES,
            root_uri=shop.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=shop.as_uri(), name="shop")],
            initialization_options={"debounceMs": 10},
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(loop_scope="module")
async def lsp(client: RecordingClient, shop: Path) -> AsyncIterator[Session]:
    """A session on the module's daemon; files a test opened are closed again after it.

    Tests leave the files on disk as they found them, so closing restores the daemon's state.
    """
    session = Session(client, shop)
    await session.wait_published("ship/feature.yaml")
    yield session
    for rel in list(session.versions):
        await session.close(rel)
