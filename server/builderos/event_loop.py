"""Event loops whose timers fire on time: every `asyncio` loop BuilderOS runs (CLI, daemon) uses them.

On Linux asyncio waits with `epoll_wait`, which counts in whole milliseconds, and CPython rounds the
time-out up twice (to a millisecond in `selectors`, then again in `select.epoll.poll`, where
`9 * 1e-3 * 1000` is a hair above 9): a 10 ms `asyncio.sleep` often ends 1 to 2 ms late. Over a
pipeline of short steps, back-offs and time-outs that is 10-20 % of the wall time
(`scripts/bench_engine.py` (b)). `PreciseEpollSelector` waits with `select()` on the epoll
descriptor itself, which takes microseconds, then collects the events with a zero time-out; and
`install` takes the kernel's timer slack (50 µs by default) down to 1 µs.
"""

from __future__ import annotations

import asyncio
import select
import selectors
import sys
from typing import Any

#: `select()` handles descriptors below FD_SETSIZE only; the epoll descriptor is made when the loop
#: is, so it is almost always low, and above it the selector simply behaves as asyncio's own.
FD_SETSIZE = 1024


if hasattr(selectors, "EpollSelector"):

    class PreciseEpollSelector(selectors.EpollSelector):
        """An epoll selector whose time-outs have microsecond, not double-rounded millisecond, grain."""

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and timeout > 0:
                fd = self.fileno()
                if fd < FD_SETSIZE:
                    # returns early when any registered descriptor is ready; PEP 475 retries on EINTR
                    if not select.select([fd], [], [], timeout)[0]:
                        return []  # the time-out: nothing is ready, no need to ask epoll again
                    timeout = 0
            return super().select(timeout)


def precise_loop() -> asyncio.AbstractEventLoop:
    """A new event loop with on-time timers (asyncio's default loop where that is already so)."""
    if sys.platform.startswith("linux") and hasattr(selectors, "EpollSelector"):
        return asyncio.SelectorEventLoop(PreciseEpollSelector())
    return asyncio.new_event_loop()


class PreciseTimersPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, but its new loops are `precise_loop()`s (so `asyncio.run` gets one too)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return precise_loop()


def install() -> None:
    """Make every loop this process creates from now on a precise one (called first by the CLI)."""
    if sys.platform.startswith("linux") and not isinstance(_current_policy(), PreciseTimersPolicy):
        asyncio.set_event_loop_policy(PreciseTimersPolicy())
        tighten_timer_slack()


#: prctl(2) option: the thread's timer slack, in nanoseconds.
PR_SET_TIMERSLACK = 29
#: One microsecond: the grain `select()` takes its time-out in.
TIMER_SLACK_NS = 1_000


def tighten_timer_slack() -> bool:
    """Ask Linux to end this thread's (and its future threads') sleeps within 1 µs of their time-out.

    By default the kernel may wake a sleeping thread up to 50 µs late, to batch wake-ups with other
    timers; every step that waits on a timer pays it (`scripts/bench_engine.py` (b): ~3 ms over 40
    steps of 10 ms). False where prctl is not available (not Linux, no libc).
    """
    try:
        import ctypes  # only here: 4 ms to import, and only Linux gets this far

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _current_policy() -> Any:
    return asyncio.get_event_loop_policy()
