"""A pipeline file compiled into what the scheduler runs: steps, their order, retries, handlers.

The validator has already accepted the file (preflight), so this only normalises: durations to
seconds, `retries: 2` to a full policy, and `on_failure: <action>` to a synthetic handler step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from builderos.catalog import ACTIONS
from builderos.model.common import duration_seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max: int = 0
    backoff: str = "exponential"
    initial: float = 1.0
    max_delay: float = 60.0
    jitter: bool = False

    def delay(self, attempt: int, rand: float) -> float:
        """Wait before attempt `attempt + 1` (attempt counts from 1); `rand` in [0, 1) for jitter."""
        if self.backoff == "fixed":
            base = self.initial
        elif self.backoff == "linear":
            base = self.initial * attempt
        else:
            base = self.initial * (2 ** (attempt - 1))
        base = min(base, self.max_delay)
        return base * (0.5 + rand / 2) if self.jitter else base


@dataclass(slots=True)
class StepPlan:
    id: str
    kind: str  # agent | run | uses
    target: str  # agent name, command, or action name
    needs: list[str]
    condition: Any = None
    with_: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    gate: str | None = None
    on_failure: str | None = None
    continue_on_error: bool = False
    handler_for: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    name: str
    path: str
    sha256: str
    inputs: dict[str, Any]
    concurrency: int
    env: dict[str, Any]
    steps: dict[str, StepPlan]
    order: list[str]

    @property
    def handlers(self) -> dict[str, str]:
        return {s.id: s.handler_for for s in self.steps.values() if s.handler_for}


def _retries(value: Any) -> RetryPolicy:
    if isinstance(value, int) and not isinstance(value, bool):
        return RetryPolicy(max=value)
    if isinstance(value, dict):
        return RetryPolicy(
            max=int(value.get("max", 0)),
            backoff=str(value.get("backoff", "exponential")),
            initial=duration_seconds(value.get("initial", "1s")),
            max_delay=duration_seconds(value.get("max_delay", "60s")),
            jitter=bool(value.get("jitter", False)),
        )
    return RetryPolicy()


def compile_plan(data: dict[str, Any], path: str, text: str) -> Plan:
    steps: dict[str, StepPlan] = {}
    order: list[str] = []
    for raw in data.get("steps") or []:
        kind = next(k for k in ("agent", "run", "uses") if k in raw)
        sp = StepPlan(
            id=str(raw["id"]),
            kind=kind,
            target=str(raw[kind]),
            needs=[raw["needs"]] if isinstance(raw.get("needs"), str) else list(raw.get("needs") or []),
            condition=raw.get("if"),
            with_=dict(raw.get("with") or {}),
            env=dict(raw.get("env") or {}),
            retries=_retries(raw.get("retries")),
            timeout=duration_seconds(raw["timeout"]) if raw.get("timeout") is not None else None,
            gate=raw.get("gate"),
            on_failure=raw.get("on_failure"),
            continue_on_error=bool(raw.get("continue_on_error", False)),
            raw=dict(raw),
        )
        steps[sp.id] = sp
        order.append(sp.id)
    for sp in list(steps.values()):
        target = sp.on_failure
        if not target:
            continue
        if target in steps:
            steps[target].handler_for = sp.id
        elif target in ACTIONS:
            hid = f"{sp.id}.on_failure"
            params = {"env": _nearest_env(steps, sp)} if target in ("rollback", "deploy") else {}
            steps[hid] = StepPlan(
                hid,
                "uses",
                target,
                [],
                with_={k: v for k, v in params.items() if v},
                handler_for=sp.id,
                raw={"id": hid, "uses": target},
            )
            order.append(hid)
    return Plan(
        name=str(data.get("name")),
        path=path,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        inputs=dict(data.get("inputs") or {}),
        concurrency=max(1, int(data.get("concurrency") or 4)),
        env=dict(data.get("env") or {}),
        steps=steps,
        order=order,
    )


def _nearest_env(steps: dict[str, StepPlan], sp: StepPlan) -> str | None:
    """The environment of the closest deploy among a step's ancestors (what `on_failure: rollback` undoes)."""
    seen: set[str] = set()
    frontier = [sp.id]
    while frontier:
        nxt: list[str] = []
        for sid in frontier:
            step = steps.get(sid)
            if step is None or sid in seen:
                continue
            seen.add(sid)
            if step.kind == "uses" and step.target == "deploy" and step.with_.get("env"):
                return str(step.with_["env"])
            nxt.extend(step.needs)
        frontier = nxt
    return None
