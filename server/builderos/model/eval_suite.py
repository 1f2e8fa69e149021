"""The eval file kind (`evals/*.yaml`): test cases with assertions for one prompt version.

(The module is not called `eval` so that it does not shadow the builtin.)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = ["Assertion", "EvalCase", "EvalSuite"]


class Assertion(BosModel):
    """A check on the model's output for one case."""

    type: Literal["contains", "regex", "equals", "json_path", "json_schema", "expr", "llm_judge"] = Field(
        description=(
            "The kind of check: contains, regex or equals on the text; json_path or json_schema on "
            "JSON output; expr evaluates an expression over `output`; llm_judge asks a model."
        ),
        examples=["contains", "json_path", "expr"],
    )
    value: Any = Field(
        default=None,
        description="The text, pattern, expected value or expression the check uses.",
        examples=["def test_", "len(output.files) >= 2"],
    )
    path: str | None = Field(
        default=None,
        description="For json_path: the JSONPath of the value to check.",
        examples=["$.files[0].path"],
    )
    equals: Any = Field(
        default=None,
        description="For json_path: the value found at `path` must equal this.",
        examples=["tests/test_health.py"],
    )
    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="For json_schema: the JSON Schema the output must satisfy.",
        examples=[{"type": "object", "required": ["files"]}],
    )
    rubric: str | None = Field(
        default=None,
        description="For llm_judge: what the judge checks the output against.",
        examples=["The answer includes a unit test for the new code"],
    )
    model: str | None = Field(
        default=None,
        description="For llm_judge: the model profile of the judge.",
        examples=["claude"],
    )
    replies: list[str] = Field(
        default_factory=list,
        description=(
            "For llm_judge with a `scripted` judge profile (offline): the judge's verdicts in order, "
            "run i of the case gets replies[i % len]; a verdict starts with PASS or FAIL."
        ),
        examples=[["PASS", "FAIL: no test in the answer"]],
    )


class EvalCase(BosModel):
    """One input to the prompt and the checks its output must pass."""

    name: str = Field(
        min_length=1, description="The case's name, shown in results.", examples=["writes a test"]
    )
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Values of the prompt's inputs for this case.",
        examples=[{"goal": "add a health check"}],
    )
    assert_: list[Assertion] = Field(
        default_factory=list,
        alias="assert",
        description="Checks the output must pass; the case passes when all of them do.",
        examples=[[{"type": "contains", "value": "def test_"}]],
    )
    replies: list[str | dict[str, Any] | list[Any]] = Field(
        default_factory=list,
        description=(
            "Scripted answers for an offline (`scripted`) model profile, so the suite runs without a "
            "model: run i of the case gets replies[i % len]; a mapping or list is sent as its JSON text."
        ),
        examples=[['{"files": [{"path": "tests/test_health.py"}]}'], [{"files": [{"path": "src/app/x.py"}]}]],
    )


class EvalSuite(BosModel):
    """An eval suite: cases run against one prompt version, with a pass rate to reach."""

    kind: Literal["eval"] = Field(
        default="eval",
        description="The file kind; only needed when the file is not under `evals/`.",
        examples=["eval"],
    )
    name: str = Field(
        min_length=1,
        description="The suite's name, used by `builderos eval <name>`.",
        examples=["builder-basic"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing what the suite measures.",
        examples=["The builder prompt writes tests"],
    )
    prompt: str = Field(
        description="The prompt under test as `name@version` (or a range).",
        examples=["builder@1.2.0"],
    )
    model: str | None = Field(
        default=None,
        description="The model profile to run the cases with; defaults to `models.default`.",
        examples=["offline"],
    )
    require_pass_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="The fraction of case runs (0 to 1) that must pass for the suite to pass.",
        examples=[0.9],
    )
    repeat: int = Field(
        default=1,
        ge=1,
        description="How many times each case runs, to measure flakiness.",
        examples=[3],
    )
    cases: list[EvalCase] = Field(
        min_length=1,
        description="The cases.",
    )
