"""Redaction at the boundary: secrets are removed before anything is stored, logged or sent out.

Secrets are the values of the environment variables the policy (and model profiles) name, and any
text matching the policy's patterns or the well-known key formats below. Every pattern is searched
on its own and the spans found are merged, so where two patterns overlap (a policy pattern that
stops at a `-` the key goes on past) the whole secret is masked, not the first pattern's part.
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
        values = {
            value
            for name in env_names
            if isinstance(name, str)
            for value in [str(source.get(name, "")).strip()]
            if len(value) >= MIN_SECRET_LEN
        }
        regexes: list[re.Pattern[str]] = []
        if values:
            literal = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
            regexes.append(re.compile(literal))
        for pattern in (*DEFAULT_PATTERNS, *patterns):
            if not isinstance(pattern, str) or not pattern:
                continue
            try:
                regexes.append(re.compile(pattern))
            except re.error:
                continue
        self._regexes = regexes
        # one pass over clean text (the common case) before the per-pattern passes
        self._any = re.compile("|".join(f"(?:{r.pattern})" for r in regexes)) if regexes else None

    def text(self, value: str) -> str:
        if self._any is None or not value or self._any.search(value) is None:
            return value
        spans: list[tuple[int, int]] = []
        for regex in self._regexes:
            spans.extend(m.span() for m in regex.finditer(value) if m.end() > m.start())
        if not spans:
            return value
        spans.sort()
        out: list[str] = []
        pos = 0
        start, end = spans[0]
        for s, e in spans[1:]:
            if s <= end:  # overlapping or touching: one secret, one mask
                end = max(end, e)
                continue
            out += [value[pos:start], MASK]
            pos = end
            start, end = s, e
        out += [value[pos:start], MASK, value[end:]]
        return "".join(out)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data with every string redacted (keys too, and numbers that spell a
        secret)."""
        kind = type(value)  # exact types before isinstance: every event's data passes here
        if kind is str or isinstance(value, str):
            return self.text(value)
        if kind is dict or isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if kind is bool or value is None:
            return value
        if kind is list or isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self._any is None:
                return value
            text = str(value)
            return MASK if self.text(text) != text else value
        # any other object is stored as its text (store.db.dumps): redact that text if it holds a secret
        text = str(value)
        clean = self.text(text)
        return value if clean == text else clean

    @classmethod
    def from_policy(cls, policy: Mapping[str, Any] | None, extra_env: Iterable[str] = ()) -> Redactor:
        secrets = policy.get("secrets") if isinstance(policy, Mapping) else None
        env = list(secrets.get("env") or []) if isinstance(secrets, Mapping) else []
        patterns = list(secrets.get("patterns") or []) if isinstance(secrets, Mapping) else []
        return cls([*env, *extra_env], patterns)
