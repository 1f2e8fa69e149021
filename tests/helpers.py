"""Shared helpers of the validator tests: workspaces in tmp dirs, the CLI as a subprocess, the YAML corpus.

Tests never touch the fixture workspace in place: `copy_shop` gives each test its own copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from builderos.diagnostics import Diagnostic
from builderos.validate.api import validate_workspace
from builderos.workspace.index import Workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
SHOP = REPO_ROOT / "tests" / "fixtures" / "workspaces" / "shop"
#: In CI the repository is checked out with `shared/` as a sibling folder.
YAML_SUITE = REPO_ROOT.parent / "shared" / "corpora" / "yaml-test-suite"
YAML_SUITE_MISSING = f"the YAML test suite corpus is not checked out at {YAML_SUITE}"

#: Cases of the YAML test suite that are invalid YAML but that libyaml (PyYAML's C loader) accepts;
#: `builderos.workspace.strict` closes these gaps, and the tests expect BOS001 for each of them.
LIBYAML_ACCEPTS_INVALID: dict[str, str] = {
    "9C9N": "a multi-line flow sequence indented less than its key",
    "9JBA": "a comment without a space after the end of a flow sequence",
    "CVW2": "a comment without a space after a comma in a flow sequence",
    "DK95/01": "a tab as indentation of a quoted scalar's continuation line",
    "G5U8": "plain '-' entries in a flow sequence",
    "MUS6/00": "a comment without a space after a %YAML directive",
    "QB6E": "a multi-line double-quoted scalar indented less than its key",
    "S98Z": "a block scalar whose leading empty lines are more indented than its first line",
    "SU5Z": "a comment without a space after a double-quoted scalar",
    "X4QW": "a comment without a space after a block scalar indicator",
    "Y79Y/003": "a tab as indentation inside a flow sequence",
    "YJV2": "a plain '-' entry in a flow sequence",
}


# -- workspaces ----------------------------------------------------------------------------------


def copy_shop(tmp_path: Path, name: str = "shop") -> Path:
    """A private copy of the example workspace (every file kind, valid)."""
    dest = tmp_path / name
    shutil.copytree(SHOP, dest)
    return dest


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def edit(root: Path, rel: str, old: str, new: str) -> Path:
    """Replace the one occurrence of `old` in a workspace file (fails loudly if it is not unique)."""
    path = root / rel
    text = path.read_text(encoding="utf-8")
    count = text.count(old)
    assert count == 1, f"{old!r} occurs {count} times in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def validate(root: Path) -> dict[str, list[Diagnostic]]:
    """Diagnostics of every file of a workspace on disk, as the CLI computes them."""
    ws = Workspace(root)
    ws.scan()
    return validate_workspace(ws)


def span_of(d: Diagnostic) -> tuple[int, int, int, int]:
    """(start line, start col, end line, end col), 0-based, code points."""
    return (d.span.start_line, d.span.start_col, d.span.end_line, d.span.end_col)


def lsp_span(r: dict[str, dict[str, int]]) -> tuple[int, int, int, int]:
    """The same tuple from an LSP range dict (as the JSON output prints it)."""
    return (r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"])


# -- the CLI -------------------------------------------------------------------------------------


def run_cli(
    *args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m builderos ARGS` in a subprocess, with this interpreter (the venv)."""
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-m", "builderos", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        stdin=subprocess.DEVNULL,  # never a terminal: commands that could ask, do not
        timeout=timeout,
        check=False,
    )


def assert_one_line_user_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """A user error: the exit code, one line on stderr with a hint, nothing on stdout, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip("\n").split("\n")
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("builderos: error: "), line
    assert "(hint: " in line and line.endswith(")"), line
    return line


# -- the YAML test suite -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YamlCase:
    """One `in.yaml` of the YAML test suite: its id (`2G84/01`), path and whether it is invalid YAML."""

    id: str
    path: Path
    is_error: bool

    @property
    def text(self) -> str:
        return self.path.read_bytes().decode("utf-8", errors="replace")

    @property
    def slug(self) -> str:
        """A file-name-safe id: `2G84/01` -> `2G84-01`."""
        return self.id.replace("/", "-")


def yaml_suite_cases() -> list[YamlCase]:
    """Every case of the corpus (empty when it is absent)."""
    if not YAML_SUITE.is_dir():
        return []
    cases = []
    for path in sorted(YAML_SUITE.rglob("in.yaml")):
        folder = path.parent
        case_id = folder.relative_to(YAML_SUITE).as_posix()
        cases.append(YamlCase(case_id, path, (folder / "error").exists()))
    return cases


# -- hostile documents ---------------------------------------------------------------------------


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: each level is a list of `width` aliases of the level below (width**levels leaves)."""
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, levels + 1):
        items = ", ".join([f"*lol{i - 1}"] * width)
        lines.append(f"lol{i}: &lol{i} [{items}]")
    return "\n".join(lines) + "\n"


def deep_flow(depth: int = 100_000) -> str:
    """`[` × depth: a flow sequence nested far beyond any limit (and never closed)."""
    return "[" * depth


def codes(diagnostics: Iterable[Diagnostic]) -> set[str]:
    return {d.code for d in diagnostics}
