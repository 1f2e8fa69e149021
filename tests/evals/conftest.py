"""Each test gets its own copy of the promptlab workspace (prompts, eval suites, a gated release)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROMPTLAB = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "promptlab"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    root = tmp_path / "promptlab"
    shutil.copytree(PROMPTLAB, root)
    return root
