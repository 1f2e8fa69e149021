"""The one error a desk operation raises: a one-line message and a hint the user can act on."""

from __future__ import annotations


class DeskError(Exception):
    """A desk cannot be found, applied or upgraded; `usage` marks mistakes in what was asked for."""

    def __init__(self, message: str, hint: str = "", usage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.usage = usage


class ParamError(DeskError):
    """A parameter value breaks its declaration; `param` names it and `rule` says which rule."""

    def __init__(self, param: str, rule: str, message: str, hint: str = "") -> None:
        super().__init__(f"parameter '{param}': {message}", hint, usage=True)
        self.param = param
        self.rule = rule
