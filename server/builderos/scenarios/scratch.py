"""Scratch copies of a workspace, so scenario runs and replays never touch the user's files or repo.

A scratch copy lives in `$TMPDIR/builderos-scratch/<run id>/`: the workspace's files minus
`.builderos/` and `.git/`, in a git repository of its own (one commit, fixed author and dates), so
a pipeline that uses git works and git never reaches the user's repository. It is outside the
workspace on purpose: the built-in actions refuse to write inside the store (`.builderos/`), and a
copy inside the user's repository could be committed or indexed by mistake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

SCRATCH_DIR = "builderos-scratch"
SKIPPED = (".builderos", ".git")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "BuilderOS scenario",
    "GIT_AUTHOR_EMAIL": "scenario@builderos.invalid",
    "GIT_COMMITTER_NAME": "BuilderOS scenario",
    "GIT_COMMITTER_EMAIL": "scenario@builderos.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def scratch_root() -> Path:
    return Path(tempfile.gettempdir()) / SCRATCH_DIR


def make_scratch(workspace: Path) -> Path:
    """Copy the workspace to a new scratch folder and make it a git repository."""
    dest = scratch_root() / f".new-{uuid.uuid4().hex[:12]}"
    dest.parent.mkdir(parents=True, exist_ok=True)

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n in SKIPPED] if Path(folder) == workspace else [".git"]

    shutil.copytree(workspace, dest, symlinks=True, ignore=ignore)
    _git_init(dest)
    return dest


def rename_scratch(scratch: Path, run_id: str) -> Path:
    """Give a scratch copy its run's name (`.builderos/scratch/<run id>`)."""
    target = scratch.parent / run_id
    if target.exists():
        shutil.rmtree(target)
    os.replace(scratch, target)
    return target


def remove_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)


def _git_init(folder: Path) -> None:
    env = {**os.environ, **_GIT_ENV, "HOME": str(folder)}  # no user config decides what a scenario does
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", _GIT_ENV["GIT_AUTHOR_NAME"]),
        ("config", "user.email", _GIT_ENV["GIT_AUTHOR_EMAIL"]),
        ("config", "commit.gpgsign", "false"),
        ("add", "-A"),
        ("commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", "scenario workspace"),
    ):
        try:
            subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return  # no git on this machine: pipelines that need it fail with their own message
