"""The eval answer cache: one file per (model, prompt hash, vars, repeat index) under
`.builderos/cache/llm/`, so re-running an unchanged suite asks no model anything.

Answers are stored redacted (nothing secret is written to disk) and written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

CACHE_DIR = "cache/llm"


def cache_key(model: str, prompt_sha256: str, variables: Any, repeat_index: int) -> str:
    blob = json.dumps(
        {"model": model, "prompt": prompt_sha256, "vars": variables, "repeat": repeat_index},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class AnswerCache:
    """Cached model answers of one store; `enabled=False` reads nothing but still writes."""

    def __init__(self, store_dir: Path, *, enabled: bool = True) -> None:
        self.folder = store_dir / CACHE_DIR
        self.enabled = enabled
        self.hits = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        if not self.enabled:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or damaged: ask the model again
        text = data.get("text") if isinstance(data, dict) else None
        if isinstance(text, str):
            self.hits += 1
            return text
        return None

    def put(self, key: str, model: str, text: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"model": model, "text": text}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
