"""What libyaml lets through that YAML forbids: the YAML test suite's invalid cases it accepts.

PyYAML's C loader is the judge of YAML, with a few known blind spots. These checks close them,
each a BOS001 at the exact place, so an invalid document is never treated as valid:
- a comment must be separated from what precedes it by white space (`]#x`, `"v"#x`, `>#x`);
- `-` alone is not a plain value inside a flow collection (`[-]`);
- the continuation lines of a flow collection or quoted scalar in block context must be indented
  more than the block around them (with spaces: a tab is not indentation);
- leading empty lines of a block scalar may not have more spaces than its first content line.
The node checks run inside the data builder (which visits every node anyway); the comment check
scans tokens only when a cheap text search finds a candidate.
"""

from __future__ import annotations

import re

import yaml

from builderos.diagnostics import Diagnostic, Span

_COMMENT_CANDIDATE = re.compile(r"[\]}\"',>|+\-0-9]#|^%[^\n]*\S#", re.MULTILINE)
_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_SCAN_CHARS = 1_000_000


def _error(line: int, col: int, message: str, hint: str) -> Diagnostic:
    return Diagnostic.make("BOS001", f"YAML syntax error: {message}", Span(line, col, line, col + 1), hint)


def comment_without_space(text: str) -> Diagnostic | None:
    """A `#` that starts a comment right after a non-space character."""
    candidates = [m.end() - 1 for m in _COMMENT_CANDIDATE.finditer(text)]
    if not candidates or len(text) > MAX_SCAN_CHARS:
        return None
    covered: list[tuple[int, int]] = []
    block_headers: list[int] = []
    try:
        for token in yaml.scan(text, Loader=_CLoader):
            if isinstance(token, yaml.ScalarToken | yaml.AnchorToken | yaml.AliasToken | yaml.TagToken):
                start, end = token.start_mark.index, token.end_mark.index
                if isinstance(token, yaml.ScalarToken) and token.style in ("|", ">"):
                    block_headers.append(start)
                    line_end = text.find("\n", start)
                    start = line_end if line_end >= 0 else len(text)  # the header is checked below
                covered.append((start, end))
    except yaml.YAMLError:
        return None
    for header in block_headers:
        m = re.match(r"[|>][0-9+\-]*#", text[header:])
        if m:
            at = header + m.end() - 1
            candidates.append(at)
    for at in sorted(set(candidates)):
        if any(s <= at < e for s, e in covered):
            continue
        line = text.count("\n", 0, at)
        col = at - (text.rfind("\n", 0, at) + 1)
        return _error(line, col, "a comment must have a space before '#'", "put a space before the '#'")
    return None


class NodeChecks:
    """Per-node strictness checks, called by the data builder with the block indentation around the node."""

    def __init__(self, text_lines: list[str]) -> None:
        self.lines = text_lines
        self.problem: Diagnostic | None = None

    def flow_dash(self, node: yaml.ScalarNode) -> None:
        if self.problem is None and not node.style and node.value == "-":
            m = node.start_mark
            self.problem = _error(
                m.line, m.column, "'-' cannot be a plain value inside [ ] or { }", "quote it: '-'"
            )

    def continuation(self, node: yaml.Node, parent_indent: int) -> None:
        """Lines after the first of a multi-line flow node must be indented more than its block parent."""
        if self.problem is not None:
            return
        s, e = node.start_mark, node.end_mark
        for line in range(s.line + 1, min(e.line, len(self.lines) - 1) + 1):
            text = self.lines[line]
            if line == e.line and e.column == 0:
                break
            stripped = text.lstrip(" ")
            if not stripped.strip():
                continue
            indent = len(text) - len(stripped)
            if indent <= parent_indent:
                what = "flow collection" if not isinstance(node, yaml.ScalarNode) else "quoted value"
                self.problem = _error(
                    line,
                    indent,
                    f"this line of a {what} must be indented more than its parent",
                    "indent continuation lines with spaces (tabs are not indentation)",
                )
                return

    def block_scalar(self, node: yaml.ScalarNode, parent_indent: int) -> None:
        """Leading empty lines of a block scalar may not have more spaces than its first content line."""
        if self.problem is not None:
            return
        header_line = node.start_mark.line
        header = self.lines[header_line][node.start_mark.column :] if header_line < len(self.lines) else ""
        if re.match(r"[|>][+\-]?[1-9]", header):
            return  # explicit indentation
        widest = -1
        widest_line = header_line
        for line in range(header_line + 1, len(self.lines)):
            text = self.lines[line]
            if text.strip(" ") == "":
                if len(text) > widest:
                    widest, widest_line = len(text), line
                continue
            indent = len(text) - len(text.lstrip(" "))
            if widest > indent and widest > 0 and indent > parent_indent:
                self.problem = _error(
                    widest_line,
                    indent,
                    "a leading empty line of a block scalar has more spaces than its first line",
                    "remove the trailing spaces of the empty lines",
                )
            return


_FLOW_DASH = re.compile(r"[\[{,][ \t]*-[ \t]*(?:[\]},]|$)", re.MULTILINE)
_BLOCK_LEADING_BLANK = re.compile(r"[|>][0-9+\-]*[ \t]*(?:#[^\n]*)?\n[ \t]+\n")


def _suspect_lines(text: str) -> bool:
    """A line that opens a bracket or a quote it does not close (a multi-line flow node)."""
    if "\t" in text:
        return True
    for line in text.split("\n"):
        if line.count("[") + line.count("{") != line.count("]") + line.count("}"):
            return True
        if line.count('"') % 2 or line.count("'") % 2:
            return True
    return False


def strict_check(text: str, root: yaml.Node | None) -> Diagnostic | None:
    """The first strictness problem of a document libyaml accepted, or None."""
    found = comment_without_space(text)
    if found is not None or root is None:
        return found
    dash = _FLOW_DASH.search(text) is not None
    continuation = _suspect_lines(text)
    blocks = _BLOCK_LEADING_BLANK.search(text) is not None
    if not (dash or continuation or blocks):
        return None
    checks = NodeChecks(text.split("\n"))
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, -1, False)]
    while stack and checks.problem is None:
        node, indent, flow = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if flow and dash:
                checks.flow_dash(node)
            elif (
                not flow
                and continuation
                and node.style in ('"', "'")
                and node.end_mark.line > node.start_mark.line
            ):
                checks.continuation(node, indent)
            elif blocks and node.style in ("|", ">"):
                checks.block_scalar(node, indent)
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                children += [k, v]
        else:
            children = list(node.value)
        if getattr(node, "flow_style", False):
            if not flow and continuation and node.end_mark.line > node.start_mark.line:
                checks.continuation(node, indent)
            stack.extend((c, indent, True) for c in reversed(children))
        else:
            stack.extend((c, node.start_mark.column, flow) for c in reversed(children))
    return checks.problem
