"""Answer `initialize` before the LSP stack is imported, so the first diagnostics come sooner.

Importing pygls and lsprotocol takes most of the daemon's start (lsprotocol.types alone builds
~900 classes: 0.3-0.4 s here), and the editor may not be sent anything, diagnostics included,
before `initialize` is answered. The answer depends only on the features the daemon registers and
on the client's capabilities, so the daemon keeps the answer pygls gave last time in the user's
cache, keyed by both (and by the versions and files that could change it). When the key matches:

* a *front* thread reads the editor's messages from stdin, answers `initialize` from the cache at
  once and, on `initialized`, publishes what the forked validation found (prefetch.py) while the
  LSP stack is still being imported;
* every message still reaches pygls, unchanged and in order, through a pipe (so it sets up its
  state from the real `initialize`), and a *back* thread copies pygls's output to stdout, dropping
  only its own answer to `initialize` (the editor has had it).

When the key does not match (first start, another client, an upgrade), nothing is answered early:
pygls answers, and the back thread stores that answer for the next start. Any message that is not
what the handshake expects makes the front a plain pipe. `BUILDEROS_EARLY_INIT=0` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

from builderos import __version__

#: The fields of `initialize` params that do not change the answer (per window, per process).
VOLATILE_PARAMS = ("processId", "rootUri", "rootPath", "workspaceFolders", "clientInfo", "trace", "locale")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "builderos"


def _code_stamp() -> str:
    """What could change the capabilities: versions and the daemon's feature modules (size, mtime)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [__version__, sys.version]
    for dist in ("pygls", "lsprotocol"):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{dist}={version(dist)}")
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        st = path.stat()
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def cache_key(params: dict[str, Any]) -> str:
    stable = {k: v for k, v in params.items() if k not in VOLATILE_PARAMS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":")) + "\n" + _code_stamp()
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cache_path(key: str) -> Path:
    return _cache_dir() / f"initialize-{key}.json"


