"""The BuilderOS language server: state on the server object, features registered by `setup(server)`.

Every change to the index (an edit, a file on disk) and every validation run on one worker thread,
so the index has a single writer and the event loop stays free to answer requests.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from builderos import __version__
from builderos.diagnostics import SEVERITY_NUMBER, Diagnostic
from builderos.lsp.positions import to_range
from builderos.validate.context import Context, StepCache
from builderos.workspace.document import Document
from builderos.workspace.index import Workspace

log = logging.getLogger("builderos.lsp")
T = TypeVar("T")

DEFAULT_DEBOUNCE_MS = 75


class BuilderOSServer(LanguageServer):
    """The daemon's state: the workspace index, the validation worker and what was published."""

    def __init__(self) -> None:
        super().__init__("builderos", __version__)
        self.index: Workspace | None = None
        self.debounce = DEFAULT_DEBOUNCE_MS / 1000
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="builderos-index")
        self.step_caches: dict[str, StepCache] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.published: set[str] = set()
        self.background: set[asyncio.Task[Any]] = set()
        self.on_ready: list[Callable[[], Any]] = []  # coroutines started once the workspace is indexed
        self.runs: Any = None
        self.prefetch: Any = None  # a forked first validation (prefetch.Prefetch), read once
        self.started_at = time.time()  # when the daemon started (serve sets its process start)

    # -- the worker ----------------------------------------------------------------------------
    async def on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the single index thread (all index writes happen there)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.worker, fn, *args)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- paths ---------------------------------------------------------------------------------
    def rel_of(self, uri: str) -> str | None:
        if self.index is None:
            return None
        path = to_fs_path(uri)
        return self.index.rel(path) if path else None

    def uri_of(self, rel: str) -> str:
        assert self.index is not None
        return from_fs_path(str(self.index.root / rel)) or ""

    def doc_for(self, uri: str) -> Document | None:
        rel = self.rel_of(uri)
        if rel is None or self.index is None:
            return None
        return self.index.docs.get(rel)

    @property
    def encoding(self) -> str:
        """The negotiated position encoding as its wire value ('utf-16', 'utf-8', 'utf-32')."""
        value = self.workspace.position_encoding or types.PositionEncodingKind.Utf16
        return str(getattr(value, "value", value))

    # -- validation ----------------------------------------------------------------------------
    def validate_many(self, rels: list[str]) -> list[tuple[str, int | None, list[Diagnostic]]]:
        """Worker side: validate files, sharing one context; each result carries the version it saw."""
        from builderos.validate.api import validate_document  # heavy: first used after start-up

        assert self.index is not None
        ctx = Context.of(self.index)
        out: list[tuple[str, int | None, list[Diagnostic]]] = []
        for rel in rels:
            doc = self.index.docs.get(rel)
            if doc is None:
                out.append((rel, None, []))
                continue
            ctx.step_cache = self.step_caches.setdefault(rel, StepCache())
            try:
                diagnostics = validate_document(self.index, rel, ctx)
            except Exception:  # a rule bug must not take the daemon down or hide other files
                log.exception("validation of %s failed", rel)
                diagnostics = []
            out.append((rel, doc.version, diagnostics))
        return out

    def publish(self, results: list[tuple[str, int | None, list[Diagnostic]]]) -> None:
        """Event-loop side: publish, skipping results for an editor version that is already stale."""
        assert self.index is not None
        for rel, version, diagnostics in results:
            uri = self.uri_of(rel)
            doc = self.index.docs.get(rel)
            open_doc = self.workspace.text_documents.get(uri)
            if open_doc is not None and version is not None and open_doc.version != version:
                continue
            if doc is None:
                if uri in self.published:
                    self.published.discard(uri)
                    self.text_document_publish_diagnostics(
                        types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
                    )
                continue
            items = [self.lsp_diagnostic(doc, d) for d in diagnostics]
            self.published.add(uri)
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=items, version=version)
            )

    def lsp_diagnostic(self, doc: Document, d: Diagnostic) -> types.Diagnostic:
        return types.Diagnostic(
            range=to_range(doc, d.span, self.encoding),
            message=d.full_message,
            severity=types.DiagnosticSeverity(SEVERITY_NUMBER[d.severity]),
            code=d.code,
            source="builderos",
            data=d.lsp_data,
        )

    def whole_parses(self) -> int:
        assert self.index is not None
        return sum(p.whole_parses for p in self.index.parsers.values())

    async def revalidate(self, rels: list[str]) -> None:
        results = await self.on_worker(self.validate_many, rels)
        self.publish(results)

    def schedule(self, rel: str, key: str, apply: Callable[[], Any], delay: float | None = None) -> None:
        """Debounce: apply a change and re-check its dependents after a quiet moment; newer wins."""
        previous = self.pending.pop(key, None)
        if previous is not None:
            previous.cancel()
        self.pending[key] = self.spawn(
            self._after(key, rel, apply, self.debounce if delay is None else delay)
        )

    async def _after(self, key: str, rel: str, apply: Callable[[], Any], delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        if self.pending.get(key) is asyncio.current_task():
            self.pending.pop(key, None)

        def work() -> list[tuple[str, int | None, list[Diagnostic]]]:
            assert self.index is not None
            before = self.whole_parses()
            apply()
            if self.whole_parses() != before:
                # a whole file was parsed: move its long-lived nodes out of the collector's sight,
                # so later collections do not walk hundreds of thousands of nodes on a keystroke
                gc.freeze()
            return self.validate_many(self.index.dependents(rel))

        results = await self.on_worker(work)
        self.publish(results)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())


def create_server() -> BuilderOSServer:
    """A server with every feature registered; features are isolated so one bug cannot stop the rest."""
    from builderos.lsp import features

    logging.getLogger("pygls").setLevel(logging.WARNING)
    server = BuilderOSServer()
    features.setup_all(server)
    return server


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The first workspace folder, else rootUri, else rootPath."""
    uris = [f.uri for f in params.workspace_folders or []]
    if params.root_uri:
        uris.append(params.root_uri)
    for uri in uris:
        path = to_fs_path(uri)
        if path:
            return Path(path)
    if params.root_path:
        return Path(params.root_path)
    return None
