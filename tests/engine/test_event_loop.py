"""The precise-timer event loop the CLI and the daemon run on: it still does everything asyncio's does."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from builderos import event_loop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="epoll is Linux only")


def test_a_precise_loop_wakes_for_io_and_for_timers_and_runs_subprocesses() -> None:
    loop = event_loop.precise_loop()
    try:
        assert isinstance(loop._selector, event_loop.PreciseEpollSelector)  # type: ignore[attr-defined]

        async def scenario() -> tuple[bytes, list[str], bytes]:
            a, b = socket.socketpair()
            reader, writer = await asyncio.open_connection(sock=a)
            order: list[str] = []
            running = asyncio.get_running_loop()
            running.call_later(0.02, order.append, "later")
            running.call_later(0.01, order.append, "sooner")
            running.call_later(0.005, b.sendall, b"ping\n")
            line = await asyncio.wait_for(reader.readline(), 5)  # woken by I/O, not by a time-out
            await asyncio.sleep(0.03)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "print('child')", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            writer.close()
            b.close()
            return line, order, out

        line, order, out = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert line == b"ping\n"
    assert order == ["sooner", "later"]
    assert out.strip() == b"child"


def test_install_gives_asyncio_run_a_precise_loop() -> None:
    before = asyncio.get_event_loop_policy()
    try:
        event_loop.install()
        event_loop.install()  # twice is once

        async def selector_kind() -> type:
            return type(asyncio.get_running_loop()._selector)  # type: ignore[attr-defined]

        assert asyncio.run(selector_kind()) is event_loop.PreciseEpollSelector
    finally:
        asyncio.set_event_loop_policy(before)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_timer_slack_is_tightened_for_this_thread_and_the_threads_it_starts() -> None:
    """Read back with PR_GET_TIMERSLACK, in a thread of its own so the test process keeps its slack."""
    import ctypes
    import threading

    libc = ctypes.CDLL(None)
    pr_get_timerslack = 30
    seen: dict[str, int] = {}

    def probe() -> None:
        libc.prctl(event_loop.PR_SET_TIMERSLACK, 50_000, 0, 0, 0)  # the kernel's default
        seen["before"] = libc.prctl(pr_get_timerslack, 0, 0, 0, 0)
        seen["ok"] = event_loop.tighten_timer_slack()
        seen["after"] = libc.prctl(pr_get_timerslack, 0, 0, 0, 0)
        child = threading.Thread(target=lambda: seen.update(child=libc.prctl(pr_get_timerslack, 0, 0, 0, 0)))
        child.start()
        child.join()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    assert seen["ok"] is True
    assert seen["before"] == 50_000
    assert seen["after"] == seen["child"] == event_loop.TIMER_SLACK_NS
