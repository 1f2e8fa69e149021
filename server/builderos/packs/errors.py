"""Why a pack was refused, in one line, with what to do about it."""

from __future__ import annotations


class PackError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
