"""The context pack kind (`context/*.json`): portable facts merged into every prompt's variables."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = ["ContextPack"]


class ContextPack(BosModel):
    """A context pack: named facts merged, in the listed order, into the variables of prompts."""

    kind: Literal["context"] = Field(
        default="context",
        description="The file kind; only needed when the file is not under `context/`.",
        examples=["context"],
    )
    id: str = Field(
        min_length=1,
        description="The pack's id, listed in `context_packs:` of builderos.yaml or an agent.",
        examples=["company"],
    )
    version: str | int = Field(
        description="The pack's version, recorded in run provenance.",
        examples=["3"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing what the pack holds.",
        examples=["Company conventions and contacts"],
    )
    facts: dict[str, Any] = Field(
        description="The facts, any JSON object; where packs share a key, the later pack wins.",
        examples=[{"company": "Acme", "style": {"python": "ruff, type hints"}}],
    )
