"""Opening the workspace's store from a command, with store problems turned into user errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from builderos.cli.common import EXIT_FAILED, UserError
from builderos.engine.inputs import InputError
from builderos.engine.preflight import PreflightError
from builderos.engine.runner import RunError
from builderos.store.db import Store, StoreError

T = TypeVar("T")


def with_store(workspace: Path, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            store = await Store.open(workspace / ".builderos")
        except StoreError as exc:
            raise UserError(str(exc), exc.hint, EXIT_FAILED) from None
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except PreflightError as exc:
        for rel, d in exc.diagnostics:
            where = f"{rel}:{d.span.start_line + 1}:{d.span.start_col + 1}"
            print(f"{where}: {d.severity} {d.code} {d.full_message}")
        raise UserError(str(exc), exc.hint, EXIT_FAILED if exc.diagnostics else 2) from None
    except (InputError, RunError) as exc:
        raise UserError(str(exc), exc.hint, 2) from None
