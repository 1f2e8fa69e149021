"""Shared base class and field types for the models of BuilderOS files.

Every file model derives from `BosModel`, which forbids unknown keys so that a typo
in a YAML file becomes an error (BOS002) instead of a silently ignored setting.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, TypeAlias

from pydantic import BaseModel, ConfigDict, PlainValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = [
    "DURATION_PATTERN",
    "BosModel",
    "Duration",
    "DurationStr",
    "duration_seconds",
]

DURATION_PATTERN = r"^\d+(\.\d+)?(ms|s|m|h)$"
"""A duration string: a number followed by a unit, `ms`, `s`, `m` or `h` (e.g. `1s`, `10m`)."""

_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class BosModel(BaseModel):
    """Base of every BuilderOS file model: unknown keys are errors, YAML keys may be aliases."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


DurationStr: TypeAlias = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
"""A duration written with a unit, such as `500ms`, `1s`, `10m` or `1.5h`."""

_DURATION_HINT = "a duration such as 500ms, 30s, 10m or 1.5h, or a number of seconds"


def _validate_duration(value: object) -> str | int | float:
    """Accept a duration string or a non-negative number, with one clear error otherwise."""
    if isinstance(value, str):
        if _DURATION_RE.match(value):
            return value
        raise PydanticCustomError("duration_format", f"Expected {_DURATION_HINT}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and value >= 0:
            return value
        raise PydanticCustomError(
            "duration_range", "A duration must be a finite number of seconds, at least 0"
        )
    raise PydanticCustomError("duration_type", f"Expected {_DURATION_HINT}")


Duration: TypeAlias = Annotated[
    str | int | float,
    PlainValidator(_validate_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0},
            ]
        }
    ),
]
"""A duration: a string with a unit (`30s`, `10m`) or a plain number of seconds.

Validation errors are a single error at the field's location with type `duration_format`,
`duration_range` or `duration_type`.
"""


def duration_seconds(value: str | int | float) -> float:
    """Convert a `Duration` value (`"10m"`, `"1.5s"`, `30`) to seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION_RE.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (expected e.g. 500ms, 30s, 10m, 1h)")
    unit = match.group(2)
    return float(value[: -len(unit)]) * _UNIT_SECONDS[unit]
