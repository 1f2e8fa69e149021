"""The checks of an eval case on one model answer: each returns None when it passes, else why not."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from builderos.agents.loop import parse_json_answer
from builderos.evals.jsonpath import JsonPathError, find
from builderos.expr import ExprEvalError, ExprSyntaxError, evaluate, parse, truthy
from builderos.model.eval_suite import Assertion

#: (assertion, its index in the case, the answer) -> None when the judge passes it, else the reason
Judge = Callable[[Assertion, int, "Answer"], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Answer:
    """A model's answer: the text, and the JSON it holds when it parses (fences stripped)."""

    text: str
    data: Any = None
    json_error: str | None = "not parsed"

    @classmethod
    def of(cls, text: str) -> Answer:
        try:
            return cls(text, parse_json_answer(text), None)
        except ValueError as exc:
            return cls(text, None, str(exc))

    @property
    def value(self) -> Any:
        """What `output` means in an expression: the JSON when the answer is JSON, else the text."""
        return self.data if self.json_error is None else self.text


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _needs_json(answer: Answer, kind: str) -> str | None:
    if answer.json_error is not None:
        return f"{kind}: the answer is not JSON ({answer.json_error})"
    return None


def _expression(source: str) -> str:
    text = source.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return text


async def check(
    assertion: Assertion, index: int, answer: Answer, variables: dict[str, Any], judge: Judge
) -> str | None:
    """Run one assertion; the message names the assertion's type and what was expected."""
    kind = assertion.type
    value = assertion.value
    if kind == "contains":
        needle = value if isinstance(value, str) else json.dumps(value)
        return None if needle in answer.text else f"contains: {_short(needle)!r} is not in the answer"
    if kind == "regex":
        try:
            found = re.search(str(value), answer.text)
        except re.error as exc:
            return f"regex: {value!r} is not a valid regular expression ({exc})"
        return None if found else f"regex: /{_short(str(value))}/ does not match the answer"
    if kind == "equals":
        if isinstance(value, str):
            same = answer.text.strip() == value.strip()
        else:
            same = answer.json_error is None and answer.data == value
        return None if same else f"equals: the answer is not {_short(value)}"
    if kind == "json_path":
        problem = _needs_json(answer, "json_path")
        if problem:
            return problem
        path = assertion.path or "$"
        try:
            found_values = find(answer.data, path)
        except JsonPathError as exc:
            return f"json_path: {exc}"
        if not found_values:
            return f"json_path: nothing at {path}"
        if "equals" in assertion.model_fields_set and found_values[0] != assertion.equals:
            return f"json_path: {path} is {_short(found_values[0])}, expected {_short(assertion.equals)}"
        return None
    if kind == "json_schema":
        problem = _needs_json(answer, "json_schema")
        if problem:
            return problem
        schema = assertion.schema_ if assertion.schema_ is not None else value
        if not isinstance(schema, dict):
            return "json_schema: the assertion has no schema (put it under `schema:`)"
        try:
            validator_cls = jsonschema.validators.validator_for(schema)
            validator_cls.check_schema(schema)
            error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(answer.data))
        except jsonschema.exceptions.SchemaError as exc:
            return f"json_schema: the schema itself is invalid ({exc.message})"
        if error is None:
            return None
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return f"json_schema: {where}: {error.message}"
    if kind == "expr":
        source = _expression(str(value))
        try:
            result = evaluate(parse(source), {"output": answer.value, "vars": variables})
        except (ExprSyntaxError, ExprEvalError) as exc:
            return f"expr: {source}: {exc}"
        return None if truthy(result) else f"expr: {source} is false"
    if kind == "llm_judge":
        return await judge(assertion, index, answer)
    return f"unknown assertion type {kind!r}"