def load_answer(key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_cache_path(key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("capabilities"), dict) else None


#: Answers kept (one per client kind and code version); older ones are removed.
KEEP_ANSWERS = 8


def store_answer(key: str, result: dict[str, Any]) -> None:
    """Write atomically (two daemons may start at once); a cache that cannot be written is no cache."""
    path = _cache_path(key)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result), encoding="utf-8")
        os.replace(tmp, path)
        kept = sorted(path.parent.glob("initialize-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP_ANSWERS:]:
            old.unlink(missing_ok=True)


def read_message(stream: IO[bytes]) -> tuple[bytes, dict[str, Any] | None] | None:
    """One framed message: its raw bytes (headers and body, to pass on as they are) and its JSON."""
    raw = bytearray()
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        raw += line
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            with contextlib.suppress(ValueError):
                length = int(value.strip())
    if length is None:
        return bytes(raw), None
    body = stream.read(length)
    raw += body
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    return bytes(raw), message if isinstance(message, dict) else None


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def root_of(params: dict[str, Any]) -> Path | None:
    """The workspace root as the daemon takes it (server.workspace_root), from plain params."""
    from pygls.uris import to_fs_path

    folders = params.get("workspaceFolders") or []
    uris = [f.get("uri") for f in folders if isinstance(f, dict)]
    uris.append(params.get("rootUri"))
    for uri in uris:
        path = to_fs_path(uri) if isinstance(uri, str) and uri else None
        if path:
            return Path(path)
    root_path = params.get("rootPath")
    return Path(root_path) if isinstance(root_path, str) and root_path else None


class EarlyInit:
    """The front and back threads between the editor and pygls (see the module docstring)."""

    def __init__(self, prefetch: Any, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.prefetch = prefetch  # prefetch.Prefetch or None
        self.stdin, self.stdout = stdin, stdout
        self.lock = threading.Lock()  # one writer at a time on the editor's stdout
        to_pygls_r, self._to_pygls_w = os.pipe()
        from_pygls_r, from_pygls_w = os.pipe()
        self.pygls_stdin: BinaryIO = os.fdopen(to_pygls_r, "rb")
        self.pygls_stdout: BinaryIO = os.fdopen(from_pygls_w, "wb")
        self._from_pygls: IO[bytes] = os.fdopen(from_pygls_r, "rb")
        self.answered_id: Any = None  # the id of the initialize request answered early
        self.key: str | None = None  # set when pygls's own answer is to be kept for next time
        self.decided = threading.Event()  # the front knows which of the two it is
        self.answered_early = False  # then the front, not the daemon, publishes the prefetch
        self.prefetch_published = False
        self._front = threading.Thread(target=self._run_front, name="builderos-front", daemon=True)
        self._back = threading.Thread(target=self._run_back, name="builderos-back", daemon=True)

    @classmethod
    def start(cls, prefetch: Any) -> EarlyInit | None:
        if os.environ.get("BUILDEROS_EARLY_INIT", "1") == "0":
            return None
        bridge = cls(prefetch, sys.stdin.buffer, sys.stdout.buffer)
        bridge._front.start()
        bridge._back.start()
        return bridge

    def finish(self) -> None:
        """pygls has stopped: let the back thread pass on the last of its output."""
        with contextlib.suppress(OSError):
            self.pygls_stdout.close()
        self._back.join(timeout=5)

    # -- editor -> pygls ---------------------------------------------------------------------------
    def _to_pygls(self, raw: bytes) -> None:
        view = memoryview(raw)
        while view:
            view = view[os.write(self._to_pygls_w, view) :]

    def _run_front(self) -> None:
        try:
            self._handshake()
            _pump(self.stdin, self._to_pygls)  # from here on a plain pipe
        except (OSError, ValueError):
            pass
        finally:
            self.decided.set()
            with contextlib.suppress(OSError):
                os.close(self._to_pygls_w)  # pygls sees the end of its input and stops

    def _handshake(self) -> None:
        first = read_message(self.stdin)
        if first is None:
            return
        raw, message = first
        params = message.get("params") if message else None
        if not (message and message.get("method") == "initialize" and isinstance(params, dict)):
            self.decided.set()
            self._to_pygls(raw)
            return
        key = cache_key(params)
        answer = load_answer(key)
        if answer is None:
            self.key = key  # pygls answers; the back thread keeps its answer
        else:
            self.answered_id = message.get("id")
            self.answered_early = True
            self._write(frame({"jsonrpc": "2.0", "id": self.answered_id, "result": answer}))
        self.decided.set()
        self._to_pygls(raw)
        if answer is None:
            return
        second = read_message(self.stdin)
        if second is None:
            return
        raw, message = second
        if not (message and message.get("method") == "initialized"):
            self._to_pygls(raw)
            return
        # The lock keeps pygls quiet until these are out: what it publishes later is newer (an
        # open buffer, a re-check), so it must reach the editor after them, never before.
        with self.lock:
            self._to_pygls(raw)
            self._publish_prefetched(params, answer)

    def _publish_prefetched(self, params: dict[str, Any], answer: dict[str, Any]) -> None:
        """What the forked validation found, as the daemon's `initialized` would publish it (the
        caller holds the lock)."""
        from pygls.uris import from_fs_path

        prefetch, self.prefetch = self.prefetch, None
        if prefetch is None:
            return
        encoding = (answer.get("capabilities") or {}).get("positionEncoding") or "utf-16"
        root = root_of(params)
        if encoding != "utf-16" or root is None or root.resolve() != prefetch.root:
            prefetch.read(0.0)
            return
        found = prefetch.read()
        for rel, items in sorted((found or {}).items()):
            uri = from_fs_path(str(root / rel)) or ""
            note = {"uri": uri, "diagnostics": items}
            method = "textDocument/publishDiagnostics"
            self.stdout.write(frame({"jsonrpc": "2.0", "method": method, "params": note}))
        self.stdout.flush()
        self.prefetch_published = found is not None

    # -- pygls -> editor ---------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        with self.lock:
            self.stdout.write(data)
            self.stdout.flush()

    def _run_back(self) -> None:
        try:
            self.decided.wait()
            while self.answered_id is not None or self.key is not None:
                got = read_message(self._from_pygls)
                if got is None:
                    return
                raw, message = got
                is_answer = message is not None and "method" not in message and "id" in message
                if message is not None and is_answer and message["id"] == self.answered_id is not None:
                    self.answered_id = None  # the editor has had this answer: drop pygls's copy
                    continue
                if message is not None and is_answer and self.key is not None:
                    result = message.get("result")
                    if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
                        store_answer(self.key, result)
                    self.key = None
                self._write(raw)
            _pump(self._from_pygls, self._write)
        except (OSError, ValueError):
            pass


def _pump(source: IO[bytes], sink: Callable[[bytes], None]) -> None:
    """Copy `source` to `sink` as the bytes come, until the end of `source`."""
    while chunk := source.read1(1 << 16):  # type: ignore[attr-defined]
        sink(chunk)
