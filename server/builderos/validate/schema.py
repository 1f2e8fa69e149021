"""Model validation (pydantic) turned into BOS002/BOS003 diagnostics at the exact key or value."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from builderos.diagnostics import did_you_mean
from builderos.validate.report import Report

Loc = tuple[str | int, ...]


def model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that describes the mapping at `path` under `model` (for key suggestions)."""
    current: Any = model
    for part in path:
        current = _unwrap_model(current)
        if current is None:
            return None
        if isinstance(part, int):
            current = _item_type(current)
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _fields_by_key(current).get(part)
            if field is None:
                return None
            current = field
        else:
            current = _value_type(current)
    found = _unwrap_model(current)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


@lru_cache(maxsize=256)
def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def keys_of(model: type[BaseModel]) -> list[str]:
    return list(_fields_by_key(model))


def _unwrap_model(tp: Any) -> Any:
    """Strip Optional/Annotated/Union down to the BaseModel or container inside."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap_model(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        for option in options:
            inner = _unwrap_model(option)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        for option in options:
            if typing.get_origin(option) in (list, dict):
                return option
        return options[0] if options else None
    return tp


def _item_type(tp: Any) -> Any:
    args = typing.get_args(tp)
    return args[0] if typing.get_origin(tp) is list and args else None


def _value_type(tp: Any) -> Any:
    args = typing.get_args(tp)
    return args[1] if typing.get_origin(tp) is dict and len(args) == 2 else None


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _resolve(data: Any, loc: Loc) -> tuple[Loc, Loc]:
    """Split a pydantic loc into the real data path and the union-member tags pydantic inserts."""
    path: list[str | int] = []
    tags: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if _has(current, part):
            path.append(part)
            current = current[part]
        elif i == len(loc) - 1 and isinstance(current, dict):
            path.append(part)  # a missing or extra key at this level
        else:
            tags.append(part)
    return tuple(path), tuple(tags)


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "list_type": "a list",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "none_required": "nothing",
}


def _label(path: Loc, owner: str = "the document") -> str:
    return ".".join(str(p) for p in path) or owner


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected(errors: list[dict[str, Any]]) -> list[str]:
    words: list[str] = []
    for err in errors:
        word = _TYPE_WORDS.get(err["type"])
        if err["type"] == "literal_error":
            word = "one of " + str(err.get("ctx", {}).get("expected", ""))
        elif err["type"] == "string_pattern_mismatch":
            word = "text matching " + str(err.get("ctx", {}).get("pattern", ""))
        if word and word not in words:
            words.append(word)
    return words


def report_validation_error(
    report: Report, model: type[BaseModel], data: Any, exc: ValidationError, base: Loc = (), owner: str = ""
) -> None:
    """Turn every pydantic error into one diagnostic; errors of one union are merged."""
    grouped: dict[Loc, list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        path, _ = _resolve(data, tuple(err["loc"]))
        grouped.setdefault(path, []).append(dict(err))
    for path, errors in grouped.items():
        full = base + path
        kinds = {e["type"] for e in errors}
        if "extra_forbidden" in kinds:
            key = str(path[-1])
            owner_model = model_at(model, path[:-1])
            known = keys_of(owner_model) if owner_model else []
            guess = did_you_mean(key, known)
            where = f" in {_label(base + path[:-1])}" if len(full) > 1 else ""
            message = f"unknown key '{key}'{where}"
            hint = f"known keys: {', '.join(known)}" if known else "remove it"
            if guess:
                report.add(
                    "BOS002", f"{message}: did you mean '{guess}'?", full, hint, "key", replacement=guess
                )
            else:
                report.add("BOS002", message, full, hint, "key")
            continue
        if "missing" in kinds:
            key = str(path[-1])
            report.add(
                "BOS003",
                f"missing required key '{key}' in {_label(base + path[:-1], owner or 'the document')}",
                full[:-1],
                f"add '{key}:'",
                "head",
                missing_key=key,
            )
            continue
        value = errors[0].get("input")
        expected = _expected(errors)
        if "literal_error" in kinds and isinstance(value, str):
            options = [str(o) for e in errors for o in _literal_options(e)]
            guess = did_you_mean(value, options)
            message = f"bad value {value!r} for '{_label(full)}': expected one of {', '.join(options)}"
            if guess:
                report.add(
                    "BOS003",
                    message + f" — did you mean '{guess}'?",
                    full,
                    f"use one of: {', '.join(options)}",
                    replacement=guess,
                )
            else:
                report.add("BOS003", message, full, "use one of the listed values")
            continue
        if expected:
            message = f"'{_label(full)}' should be {' or '.join(expected)}, not {_describe(value)}"
            report.add("BOS003", message, full, _hint_for(errors))
            continue
        msg = "; ".join(sorted({str(e["msg"]) for e in errors}))
        report.add("BOS003", f"bad value for '{_label(full)}': {msg}", full, _hint_for(errors))


def _literal_options(err: dict[str, Any]) -> list[str]:
    expected = str(err.get("ctx", {}).get("expected", ""))
    return [p.strip().strip("'") for p in expected.replace(" or ", ",").split(",") if p.strip()]


def _hint_for(errors: list[dict[str, Any]]) -> str:
    if any(e["type"] == "string_pattern_mismatch" and "ms|s|m|h" in str(e.get("ctx")) for e in errors):
        return "write a duration such as 500ms, 30s, 10m or 1h"
    return "see the hover on this key for what it takes"


@lru_cache(maxsize=64)
def adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def check_model(report: Report, model: type[BaseModel], data: Any, base: Loc = (), owner: str = "") -> bool:
    """Validate `data` against `model`; report findings under `base`; True when valid.

    `owner` names the mapping in messages when the path is empty (a step checked on its own).
    """
    try:
        model.model_validate(data)
    except ValidationError as exc:
        report_validation_error(report, model, data, exc, base, owner)
        return False
    return True
