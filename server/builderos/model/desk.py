"""The desk file kind (`desks/<name>/desk.yaml`): a parameterised workspace template.

Parameter values are checked when a desk is applied (BOS070); the model only checks
the desk's own declaration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = ["Desk", "DeskParameter", "DeskRequires"]

Scalar = str | int | float | bool


class DeskParameter(BosModel):
    """A parameter asked for when the desk is applied, used as `${{ params.<name> }}` in its files."""

    type: Literal["string", "number", "boolean", "enum", "secret"] = Field(
        default="string",
        description="The parameter's type; `enum` takes one of `values`, a `secret` is never stored.",
        examples=["string", "enum"],
    )
    required: bool = Field(
        default=False,
        description="Whether a value must be given when the desk is applied (when there is no default).",
        examples=[True],
    )
    default: Scalar | None = Field(
        default=None,
        description="The value used when none is given.",
        examples=["MIT"],
    )
    pattern: str | None = Field(
        default=None,
        description="For strings: a regular expression the value must match.",
        examples=["^[a-z_][a-z0-9_]*$"],
    )
    min: float | None = Field(
        default=None, description="For numbers: the smallest allowed value.", examples=[1024]
    )
    max: float | None = Field(
        default=None, description="For numbers: the largest allowed value.", examples=[65535]
    )
    values: list[Scalar] | None = Field(
        default=None,
        description="For enums: the allowed values.",
        examples=[["MIT", "Apache-2.0"]],
    )
    description: str | None = Field(
        default=None,
        description="What the parameter is for, shown when the desk asks for it.",
        examples=["The Python package name"],
    )


class DeskRequires(BosModel):
    """What the desk needs to be applied."""

    builderos: str | None = Field(
        default=None,
        description="The BuilderOS versions the desk works with, as a semver range.",
        examples=[">=0.1"],
    )


class Desk(BosModel):
    """A desk: a template for a workspace (files, pipelines, agents, policies) with parameters."""

    kind: Literal["desk"] = Field(
        default="desk",
        description="The file kind; only needed when the file is not desks/<name>/desk.yaml.",
        examples=["desk"],
    )
    name: str = Field(
        min_length=1,
        description="The desk's name, used by `builderos desk apply <name>`.",
        examples=["python-service"],
    )
    version: str = Field(description="The desk's semantic version.", examples=["1.0.0"])
    description: str | None = Field(
        default=None,
        description="A sentence describing what the desk sets up.",
        examples=["A Python service with tests, a feature pipeline and safe policies"],
    )
    parameters: dict[str, DeskParameter] = Field(
        default_factory=dict,
        description="Parameters asked for when the desk is applied, by name.",
        examples=[{"package": {"type": "string", "required": True}}],
    )
    files: str = Field(
        default="template/",
        description="The folder next to desk.yaml that is copied, with `${{ params.x }}` substituted.",
        examples=["template/"],
    )
    requires: DeskRequires = Field(
        default_factory=DeskRequires,
        description="What the desk needs, such as a BuilderOS version range.",
        examples=[{"builderos": ">=0.1"}],
    )
    pipelines: list[str] = Field(
        default_factory=list,
        description="Names of the pipelines the desk sets up.",
        examples=[["feature"]],
    )
    agents: list[str] = Field(
        default_factory=list,
        description="Names of the agents the desk sets up.",
        examples=[["builder", "tester"]],
    )
