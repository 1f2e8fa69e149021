"""The scenario file kind (`scenarios/*.yaml`): a pipeline run with stubbed models and tools.

Scenarios make pipelines testable offline and deterministically: model turns, tool
results and approval decisions come from the file, and `expect` says what must happen.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = [
    "ApprovalDecision",
    "FileExpectation",
    "LlmStub",
    "Scenario",
    "ScenarioExpect",
    "ScenarioStubs",
    "ToolCallStub",
    "ToolStub",
]

RunStatus = Literal["succeeded", "failed", "cancelled", "awaiting_approval"]
StepStatus = Literal[
    "pending", "running", "awaiting_approval", "retrying", "succeeded", "failed", "skipped", "cancelled"
]


class ToolCallStub(BosModel):
    """A tool call the stubbed model makes."""

    tool: str = Field(description="The tool to call.", examples=["fs.write"])
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="The tool's arguments.",
        examples=[{"path": "src/app/health.py", "content": "def health():\n    return 'ok'\n"}],
    )


class LlmStub(BosModel):
    """One model turn of an agent step: tool calls, a final answer, or both (calls first)."""

    step: str = Field(description="The id of the agent step this turn belongs to.", examples=["plan"])
    turn: int | None = Field(
        default=None,
        ge=1,
        description="The turn number within the step (1 = first); by default turns follow the file order.",
        examples=[1],
    )
    respond: str | None = Field(
        default=None,
        description="The model's final text answer for the step.",
        examples=["1. add the route 2. add a test"],
    )
    tool_calls: list[ToolCallStub] = Field(
        default_factory=list,
        description="Tools the model calls in this turn; their results go back to the agent.",
        examples=[[{"tool": "fs.read", "args": {"path": "src/app/main.py"}}]],
    )
    json_: Any = Field(
        default=None,
        alias="json",
        description="The model's final answer as a JSON value, for prompts with `output.format: json`.",
        examples=[{"files": [{"path": "src/app/health.py"}]}],
    )


class ToolStub(BosModel):
    """The canned result of a tool or built-in action."""

    exit_code: int | None = Field(default=None, description="The exit code a command returns.", examples=[0])
    stdout: str | None = Field(
        default=None, description="What a command prints on stdout.", examples=["2 passed"]
    )
    stderr: str | None = Field(default=None, description="What a command prints on stderr.", examples=[""])
    result: Any = Field(
        default=None,
        description="The result of a tool or action that is not a command (any JSON value).",
        examples=[{"url": "http://localhost:8000"}],
    )


class ApprovalDecision(BosModel):
    """How one approval request is resolved during the scenario."""

    step: str | None = Field(
        default=None,
        description="The step whose approval request this decides; every request when omitted.",
        examples=["pr"],
    )
    decision: Literal["approve", "deny"] = Field(
        description="Approve or deny the request.",
        examples=["approve"],
    )
    comment: str | None = Field(
        default=None,
        description="The comment recorded with the decision.",
        examples=["looks good"],
    )


class ScenarioStubs(BosModel):
    """What stands in for the model, the tools and the human during the scenario."""

    llm: list[LlmStub] = Field(
        default_factory=list,
        description="Model turns per agent step, in order.",
        examples=[[{"step": "plan", "respond": "1. add the route 2. add a test"}]],
    )
    tools: dict[str, ToolStub] = Field(
        default_factory=dict,
        description="Canned results by tool or action name (e.g. shell.run, deploy, http.check).",
        examples=[{"shell.run": {"exit_code": 0, "stdout": "2 passed"}}],
    )
    approvals: Literal["approve-all", "deny-all"] | list[ApprovalDecision] | None = Field(
        default=None,
        description="How approval requests are answered: approve-all, deny-all, or a decision per step.",
        examples=["approve-all", [{"step": "pr", "decision": "approve"}]],
    )


class FileExpectation(BosModel):
    """What a file must look like after the run."""

    contains: str | None = Field(
        default=None, description="Text the file must contain.", examples=["def health"]
    )
    equals: str | None = Field(
        default=None, description="The file's exact expected content.", examples=["ok\n"]
    )
    exists: bool | None = Field(
        default=None, description="Whether the file must exist (false: must not).", examples=[True]
    )
    sha256: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="The SHA-256 (hex) the file's bytes must have.",
        examples=["5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"],
    )


class ScenarioExpect(BosModel):
    """What the scenario's run must produce."""

    status: RunStatus | None = Field(
        default=None,
        description="The run's expected final status.",
        examples=["succeeded"],
    )
    steps: dict[str, StepStatus] = Field(
        default_factory=dict,
        description="Expected final status of steps, by step id.",
        examples=[{"test": "succeeded", "review": "succeeded"}],
    )
    outputs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Expected step outputs: step id → output name → value.",
        examples=[{"test": {"exit_code": 0}}],
    )
    files: dict[str, FileExpectation] = Field(
        default_factory=dict,
        description="Expectations on workspace files after the run, by path.",
        examples=[{"src/app/health.py": {"contains": "def health"}}],
    )
    golden: str | None = Field(
        default=None,
        description=(
            "A golden trace file (workspace-relative) compared with the run's trace, ids, times, "
            "time-dependent hashes and absolute paths normalised; `--update-golden` writes it."
        ),
        examples=["scenarios/golden/add-health.trace.json"],
    )


class Scenario(BosModel):
    """A scenario test of a pipeline: inputs, stubbed models and tools, and expectations."""

    kind: Literal["scenario"] = Field(
        default="scenario",
        description="The file kind; only needed when the file is not under `scenarios/`.",
        examples=["scenario"],
    )
    name: str = Field(
        min_length=1,
        description="The scenario's name, used by `builderos scenario run <name>`.",
        examples=["add-health"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing what the scenario checks.",
        examples=["The feature pipeline adds a /health endpoint"],
    )
    pipeline: str = Field(description="The name of the pipeline to run.", examples=["feature"])
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="The pipeline's inputs for this run.",
        examples=[{"goal": "Add a /health endpoint"}],
    )
    stubs: ScenarioStubs = Field(
        default_factory=ScenarioStubs,
        description="Stubbed model turns, tool results and approval decisions.",
    )
    expect: ScenarioExpect = Field(
        default_factory=ScenarioExpect,
        description="What the run must produce; checked by `builderos scenario run`.",
    )
