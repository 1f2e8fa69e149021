"""The prompt file kind (`prompts/*.yaml`): a versioned template with a changelog.

Versions are plain strings here; the validator checks semver (BOS052), the changelog
entry for the version (BOS051) and edits without a version bump (BOS050).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = ["ChangelogEntry", "Prompt", "PromptOutput"]


class ChangelogEntry(BosModel):
    """What changed in one version of a prompt."""

    version: str = Field(description="The version this entry describes (semver).", examples=["1.2.0"])
    notes: str = Field(
        description="What changed in this version and why.",
        examples=["Ask for a test with every change"],
    )
    date: dt.date | str | None = Field(
        default=None,
        description="When the version was released (YYYY-MM-DD).",
        examples=["2025-01-15"],
    )


class PromptOutput(BosModel):
    """The shape of the model's answer to a prompt."""

    format: Literal["text", "json"] = Field(
        default="text",
        description="`text` for a free-form answer, `json` for a JSON document.",
        examples=["json"],
    )
    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema the JSON answer must satisfy (only with `format: json`).",
        examples=[{"type": "object", "required": ["files"]}],
    )


class Prompt(BosModel):
    """A versioned prompt template; agents select it with `prompt: name@range`."""

    kind: Literal["prompt"] = Field(
        default="prompt",
        description="The file kind; only needed when the file is not under `prompts/`.",
        examples=["prompt"],
    )
    name: str = Field(
        min_length=1,
        description="The prompt's name; several files may hold different versions of one name.",
        examples=["builder"],
    )
    version: str = Field(
        description="The prompt's semantic version; bump it whenever the template changes.",
        examples=["1.2.0"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing what the prompt asks for.",
        examples=["Plans and writes a code change with a test"],
    )
    changelog: list[ChangelogEntry] = Field(
        default_factory=list,
        description="One entry per version, newest first; the current `version` must have an entry.",
        examples=[[{"version": "1.2.0", "notes": "Ask for a test with every change"}]],
    )
    inputs: list[str] = Field(
        default_factory=list,
        description="Variables the template uses, supplied by a step's `with:` or an eval case's `vars:`.",
        examples=[["goal", "plan"]],
    )
    template: str = Field(
        description="The prompt text; `{{ name }}` inserts an input, `{{ project.name }}` project data.",
        examples=["You are the Builder for {{ project.name }}. Goal: {{ goal }}\n"],
    )
    output: PromptOutput = Field(
        default_factory=PromptOutput,
        description="The expected answer format: text, or JSON with an optional schema.",
        examples=[{"format": "json"}],
    )
    model: str | None = Field(
        default=None,
        description="The model profile (from builderos.yaml) this prompt is written and tested for.",
        examples=["local"],
    )
