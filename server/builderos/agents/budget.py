"""The run budget (builderos.yaml `budgets: {run_tokens, run_usd}`), shared by every step of a run.

`charge` is called after each model response with the tokens it used: it returns a warning the
first time a limit is 80% used, and raises `StepFailed` (not retryable) once a limit is reached.
`check` raises before a request when the run has nothing left. Steps of one run share one event
loop, so the counters need no lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builderos.engine.interfaces import StepFailed

WARN_AT = 0.8


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float


#: List prices (USD per million tokens) of some hosted models, matched by the longest prefix of the
#: model name; pass `prices=` to override or extend. A model not listed costs nothing (local models),
#: so `run_usd` only limits what it can price.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-haiku-4": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4.1-nano": Price(0.1, 0.4),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4.1": Price(2.0, 8.0),
}


def _price(value: Price | Mapping[str, Any] | tuple[float, float]) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        return Price(float(value.get("input", 0.0)), float(value.get("output", 0.0)))
    return Price(float(value[0]), float(value[1]))


class Budget:
    def __init__(
        self,
        run_tokens: int | None = None,
        run_usd: float | None = None,
        prices: Mapping[str, Price | Mapping[str, Any] | tuple[float, float]] | None = None,
    ) -> None:
        self.run_tokens = run_tokens
        self.run_usd = run_usd
        self.prices: dict[str, Price] = {
            **DEFAULT_PRICES,
            **{k: _price(v) for k, v in (prices or {}).items()},
        }
        self.tokens = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.usd = 0.0
        self._warned: set[str] = set()

    @classmethod
    def from_project(
        cls,
        project: Mapping[str, Any] | None,
        prices: Mapping[str, Price | Mapping[str, Any] | tuple[float, float]] | None = None,
    ) -> Budget:
        """From builderos.yaml data (its `budgets:`; no limits when absent)."""
        raw = project.get("budgets") if isinstance(project, Mapping) else None
        budgets = raw if isinstance(raw, Mapping) else {}
        tokens = budgets.get("run_tokens")
        usd = budgets.get("run_usd")
        return cls(
            int(tokens) if tokens is not None else None,
            float(usd) if usd is not None else None,
            prices,
        )

    def price_of(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self.prices:
            return self.prices[model]
        best = max((k for k in self.prices if model.startswith(k)), key=len, default=None)
        return self.prices[best] if best is not None else None

    def cost(self, input_tokens: int, output_tokens: int, model: str | None) -> float:
        price = self.price_of(model)
        if price is None:
            return 0.0
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000

    def charge(self, tokens: Mapping[str, int] | int, model: str | None = None) -> str | None:
        """Add one response's tokens (`{"input": n, "output": m}`, or a total); a warning the first
        time a limit is 80% used; StepFailed when a limit is reached."""
        if isinstance(tokens, Mapping):
            inp, out = int(tokens.get("input", 0)), int(tokens.get("output", 0))
        else:
            inp, out = int(tokens), 0
        self.input_tokens += inp
        self.output_tokens += out
        self.tokens += inp + out
        self.usd += self.cost(inp, out, model)
        self.check()
        return self._warning()

    def restore(self, tokens: Mapping[str, Any], model: str | None = None) -> None:
        """Count a response an earlier process of this run already paid for (a resumed run goes on
        with what it had spent, not from zero); no warning again for a threshold already passed."""
        inp, out = int(tokens.get("input") or 0), int(tokens.get("output") or 0)
        self.input_tokens += inp
        self.output_tokens += out
        self.tokens += inp + out
        self.usd += self.cost(inp, out, model)
        if self.run_tokens is not None and self.tokens >= WARN_AT * self.run_tokens:
            self._warned.add("tokens")
        if self.run_usd is not None and self.usd > 0 and self.usd >= WARN_AT * self.run_usd:
            self._warned.add("usd")

    def check(self) -> None:
        """StepFailed when the run has used its budget."""
        if self.run_tokens is not None and self.tokens >= self.run_tokens:
            raise StepFailed(
                f"run budget exceeded: {self.tokens:,} of {self.run_tokens:,} tokens", retryable=False
            )
        if self.run_usd is not None and self.usd >= self.run_usd and self.usd > 0:
            raise StepFailed(
                f"run budget exceeded: ${self.usd:,.2f} of ${self.run_usd:,.2f}", retryable=False
            )

    def _warning(self) -> str | None:
        warnings = []
        if (
            self.run_tokens is not None
            and "tokens" not in self._warned
            and self.tokens >= WARN_AT * self.run_tokens
        ):
            self._warned.add("tokens")
            warnings.append(f"{self.tokens:,} of {self.run_tokens:,} tokens")
        if (
            self.run_usd is not None
            and "usd" not in self._warned
            and self.usd > 0
            and self.usd >= WARN_AT * self.run_usd
        ):
            self._warned.add("usd")
            warnings.append(f"${self.usd:,.2f} of ${self.run_usd:,.2f}")
        if not warnings:
            return None
        return "budget 80% used: " + ", ".join(warnings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens": {"input": self.input_tokens, "output": self.output_tokens, "total": self.tokens},
            "usd": round(self.usd, 6),
            "limits": {"run_tokens": self.run_tokens, "run_usd": self.run_usd},
        }
