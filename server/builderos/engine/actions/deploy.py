"""deploy and rollback against a real local target.

An environment lives in `.builderos/deployments/<env>/`: one folder per release (a copy of the source,
`.complete` written last), a `current` pointer switched with os.replace, and an append-only
`history.jsonl`. `LocalTargets` serves each environment on 127.0.0.1 and reads `current` on every
request, so a deploy or a rollback is visible at once and `http.check` verifies what is really live.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from builderos.engine.actions._common import (
    SAFE_NAME,
    atomic_write,
    bad_param,
    fsync_dir,
    opt_str,
    rel_posix,
    req_str,
    resolve_inside,
    safe_name,
)
from builderos.engine.interfaces import ActionInput, Outputs, StepFailed

#: Never part of a release, at any depth: the store, VCS data, dependencies and caches.
EXCLUDED = frozenset({".builderos", ".git", "node_modules", ".venv", "__pycache__"})
#: A release is healthy when it ships one of these; `/health` then answers 200 `ok`.
HEALTH_FILES = ("health", "health.txt", "health.json")
COMPLETE = ".complete"
META = ".release.json"
HOST = "127.0.0.1"
_RELEASE = re.compile(r"^(?:\.staging-)?r(\d+)-([0-9a-f]{8})$")

#: (relative path, "file" | "link", sha256 of the content or the link target)
SourceEntry = tuple[str, str, str]


# -- the environment folder ------------------------------------------------------------------------


def env_dir(store_dir: Path, env: str) -> Path:
    return store_dir / "deployments" / env


def read_current(folder: Path) -> str | None:
    """The release `current` names, or None before the first deploy."""
    try:
        name = (folder / "current").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name if SAFE_NAME.match(name) else None


def write_current(folder: Path, release: str) -> None:
    atomic_write(folder / "current", f"{release}\n".encode())


def is_complete(release_dir: Path) -> bool:
    return (release_dir / COMPLETE).is_file()


def read_history(folder: Path) -> list[dict[str, Any]]:
    """History lines in order; a line torn by a crash mid-append is skipped."""
    try:
        text = (folder / "history.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines: list[dict[str, Any]] = []
    for raw in text.splitlines():
        try:
            item = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            lines.append(item)
    return lines


def append_history_once(folder: Path, entry: Mapping[str, Any]) -> None:
    """Append `entry` unless this step already logged it (a resumed deploy or rollback)."""
    same = ("action", "run_id", "step_id", "release")
    if any(all(line.get(k) == entry[k] for k in same) for line in read_history(folder)):
        return
    path = folder / "history.jsonl"
    with path.open("ab") as f:
        if f.tell() > 0:
            with path.open("rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":  # a torn last line must not swallow this one
                    f.write(b"\n")
        f.write(json.dumps(dict(entry), ensure_ascii=False).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def previous_release(history: list[dict[str, Any]], current: str | None) -> str | None:
    """What was live before `current` was deployed: walking back one deploy per rollback."""
    for line in reversed(history):
        if line.get("action") == "deploy" and line.get("release") == current:
            previous = line.get("previous")
            return str(previous) if previous else None
    return None


def release_id(folder: Path, run_id: str, step_id: str) -> str:
    """`r<N>-<tag>`: N counts the env's releases, tag hashes run/step, so a resumed step finds its own."""
    tag = hashlib.sha256(f"{run_id}/{step_id}".encode()).hexdigest()[:8]
    highest = 0
    children = folder.iterdir() if folder.is_dir() else iter(())
    for child in children:
        m = _RELEASE.match(child.name)
        if not m or not child.is_dir():
            continue
        if m.group(2) == tag:
            return f"r{m.group(1)}-{tag}"
        highest = max(highest, int(m.group(1)))
    return f"r{highest + 1}-{tag}"


