"""What every command shares: one-line user errors with a hint, and finding the workspace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix: printed as one line and a hint, never a traceback."""

    def __init__(self, message: str, hint: str = "", exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


def fail(exc: UserError, code: int) -> NoReturn:
    line = f"builderos: error: {exc}"
    if exc.hint:
        line += f" (hint: {exc.hint})"
    print(line, file=sys.stderr)
    raise SystemExit(code)


def find_workspace(explicit: str | None, start: Path | None = None) -> Path:
    """`--workspace DIR`, else the nearest folder upward with builderos.yaml."""
    if explicit is not None:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise UserError(
                f"workspace '{explicit}' is not a folder", "pass the folder that holds builderos.yaml"
            )
        if not (root / "builderos.yaml").is_file() and not (root / "builderos.yml").is_file():
            raise UserError(
                f"'{explicit}' is not a BuilderOS workspace: it has no builderos.yaml",
                "create builderos.yaml there, or pass the right folder with --workspace",
            )
        return root.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "builderos.yaml").is_file() or (folder / "builderos.yml").is_file():
            return folder
    raise UserError(
        f"no BuilderOS workspace at {here} or above (no builderos.yaml found)",
        "run inside a workspace, or pass --workspace DIR",
    )


def add_workspace_option(parser: object) -> None:
    parser.add_argument(  # type: ignore[attr-defined]
        "--workspace",
        metavar="DIR",
        help="the workspace (default: nearest folder upward with builderos.yaml)",
    )
