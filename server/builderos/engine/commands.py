"""`run:` steps: a shell command in its own process group, output captured and redacted.

A timeout or a cancellation kills the whole group (the command and everything it started), so a
step that times out really stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from builderos.engine.crashpoints import crashpoint
from builderos.engine.interfaces import Outputs, StepFailed

KEEP_BYTES = 64 * 1024


async def run_command(
    command: str,
    cwd: Path,
    env: Mapping[str, str],
    log: Callable[[str], None],
) -> Outputs:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=str(cwd),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    crashpoint("command-running")
    try:
        stdout, stderr = await asyncio.gather(_pump(proc.stdout, log), _pump(proc.stderr, log))
        code = await proc.wait()
    except BaseException:
        await _kill_group(proc)
        raise
    outputs: Outputs = {"exit_code": code, "stdout": stdout, "stderr": stderr}
    if code != 0:
        raise StepFailed(f"command exited with code {code}", outputs)
    return outputs


async def _pump(stream: asyncio.StreamReader | None, log: Callable[[str], None]) -> str:
    if stream is None:
        return ""
    kept = bytearray()
    while True:
        line = await stream.readline()
        if not line:
            break
        log(line.decode("utf-8", "replace").rstrip("\n"))
        kept.extend(line)
        if len(kept) > KEEP_BYTES * 2:
            del kept[: len(kept) - KEEP_BYTES]
    return bytes(kept[-KEEP_BYTES:]).decode("utf-8", "replace")


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, then SIGKILL what is left after a grace period."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=2.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=2.0)
