"""Fixtures of the action tests: a real git repository per test, a memory ledger, local deploy targets."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from builderos.engine.actions import LocalTargets, get_action
from builderos.engine.interfaces import ActionInput, Outputs
from builderos.engine.ledger_memory import MemoryLedger


def sh(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run a git command in a test repository and return its stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def init_repo(path: Path, identity: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    sh(path, "init", "-q", "-b", "main")
    if identity:
        sh(path, "config", "user.name", "Test Dev")
        sh(path, "config", "user.email", "dev@example.test")
        (path / "README.md").write_text("# demo\n")
        sh(path, "add", "README.md")
        sh(path, "commit", "-q", "-m", "initial")
    return path


@dataclass
class Harness:
    """Runs actions the way the engine will: one ActionInput per attempt, one ledger per run."""

    workspace: Path
    ledger: MemoryLedger
    services: dict[str, Any]
    run_id: str = "run1"
    env: dict[str, str] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    def input(self, params: dict[str, Any], step: str, attempt: int = 1) -> ActionInput:
        return ActionInput(
            workspace=self.workspace,
            store_dir=self.workspace / ".builderos",
            run_id=self.run_id,
            step_id=step,
            attempt=attempt,
            params=params,
            ledger=self.ledger,
            log=self.logs.append,
            env=self.env,
            services=self.services,
        )

    async def run(self, name: str, params: dict[str, Any], step: str = "s1", attempt: int = 1) -> Outputs:
        action = get_action(name)
        assert action is not None, name
        return await action.run(self.input(params, step, attempt))

    def git(self, *args: str) -> str:
        return sh(self.workspace, *args)


@pytest.fixture
def targets() -> Iterator[LocalTargets]:
    t = LocalTargets()
    yield t
    t.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "ws")


@pytest.fixture
def h(repo: Path, targets: LocalTargets) -> Harness:
    return Harness(repo, MemoryLedger(), {"deploy": targets})
