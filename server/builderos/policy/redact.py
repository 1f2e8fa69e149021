"""Redaction at the boundary: secrets are removed before anything is stored, logged or sent out.

Secrets are the values of the environment variables the policy (and model profiles) name, and any
text matching the policy's patterns or the well-known key formats below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
DEFAULT_PATTERNS = (
    r"sk-[A-Za-z0-9_\-]{20,}",
    r"sk-ant-[A-Za-z0-9_\-]{20,}",
    r"ghp_[A-Za-z0-9]{36}",
    r"github_pat_[A-Za-z0-9_]{40,}",
    r"AKIA[0-9A-Z]{16}",
    r"xox[baprs]-[A-Za-z0-9-]{10,}",
)
MIN_SECRET_LEN = 4


class Redactor:
    """Replaces secret values and secret-looking text with a mask, in strings and nested data."""

    def __init__(
        self,
        env_names: Iterable[str] = (),
        patterns: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        source = os.environ if environ is None else environ
        values = {source[name] for name in env_names if len(source.get(name, "")) >= MIN_SECRET_LEN}
        parts = [re.escape(v) for v in sorted(values, key=len, reverse=True)]
        for pattern in (*DEFAULT_PATTERNS, *patterns):
            try:
                re.compile(pattern)
            except re.error:
                continue
            parts.append(f"(?:{pattern})")
        self._regex = re.compile("|".join(parts)) if parts else None

    def text(self, value: str) -> str:
        if self._regex is None or not value:
            return value
        return self._regex.sub(MASK, value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data with every string redacted (keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    @classmethod
    def from_policy(cls, policy: Mapping[str, Any] | None, extra_env: Iterable[str] = ()) -> Redactor:
        secrets = policy.get("secrets") if isinstance(policy, Mapping) else None
        env = list(secrets.get("env") or []) if isinstance(secrets, Mapping) else []
        patterns = list(secrets.get("patterns") or []) if isinstance(secrets, Mapping) else []
        return cls([*env, *extra_env], patterns)
