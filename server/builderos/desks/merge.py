"""Three-way merge of one text file (merge3, the algorithm of bzr/breezy), git-style markers on conflict."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from merge3 import Merge3


@dataclass(frozen=True)
class Merged:
    text: str
    conflicts: int


def merge_text(base: str, yours: str, theirs: str, their_label: str) -> Merged:
    """Your edits and the desk's edits together; overlapping changes marked as a git conflict."""
    m3 = Merge3(base.splitlines(True), yours.splitlines(True), theirs.splitlines(True))
    conflicts = sum(1 for region in m3.merge_regions() if region[0] == "conflict")
    lines = list(
        m3.merge_lines(
            name_a="yours",
            name_b=their_label,
            start_marker="<<<<<<<",
            mid_marker="=======",
            end_marker=">>>>>>>",
        )
    )
    return Merged("".join(_ensure_newline_before_markers(lines)), conflicts)


def _ensure_newline_before_markers(lines: list[str]) -> list[str]:
    """A side without a final newline would glue a marker to its last line."""
    out: list[str] = []
    for line in lines:
        if out and not out[-1].endswith("\n") and line.startswith(("=======", ">>>>>>>", "<<<<<<<")):
            out[-1] += "\n"
        out.append(line)
    return out


def unified(a: str, b: str, from_label: str, to_label: str) -> str:
    return "".join(
        difflib.unified_diff(a.splitlines(True), b.splitlines(True), fromfile=from_label, tofile=to_label)
    )
