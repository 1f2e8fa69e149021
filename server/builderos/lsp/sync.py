"""Lifecycle and document sync: the index follows the editor's buffers and the files on disk.

Edits come as didOpen/didChange/didClose; changes on disk (created, deleted, renamed) come from our
own watcher (watchfiles) and from the client's didChangeWatchedFiles, whichever arrives first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from builderos.lsp.server import BuilderOSServer, workspace_root
from builderos.workspace.index import SNAPSHOT_DIR, Workspace
from builderos.workspace.kinds import IGNORED_DIRS, may_be_builderos_file

log = logging.getLogger("builderos.lsp")


def setup(server: BuilderOSServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: BuilderOSServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("debounceMs"), int | float):
            ls.debounce = max(0.0, float(options["debounceMs"]) / 1000)
        root = workspace_root(params)
        ls.index = Workspace(root if root is not None else Path.cwd())

    @server.feature(types.INITIALIZED)
    async def initialized(ls: BuilderOSServer, params: types.InitializedParams) -> None:
        assert ls.index is not None
        index = ls.index
        # queued on the index thread before anything awaits, so every request that reads the index
        # (queued on the same thread) finds the workspace scanned
        scanned = asyncio.get_running_loop().run_in_executor(ls.worker, index.scan)
        await _publish_prefetched(ls)
        await scanned
        gc.freeze()  # the scanned workspace is long-lived: keep it out of every later collection
        await ls.revalidate(sorted(index.docs))
        ls.spawn(_watch(ls))
        for hook in ls.on_ready:
            ls.spawn(hook())

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BuilderOSServer, params: types.DidOpenTextDocumentParams) -> None:
        _edited(ls, params.text_document.uri, delay=0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BuilderOSServer, params: types.DidChangeTextDocumentParams) -> None:
        _edited(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BuilderOSServer, params: types.DidCloseTextDocumentParams) -> None:
        rel = ls.rel_of(params.text_document.uri)
        if rel is None or ls.index is None:
            return
        index = ls.index
        ls.schedule(rel, params.text_document.uri, lambda: index.close(rel), delay=0.0)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls: BuilderOSServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            rel = ls.rel_of(change.uri)
            if rel is not None:
                _disk_changed(ls, rel)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: BuilderOSServer, *args: Any) -> None:
        for task in list(ls.background):
            task.cancel()
        store = getattr(ls.runs, "store", None)
        if store is not None:
            await store.close()  # every event is already committed; this only ends the store's thread


async def _publish_prefetched(ls: BuilderOSServer) -> None:
    """Publish what the forked validation found, if it checked this workspace (see prefetch.py)."""
    prefetch, ls.prefetch = ls.prefetch, None
    if prefetch is None or ls.index is None:
        return
    if prefetch.root != ls.index.root or ls.encoding != types.PositionEncodingKind.Utf16:
        await asyncio.to_thread(prefetch.read, 0.0)
        return
    found = await asyncio.to_thread(prefetch.read)
    for rel, items in (found or {}).items():
        uri = ls.uri_of(rel)
        if uri in ls.workspace.text_documents:
            continue  # the editor's buffer wins; it is validated on open
        ls.published.add(uri)
        diagnostics = [_diagnostic(item) for item in items]
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


def _diagnostic(item: dict[str, Any]) -> types.Diagnostic:
    """An LSP diagnostic from the plain form the forked validation sends through its pipe."""
    r = item["range"]
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=r["start"]["line"], character=r["start"]["character"]),
            end=types.Position(line=r["end"]["line"], character=r["end"]["character"]),
        ),
        message=item["message"],
        severity=types.DiagnosticSeverity(item["severity"]),
        code=item["code"],
        source=item["source"],
        data=item.get("data"),
    )


def _edited(ls: BuilderOSServer, uri: str, delay: float | None = None) -> None:
    rel = ls.rel_of(uri)
    if rel is None or ls.index is None:
        return
    document = ls.workspace.get_text_document(uri)
    text, version = document.source, document.version
    index = ls.index
    ls.schedule(rel, uri, lambda: index.set_text(rel, text, version), delay)


def _disk_changed(ls: BuilderOSServer, rel: str) -> None:
    """A file changed on disk: reload it (or the prompt snapshots) and re-check its dependents."""
    if ls.index is None:
        return
    index = ls.index
    if rel.startswith(SNAPSHOT_DIR + "/"):
        ls.schedule(rel, "disk:" + SNAPSHOT_DIR, index.load_snapshots, delay=0.0)
        return
    if not may_be_builderos_file(rel) and rel not in index.docs:
        return
    ls.schedule(rel, "disk:" + rel, lambda: index.load_from_disk(rel), delay=0.0)


def _ignored(root: Path, path: str) -> bool:
    try:
        parts = Path(path).relative_to(root).parts
    except ValueError:
        return True
    if parts[:2] == (".builderos", "prompts"):
        return False
    return any(p in IGNORED_DIRS for p in parts[:-1])


async def _watch(ls: BuilderOSServer) -> None:
    """Follow files created, changed, deleted and renamed on disk, outside the editor too."""
    from watchfiles import awatch

    assert ls.index is not None
    root = ls.index.root
    try:
        async for changes in awatch(
            root, watch_filter=lambda _c, p: not _ignored(root, p), debounce=50, step=20, recursive=True
        ):
            for _change, path in changes:
                rel = ls.index.rel(path)
                if rel is not None:
                    _disk_changed(ls, rel)
    except asyncio.CancelledError:
        raise
    except Exception:  # the editor's didChangeWatchedFiles still works without our watcher
        log.exception("file watcher stopped")
