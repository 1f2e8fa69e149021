"""The pipeline file kind (`ship/*.yaml`): steps that form a DAG through `needs:`.

The model only checks shapes. That a step is exactly one of `agent:`, `run:` or `uses:`
(BOS013), that ids are unique and `needs` resolve (BOS010-BOS012), and that expressions
parse (BOS030/BOS031) are checks of the validator.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from builderos.model.common import BosModel, Duration

__all__ = ["Pipeline", "PipelineInput", "Retries", "Step"]

Scalar = str | int | float | bool


class PipelineInput(BosModel):
    """An input the pipeline takes when it is run, read in expressions as `inputs.<name>`."""

    type: Literal["string", "number", "integer", "boolean", "object", "array"] = Field(
        default="string",
        description="The input's type.",
        examples=["string"],
    )
    required: bool = Field(
        default=False,
        description="Whether a run must supply this input (when it has no default).",
        examples=[True],
    )
    default: Any = Field(
        default=None,
        description="The value used when a run does not supply the input.",
        examples=["main"],
    )
    description: str | None = Field(
        default=None,
        description="What the input is for, shown when a run asks for it.",
        examples=["What the change should achieve"],
    )
    values: list[Scalar] | None = Field(
        default=None,
        description="The allowed values, when the input is a choice.",
        examples=[["stage", "prod"]],
    )


class Retries(BosModel):
    """How a failed step is retried."""

    max: int = Field(
        ge=0,
        description="How many times the step is retried after a failed attempt (0 = never).",
        examples=[2],
    )
    backoff: Literal["exponential", "fixed", "linear"] = Field(
        default="exponential",
        description="How the wait grows between attempts: doubling, constant or growing by `initial`.",
        examples=["exponential"],
    )
    initial: Duration = Field(
        default="1s",
        description="The wait before the first retry: a duration like `1s` or a number of seconds.",
        examples=["1s", 0.5],
    )
    max_delay: Duration = Field(
        default="60s",
        description="The longest wait between two attempts: a duration like `30s` or a number of seconds.",
        examples=["30s"],
    )
    jitter: bool = Field(
        default=False,
        description="Randomise each wait a little so that parallel retries do not happen together.",
        examples=[True],
    )


def _retries_form(value: object) -> str:
    return "object" if isinstance(value, dict | Retries) else "count"


RetriesSetting = Annotated[
    Annotated[Annotated[int, Field(ge=0, strict=True)], Tag("count")] | Annotated[Retries, Tag("object")],
    Discriminator(_retries_form),
]
"""`retries:` is a number of retries or a `Retries` object; errors come only from the form that was used."""


class Step(BosModel):
    """One step of a pipeline: exactly one of `agent:`, `run:` or `uses:`."""

    id: str = Field(
        min_length=1,
        description="The step's id, unique in the pipeline; used by `needs:` and as `steps.<id>`.",
        examples=["plan", "test"],
    )
    name: str | None = Field(
        default=None,
        description="A readable name for the step, shown in the run timeline.",
        examples=["Run the tests"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing what the step does.",
        examples=["Runs the test suite"],
    )
    agent: str | None = Field(
        default=None,
        description="Run the agent loop with this agent (from agents/ or builderos.yaml).",
        examples=["builder"],
    )
    run: str | None = Field(
        default=None,
        description="Run this shell command (through shell.run, subject to the policy's `commands`).",
        examples=["pytest -q"],
    )
    uses: str | None = Field(
        default=None,
        description="Run a built-in action.",
        examples=[
            "git.branch",
            "git.commit",
            "git.pr",
            "deploy",
            "rollback",
            "http.check",
            "fs.write",
            "desk.apply",
            "eval.gate",
        ],
    )
    needs: list[str] = Field(
        default_factory=list,
        description="Ids of the steps that must succeed before this one starts.",
        examples=[["plan"], ["test", "docs"]],
    )
    with_: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="Inputs of the agent's prompt or of the action; values may use `${{ … }}` expressions.",
        examples=[{"goal": "${{ inputs.goal }}"}],
    )
    env: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Environment variables for the step; values may use `${{ … }}` expressions.",
        examples=[{"PYTHONDONTWRITEBYTECODE": "1"}],
    )
    if_: str | bool | None = Field(
        default=None,
        alias="if",
        description="Run the step only when this `${{ … }}` expression (or boolean) is true, else skip it.",
        examples=["${{ steps.test.outputs.exit_code == 0 }}"],
    )
    retries: RetriesSetting | None = Field(
        default=None,
        description="Retry a failed step: a number of retries, or {max, backoff, initial, max_delay}.",
        examples=[2, {"max": 2, "backoff": "exponential", "initial": "1s", "max_delay": "30s"}],
    )
    timeout: Duration | None = Field(
        default=None,
        description="Fail an attempt that runs longer than this: a duration like `10m`, or seconds.",
        examples=["10m", 300],
    )
    gate: Literal["approval"] | None = Field(
        default=None,
        description="`approval` makes the run wait for a human before this step starts.",
        examples=["approval"],
    )
    on_failure: str | None = Field(
        default=None,
        description="A step id or built-in action to run when this step fails.",
        examples=["rollback"],
    )
    outputs: dict[str, str | None] | None = Field(
        default=None,
        description="The outputs the step declares, by name, with a description of each.",
        examples=[{"text": "The plan as text"}],
    )
    continue_on_error: bool = Field(
        default=False,
        description="Let the run go on when this step fails; steps that need it are skipped.",
        examples=[True],
    )

    @property
    def retry_policy(self) -> Retries | None:
        """`retries` as a `Retries` object (`retries: 2` is `{max: 2}` with the defaults)."""
        if self.retries is None or isinstance(self.retries, Retries):
            return self.retries
        return Retries(max=self.retries)


class Pipeline(BosModel):
    """A pipeline: steps run by agents, commands and built-in actions, ordered by `needs:`."""

    kind: Literal["pipeline"] = Field(
        default="pipeline",
        description="The file kind; only needed when the file is not under `ship/`.",
        examples=["pipeline"],
    )
    name: str = Field(
        min_length=1,
        description="The pipeline's name, used by `builderos run <name>` and by scenarios.",
        examples=["feature"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing what the pipeline does.",
        examples=["plan → generate → test → pr → deploy preview → verify"],
    )
    inputs: dict[str, PipelineInput] = Field(
        default_factory=dict,
        description="Inputs a run supplies, by name; read them as `${{ inputs.<name> }}`.",
        examples=[{"goal": {"type": "string", "required": True}}],
    )
    concurrency: int = Field(
        default=4,
        ge=1,
        description="The most steps that run at the same time.",
        examples=[4],
    )
    env: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Environment variables for every step; a step's `env` overrides them.",
        examples=[{"APP_ENV": "dev"}],
    )
    steps: list[Step] = Field(
        min_length=1,
        description="The steps; `needs:` orders them, and steps that are ready run concurrently.",
    )
