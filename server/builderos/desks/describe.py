"""A desk as the editor and `desk list --json` see it (the builderos/deskList shape)."""

from __future__ import annotations

import os
from typing import Any

from builderos.desks.catalog import DeskSource
from builderos.desks.render import SKIPPED_DIRS


def describe(src: DeskSource) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in src.desk.parameters.items():
        info: dict[str, Any] = {"type": p.type, "required": p.required and p.default is None}
        for key in ("default", "values", "pattern", "min", "max", "description"):
            value = getattr(p, key)
            if value is not None:
                info[key] = value
        if p.type == "secret":
            info["secret"] = True
        params[name] = info
    return {
        "name": src.name,
        "version": src.version,
        "description": src.desk.description,
        "source": src.source,
        "parameters": params,
    }


def template_files(src: DeskSource) -> list[str]:
    out: list[str] = []
    root = src.files_dir
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        out += [
            os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/") for f in sorted(filenames)
        ]
    return out
