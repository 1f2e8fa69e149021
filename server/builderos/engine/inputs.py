"""Run inputs checked against the pipeline's declared inputs before anything starts."""

from __future__ import annotations

from typing import Any


class InputError(Exception):
    """Bad inputs: one line naming the input, and a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _coerce(name: str, kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if kind == "number":
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise InputError(
                f"input '{name}' must be a number, got {value!r}", f"--input {name}=42"
            ) from None
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise InputError(
                f"input '{name}' must be a whole number, got {value!r}", f"--input {name}=3"
            ) from None
    if kind == "boolean":
        lowered = value.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise InputError(f"input '{name}' must be true or false, got {value!r}", f"--input {name}=true")
    return value


def check_inputs(declared: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Declared inputs with defaults filled and values typed; InputError for unknown or missing ones."""
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise InputError(f"unknown input '{name}'", f"this pipeline takes: {known}")
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = str(spec.get("type", "string"))
        if name in given:
            value = _coerce(name, kind, given[name])
            allowed = spec.get("values")
            if isinstance(allowed, list) and allowed and value not in allowed:
                raise InputError(
                    f"input '{name}' must be one of {allowed}, got {value!r}", "pick a listed value"
                )
            out[name] = value
        elif "default" in spec and spec["default"] is not None:
            out[name] = spec["default"]
        elif spec.get("required"):
            raise InputError(f"missing required input '{name}'", f"pass --input {name}=…")
    return out
