"""Eval results on disk: `.builderos/evals/{suite}/results.json` (the latest) and
`.builderos/evals/{suite}/runs/{evalRunId}.json` (the history), plus the semver bump they suggest."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EVALS_DIR = "evals"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(slots=True)
class CaseResult:
    name: str
    runs: int
    passes: int
    pass_rate: float
    ci95: tuple[float, float]
    flaky: bool
    failures: list[str] = field(default_factory=list)  # distinct reasons, in order of first sight
    outputs: list[str] = field(default_factory=list)  # one per run, redacted and truncated

    @property
    def passed(self) -> bool:
        return self.runs > 0 and self.passes == self.runs


@dataclass(slots=True)
class SuiteResult:
    suite: str
    file: str
    eval_run_id: str
    prompt: str  # name@version
    prompt_sha256: str
    profile: str
    provider: str
    model: str
    pass_rate: float
    required: float
    passed: bool
    cases: list[CaseResult]
    started_at: str
    ended_at: str
    requests: int  # provider requests this run sent (0 when everything came from the cache)
    cache_hits: int
    suggested_bump: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["evalRunId"] = data.pop("eval_run_id")
        data["passRate"] = data.pop("pass_rate")
        for case in data["cases"]:
            case["passRate"] = case.pop("pass_rate")
            case["ci95"] = list(case["ci95"])
        return data


def suite_dir(store_dir: Path, suite: str) -> Path:
    return store_dir / EVALS_DIR / (_UNSAFE.sub("_", suite) or "_")


def read_latest(store_dir: Path, suite: str) -> dict[str, Any] | None:
    """The last stored result of a suite, or None (missing or unreadable)."""
    try:
        data = json.loads((suite_dir(store_dir, suite) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def store(store_dir: Path, result: SuiteResult) -> Path:
    """Write the run to the history and as the latest result; returns the latest file."""
    folder = suite_dir(store_dir, result.suite)
    data = result.as_json()
    _write(folder / "runs" / f"{result.eval_run_id}.json", data)
    latest = folder / "results.json"
    _write(latest, data)
    return latest


def suggest_bump(previous: dict[str, Any] | None, cases: list[CaseResult]) -> dict[str, Any] | None:
    """The semver bump the change of results suggests: a case that passed before and fails now is
    `major`, new passing cases `minor`, any other change `patch`; None when nothing changed."""
    if previous is None:
        return None
    before: dict[str, float] = {}
    for case in previous.get("cases") or []:
        if isinstance(case, dict) and isinstance(case.get("name"), str):
            rate = case.get("passRate")
            before[case["name"]] = float(rate) if isinstance(rate, int | float) else 0.0
    since = str(previous.get("prompt") or "the last run")
    regressed = [c.name for c in cases if before.get(c.name) == 1.0 and not c.passed]
    if regressed:
        return {"level": "major", "reason": f"failing now, passed with {since}: " + ", ".join(regressed)}
    added = [c.name for c in cases if c.name not in before and c.passed]
    if added:
        return {"level": "minor", "reason": "new passing cases: " + ", ".join(added)}
    now = {c.name: c.pass_rate for c in cases}
    if now != before:
        changed = sorted(set(now) ^ set(before) | {n for n in now if n in before and now[n] != before[n]})
        return {"level": "patch", "reason": "results changed: " + ", ".join(changed)}
    return None