def scan_source(source: Path) -> tuple[list[SourceEntry], str]:
    """The files a release will hold and one hash over all of them (for the intent and the release meta)."""
    entries: list[SourceEntry] = []
    for folder, dirnames, filenames in os.walk(source):
        base = Path(folder)
        kept = []
        for d in sorted(dirnames):
            if d in EXCLUDED:
                continue
            if (base / d).is_symlink():  # os.walk does not descend; keep the link itself
                filenames.append(d)
            else:
                kept.append(d)
        dirnames[:] = kept
        for name in filenames:
            if name in EXCLUDED:
                continue
            path = base / name
            rel = path.relative_to(source).as_posix()
            if path.is_symlink():
                entries.append((rel, "link", hashlib.sha256(os.readlink(path).encode()).hexdigest()))
            elif path.is_file():
                with path.open("rb") as f:
                    entries.append((rel, "file", hashlib.file_digest(f, "sha256").hexdigest()))
    entries.sort()
    tree = hashlib.sha256("".join(f"{k} {d} {r}\n" for r, k, d in entries).encode()).hexdigest()
    return entries, tree


def materialize(
    source: Path, entries: list[SourceEntry], folder: Path, release: str, meta: Mapping[str, Any]
) -> None:
    """Copy into `.staging-<release>`, write the meta and `.complete` last, then rename into place.

    A complete release is left alone; a half-copied one (a crash) is thrown away and redone.
    """
    final = folder / release
    if is_complete(final):
        return
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{release}"
    shutil.rmtree(staging, ignore_errors=True)
    if final.exists():
        shutil.rmtree(final)
    staging.mkdir()
    for rel, kind, _ in entries:
        src, dst = source / rel, staging / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if kind == "link":
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    (staging / META).write_text(json.dumps(dict(meta), indent=2) + "\n", encoding="utf-8")
    atomic_write(staging / COMPLETE, f"{release}\n".encode())
    os.rename(staging, final)
    fsync_dir(folder)


# -- serving ---------------------------------------------------------------------------------------


class _ReleaseServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, folder: Path) -> None:
        self.folder = folder
        super().__init__((HOST, port), _ReleaseHandler)

    def release_root(self) -> Path | None:
        """The folder of the current release, read at request time."""
        name = read_current(self.folder)
        if name is None:
            return None
        root = self.folder / name
        return root if is_complete(root) else None


