"""Heavy modules (pydantic models, the validator, the expression parser) imported on first use.

The daemon must answer `initialize` quickly: its first diagnostics come from a forked validation
(see prefetch.py) only if the daemon itself is ready first, so feature modules reach the heavy parts
through these functions instead of importing them at start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from builderos.diagnostics import Diagnostic
    from builderos.workspace.index import Workspace


def kind_models() -> dict[str, type[BaseModel]]:
    from builderos.model import KIND_MODELS

    return KIND_MODELS


def model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    from builderos.validate.schema import model_at as find

    return find(model, path)


def expr_functions() -> Any:
    from builderos.expr import FUNCTIONS

    return FUNCTIONS


def pipeline_roots() -> Any:
    from builderos.expr import PIPELINE_ROOTS

    return PIPELINE_ROOTS


def check_text(text: str, roots: Any, *, condition: bool = False) -> Any:
    from builderos.expr import check_text as check

    return check(text, roots, condition=condition)


def validate_document(ws: Workspace, rel: str) -> list[Diagnostic]:
    from builderos.validate.api import validate_document as validate

    return validate(ws, rel)


def is_model(tp: Any) -> bool:
    from pydantic import BaseModel

    return isinstance(tp, type) and issubclass(tp, BaseModel)
