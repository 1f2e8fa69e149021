"""Parameter values checked against a desk's declarations, with the name and the broken rule.

Values come as text from the command line (`--param port=8080`) or typed from the editor; both are
turned into the declared type. Secret values are kept in memory only: `public_params` masks them.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from builderos.desks.errors import ParamError
from builderos.model.desk import Desk, DeskParameter

MASK = "***"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def resolve_params(desk: Desk, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value (given, else default); raises ParamError on the first problem."""
    for name in given:
        if name not in desk.parameters:
            close = difflib.get_close_matches(name, list(desk.parameters), n=1)
            known = ", ".join(desk.parameters) or "none"
            hint = f"did you mean '{close[0]}'?" if close else f"the desk's parameters: {known}"
            raise ParamError(name, "unknown", f"desk '{desk.name}' has no such parameter", hint)
    values: dict[str, Any] = {}
    for name, spec in desk.parameters.items():
        if name in given and given[name] is not None:
            values[name] = check_value(name, spec, given[name])
        elif spec.default is not None:
            values[name] = spec.default
        elif spec.required:
            raise ParamError(name, "required", "a value is required", f"pass --param {name}=VALUE")
        else:
            values[name] = None
    return values


def public_params(desk: Desk, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values as they may be written down: secrets replaced by a mask."""
    return {
        k: (MASK if desk.parameters[k].type == "secret" and v is not None else v)
        for k, v in values.items()
        if k in desk.parameters
    }


def secret_values(desk: Desk, values: Mapping[str, Any]) -> list[str]:
    return [
        str(v)
        for k, v in values.items()
        if k in desk.parameters and desk.parameters[k].type == "secret" and v
    ]


def check_value(name: str, spec: DeskParameter, raw: Any) -> Any:
    """One value turned into its declared type and checked against its rules."""
    kind = spec.type
    if kind == "number":
        value = _number(name, raw)
        if spec.min is not None and value < spec.min:
            raise ParamError(
                name,
                "min",
                f"{_show(value)} is below the minimum {_show(spec.min)}",
                f"use a value from {_show(spec.min)} to {_show(spec.max)}"
                if spec.max is not None
                else f"use at least {_show(spec.min)}",
            )
        if spec.max is not None and value > spec.max:
            raise ParamError(
                name,
                "max",
                f"{_show(value)} is above the maximum {_show(spec.max)}",
                f"use a value from {_show(spec.min)} to {_show(spec.max)}"
                if spec.min is not None
                else f"use at most {_show(spec.max)}",
            )
        return value
    if kind == "boolean":
        return _boolean(name, raw)
    if kind == "enum":
        allowed = list(spec.values or [])
        for option in allowed:
            if option == raw or str(option) == str(raw).strip():
                return option
        shown = ", ".join(str(v) for v in allowed)
        raise ParamError(name, "enum", f"{raw!r} is not one of {shown}", f"pick one of: {shown}")
    if not isinstance(raw, str):
        raise ParamError(
            name, "type", f"expected text, got {type(raw).__name__}", "pass the value as a string"
        )
    if spec.pattern is not None and re.search(spec.pattern, raw) is None:
        shown = MASK if kind == "secret" else repr(raw)
        raise ParamError(
            name,
            "pattern",
            f"{shown} does not match the pattern {spec.pattern}",
            spec.description or "change the value to match the pattern",
        )
    return raw


def _number(name: str, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise ParamError(
            name, "type", f"expected a number, got {str(raw).lower()}", "pass a number such as 8080"
        )
    if isinstance(raw, int | float):
        value: int | float = raw
    else:
        text = str(raw).strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ParamError(
                    name, "type", f"expected a number, got {raw!r}", "pass a number such as 8080"
                ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(name, "type", f"expected a finite number, got {raw!r}", "pass a number such as 8080")
    return value


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ParamError(name, "type", f"expected true or false, got {raw!r}", "pass true or false")


def _show(value: float | int | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
