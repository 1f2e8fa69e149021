from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.stub_llm import StubLLM


@pytest.fixture
def stub() -> Iterator[StubLLM]:
    with StubLLM() as server:
        yield server


class Sleeps:
    """An injected sleep that records the durations and returns at once."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.durations.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