class _ReleaseHandler(SimpleHTTPRequestHandler):
    """Static files of the current release; `/health` per HEALTH_FILES; no listings, no escapes."""

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        root = cast(_ReleaseServer, self.server).release_root()
        if root is None:
            self.send_error(503, "no release is current")
            return
        if urlsplit(self.path).path == "/health":
            healthy = any((root / name).is_file() for name in HEALTH_FILES)
            self._plain(200 if healthy else 404, b"ok" if healthy else b"not found", head)
            return
        self.directory = str(root)
        if head:
            super().do_HEAD()
        else:
            super().do_GET()

    def _plain(self, status: int, body: bytes, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def translate_path(self, path: str) -> str:
        full = super().translate_path(path)
        root = os.path.realpath(self.directory)
        rel = os.path.relpath(os.path.realpath(full), root)
        if rel == ".." or rel.startswith("../") or rel in (COMPLETE, META):
            return os.path.join(root, ".builderos-not-found")
        return full

    def list_directory(self, path: str | os.PathLike[str]) -> BytesIO | None:
        self.send_error(404, "File not found")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a rollback must show on the next request
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(slots=True)
class _Served:
    server: _ReleaseServer
    thread: threading.Thread
    url: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LocalTargets:
    """The process's local deploy targets: one loopback HTTP server per environment folder.

    Kept in `ActionInput.services["deploy"]` (see `of`). A server reuses the port remembered in
    `<env>/port` when it can, so a URL recorded before a daemon restart keeps working after it.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or _utcnow
        self._served: dict[Path, _Served] = {}
        self._locks: dict[Path, asyncio.Lock] = {}
        self._mutex = threading.Lock()

    @classmethod
    def of(cls, services: dict[str, Any]) -> LocalTargets:
        """The shared instance in `services["deploy"]`, created on first use."""
        targets = services.get("deploy")
        if targets is None:
            targets = services["deploy"] = cls()
        if not isinstance(targets, LocalTargets):
            raise TypeError(f"services['deploy'] is a {type(targets).__name__}, not LocalTargets")
        return targets

    def now(self) -> str:
        return self.clock().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def lock(self, folder: Path) -> asyncio.Lock:
        """Deploys and rollbacks of one environment run one at a time."""
        return self._locks.setdefault(folder.resolve(), asyncio.Lock())

    def url(self, store_dir: Path, env: str) -> str | None:
        served = self._served.get(env_dir(store_dir, env).resolve())
        return served.url if served else None

    def serve(self, store_dir: Path, env: str) -> str:
        """Start serving `env` (if not already) and return its URL."""
        folder = env_dir(store_dir, env)
        folder.mkdir(parents=True, exist_ok=True)
        key = folder.resolve()
        with self._mutex:
            if (served := self._served.get(key)) is not None:
                return served.url
            port_file = key / "port"
            try:
                remembered = int(port_file.read_text().strip())
            except (OSError, ValueError):
                remembered = 0
            server: _ReleaseServer | None = None
            if remembered:
                try:
                    server = _ReleaseServer(remembered, key)
                except OSError:
                    server = None
            if server is None:
                server = _ReleaseServer(0, key)
            port = int(server.server_address[1])
            if port != remembered:
                atomic_write(port_file, f"{port}\n".encode())
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"builderos-deploy-{env}",
                daemon=True,
            )
            thread.start()
            served = _Served(server, thread, f"http://{HOST}:{port}")
            self._served[key] = served
            return served.url

    def serve_existing(self, store_dir: Path) -> dict[str, str]:
        """Serve every environment that has a current release (e.g. when the daemon starts)."""
        root = store_dir / "deployments"
        urls: dict[str, str] = {}
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                if folder.is_dir() and SAFE_NAME.match(folder.name) and read_current(folder):
                    urls[folder.name] = self.serve(store_dir, folder.name)
        return urls

    def close(self) -> None:
        """Stop every server (idempotent)."""
        with self._mutex:
            served, self._served = list(self._served.values()), {}
        for s in served:
            s.server.shutdown()
            s.server.server_close()
            s.thread.join(timeout=5)


# -- the actions -----------------------------------------------------------------------------------


class Deploy:
    """`deploy`: a new release of `source` in `env`, made current and served; outputs url, release, env."""

    name = "deploy"

    async def run(self, inp: ActionInput) -> Outputs:
        action = self.name
        env = safe_name(action, "env", req_str(inp, action, "env"))
        source_rel = opt_str(inp, action, "source") or "."
        source = resolve_inside(inp.workspace, source_rel, action, "source")
        if not source.is_dir():
            raise bad_param(action, f"`source` {source_rel!r} is not a folder")
        if source.is_relative_to(inp.store_dir.resolve()):
            raise bad_param(action, f"`source` {source_rel!r} is inside the store")
        shown = rel_posix(inp.workspace, source)
        targets = LocalTargets.of(inp.services)
        folder = env_dir(inp.store_dir, env)
        async with targets.lock(folder):
            release = release_id(folder, inp.run_id, inp.step_id)
            entries, tree = await asyncio.to_thread(scan_source, source)
            previous = read_current(folder)
            intent: dict[str, Any] = {
                "env": env,
                "release": release,
                "source": shown,
                "files": len(entries),
                "tree_sha256": tree,
                "previous": previous,
            }
            meta: dict[str, Any] = {
                "release": release,
                "env": env,
                "run_id": inp.run_id,
                "step_id": inp.step_id,
            }
            meta |= {"source": shown, "files": len(entries), "tree_sha256": tree}

            async def perform() -> Outputs:
                try:
                    await asyncio.to_thread(materialize, source, entries, folder, release, meta)
                except OSError as e:
                    raise StepFailed(
                        f"{action}: copying {shown} into release {release} failed: {e}"
                    ) from None
                # History before the pointer: a crash in between leaves a line that names its release
                # and a resume that only has to switch `current`.
                entry: dict[str, Any] = {"action": "deploy", "env": env, "release": release}
                entry["previous"] = previous
                entry |= {"run_id": inp.run_id, "step_id": inp.step_id, "ts": targets.now()}
                append_history_once(folder, entry)
                write_current(folder, release)
                url = targets.serve(inp.store_dir, env)
                inp.log(f"deployed {shown} ({len(entries)} files) to {env} as {release} at {url}")
                return {"url": url, "release": release, "env": env}

            async def reconcile(recorded: Mapping[str, Any]) -> Outputs | None:
                name = str(recorded["release"])
                if is_complete(folder / name) and read_current(folder) == name:
                    return {"url": targets.serve(inp.store_dir, env), "release": name, "env": env}
                return None

            out = await inp.ledger.once(
                f"{inp.run_id}:{inp.step_id}:deploy", action, intent, perform, reconcile
            )
        # The recorded URL is only right while this process serves the env on the remembered port.
        return {**out, "url": targets.serve(inp.store_dir, env)}


def _infer_env(store_dir: Path, run_id: str) -> str | None:
    """`on_failure: rollback` has no `with:`: the env this run deployed last, or the only one there is."""
    root = store_dir / "deployments"
    if not root.is_dir():
        return None
    latest: tuple[str, str] | None = None
    live: list[str] = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or not SAFE_NAME.match(folder.name):
            continue
        if read_current(folder):
            live.append(folder.name)
        for line in read_history(folder):
            if line.get("action") == "deploy" and line.get("run_id") == run_id:
                ts = str(line.get("ts", ""))
                if latest is None or ts >= latest[0]:
                    latest = (ts, folder.name)
    if latest is not None:
        return latest[1]
    return live[0] if len(live) == 1 else None


class Rollback:
    """`rollback`: point `current` back at the previous release (or `release`); outputs release, env."""

    name = "rollback"

    async def run(self, inp: ActionInput) -> Outputs:
        action = self.name
        env = opt_str(inp, action, "env") or _infer_env(inp.store_dir, inp.run_id)
        if env is None:
            raise bad_param(action, "`env` is required (this run deployed nothing to roll back)")
        env = safe_name(action, "env", env)
        targets = LocalTargets.of(inp.services)
        folder = env_dir(inp.store_dir, env)
        async with targets.lock(folder):
            history = read_history(folder)
            current = read_current(folder)
            mine = [
                line
                for line in history
                if line.get("action") == "rollback"
                and line.get("run_id") == inp.run_id
                and line.get("step_id") == inp.step_id
            ]
            if mine:  # a repeat or resume of this step: the same target as the first time
                target, previous = str(mine[-1]["release"]), mine[-1].get("previous")
            else:
                requested = opt_str(inp, action, "release")
                target_or_none = (
                    safe_name(action, "release", requested)
                    if requested
                    else previous_release(history, current)
                )
                if target_or_none is None:
                    raise StepFailed(f"no previous release of {env} to roll back to", retryable=False)
                target, previous = target_or_none, current
            if not is_complete(folder / target):
                raise StepFailed(f"{action}: release {target} of {env} does not exist", retryable=False)
            intent = {"env": env, "release": target, "previous": previous}

            async def perform() -> Outputs:
                entry: dict[str, Any] = {"action": "rollback", "env": env, "release": target}
                entry["previous"] = previous
                entry |= {"run_id": inp.run_id, "step_id": inp.step_id, "ts": targets.now()}
                append_history_once(folder, entry)
                write_current(folder, target)
                inp.log(f"rolled {env} back from {previous} to {target}")
                return {"release": target, "env": env}

            async def reconcile(recorded: Mapping[str, Any]) -> Outputs | None:
                name = str(recorded["release"])
                return {"release": name, "env": env} if read_current(folder) == name else None

            out = await inp.ledger.once(
                f"{inp.run_id}:{inp.step_id}:rollback", action, intent, perform, reconcile
            )
        targets.serve(inp.store_dir, env)  # keep the env reachable, e.g. after a daemon restart
        return out
