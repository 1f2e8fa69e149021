"""Tests of the `${{ … }}` expression language (builderos.expr)."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest

from builderos.expr import (
    EVAL_ROOTS,
    MAX_DEPTH,
    MAX_SOURCE_CHARS,
    ExprEvalError,
    ExprSyntaxError,
    check_text,
    clear_cache,
    evaluate,
    evaluate_condition,
    find_interpolations,
    functions_used,
    parse,
    references,
    render,
    render_value,
    to_text,
    truthy,
)
from builderos.expr.lexer import tokenize
from builderos.expr.nodes import Access, Binary, Call, Expr, ListExpr, Literal, Logical, Not, Path

CTX: dict[str, Any] = {
    "inputs": {"goal": "Add a /health endpoint", "count": 3, "env": "stage", "empty": ""},
    "steps": {
        "plan": {"outputs": {"text": "1. add the route"}},
        "test": {"outputs": {"exit_code": 0, "stdout": "2 passed"}},
        "preview": {"outputs": {"url": "https://preview.example"}},
        "generate": {
            "outputs": {
                "json": {"files": [{"path": "src/app/health.py"}, {"path": "tests/test_health.py"}]},
                "raw": '{"ok": true, "n": [1, 2]}',
            }
        },
    },
    "env": {"HOME": "/home/dev"},
    "run": {"id": "01HRUN"},
}


def ev(source: str, context: dict[str, Any] | None = None) -> Any:
    return evaluate(parse(source), CTX if context is None else context)


def show(expr: Expr) -> str:
    """A compact s-expression, so precedence tests can compare whole trees."""
    if isinstance(expr, Literal):
        return repr(expr.value)
    if isinstance(expr, Path):
        parts = "".join(f".{s.key}" if isinstance(s.key, str) else f"[{s.key!r}]" for s in expr.segments)
        return expr.root + parts
    if isinstance(expr, Not):
        return f"(! {show(expr.operand)})"
    if isinstance(expr, Binary):
        return f"({expr.op} {show(expr.left)} {show(expr.right)})"
    if isinstance(expr, Logical):
        return f"({expr.op} {' '.join(show(o) for o in expr.operands)})"
    if isinstance(expr, Call):
        return f"{expr.name}({', '.join(show(a) for a in expr.args)})"
    if isinstance(expr, ListExpr):
        return f"[{', '.join(show(i) for i in expr.items)}]"
    assert isinstance(expr, Access)
    return f"access({show(expr.base)})"


def syntax_error(source: str) -> ExprSyntaxError:
    with pytest.raises(ExprSyntaxError) as info:
        parse(source)
    return info.value


# -- tokenizer -------------------------------------------------------------------------------------


def test_tokenizer_kinds_offsets_and_values() -> None:
    toks = tokenize("steps.my-step.outputs['a b'] >= -1.5e2 && !x")
    assert [(t.kind, t.text) for t in toks] == [
        ("name", "steps"),
        ("op", "."),
        ("name", "my-step"),
        ("op", "."),
        ("name", "outputs"),
        ("op", "["),
        ("string", "'a b'"),
        ("op", "]"),
        ("op", ">="),
        ("number", "-1.5e2"),
        ("op", "&&"),
        ("op", "!"),
        ("name", "x"),
        ("eof", ""),
    ]
    assert toks[6].value == "a b"
    assert toks[9].value == -150.0
    assert (toks[2].start, toks[2].end) == (6, 13)
    assert toks[-1].start == len("steps.my-step.outputs['a b'] >= -1.5e2 && !x")


def test_tokenizer_longest_operator_wins() -> None:
    texts = [t.text for t in tokenize("a<=b!=c==d>=e<f>g")][:-1]
    assert texts == ["a", "<=", "b", "!=", "c", "==", "d", ">=", "e", "<", "f", ">", "g"]


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'a\nb\tc\\d'", "a\nb\tc\\d"),
        (r"'caf\u00e9'", "café"),
        ("'}}'", "}}"),
        ('"single \' inside"', "single ' inside"),
        ("''", ""),
    ],
)
def test_tokenizer_string_escapes(source: str, value: str) -> None:
    (tok, eof) = tokenize(source)
    assert tok.kind == "string" and tok.value == value and eof.kind == "eof"


@pytest.mark.parametrize(
    ("source", "value"), [("0", 0), ("42", 42), ("-7", -7), ("2.5", 2.5), ("1e3", 1000.0), ("1E-2", 0.01)]
)
def test_tokenizer_numbers(source: str, value: float) -> None:
    tok = tokenize(source)[0]
    assert tok.kind == "number" and tok.value == value and type(tok.value) is type(value)


def test_tokenizer_whitespace_and_newlines_are_skipped() -> None:
    toks = tokenize("\n  a\t==\r\n 'b'  ")
    assert [(t.text, t.start) for t in toks] == [("a", 3), ("==", 5), ("'b'", 10), ("", 15)]


def test_hyphen_before_digit_is_a_negative_number_only_at_token_start() -> None:
    assert [t.text for t in tokenize("step-2 == -2")][:-1] == ["step-2", "==", "-2"]


# -- precedence and structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("a || b && c", "(|| a (&& b c))"),
        ("a && b || c", "(|| (&& a b) c)"),
        ("a || b || c || d", "(|| a b c d)"),
        ("a == b && c != d", "(&& (== a b) (!= c d))"),
        ("a < b == c >= d", "(== (< a b) (>= c d))"),
        ("a == b in c", "(== a (in b c))"),
        ("a < b in c", "(< a (in b c))"),
        ("!a in b", "(in (! a) b)"),
        ("!a == b", "(== (! a) b)"),
        ("!!a", "(! (! a))"),
        ("!(a == b)", "(! (== a b))"),
        ("(a || b) && c", "(&& (|| a b) c)"),
        ("a == b == c", "(== (== a b) c)"),
        ("a.b['c'][0]", "a.b.c[0]"),
        ("len(a.b) >= 2", "(>= len(a.b) 2)"),
        ("contains(a, 'x') || startsWith(b, 'y')", "(|| contains(a, 'x') startsWith(b, 'y'))"),
        ("x in ['a', 1, null]", "(in x ['a', 1, None])"),
        ("true && false || null", "(|| (&& True False) None)"),
    ],
)
def test_precedence(source: str, tree: str) -> None:
    assert show(parse(source)) == tree


def test_precedence_by_evaluation() -> None:
    # If && and || had equal precedence (left to right) these would differ.
    assert ev("true || true && false") is True
    assert ev("false && false || true") is True
    assert ev("!false && false") is False
    assert ev("!(false && false)") is True


def test_node_offsets() -> None:
    expr = parse("  len(steps.a) == 2 ")
    assert isinstance(expr, Binary)
    assert (expr.start, expr.end, expr.op_start, expr.op_end) == (2, 19, 15, 17)
    assert isinstance(expr.left, Call) and (expr.left.name_start, expr.left.name_end) == (2, 5)


def test_parse_is_cached() -> None:
    assert parse("steps.plan.outputs.text") is parse("steps.plan.outputs.text")
    clear_cache()
    assert parse("a == 1") is parse("a == 1")


# -- operators --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 == 1", True),
        ("1 == 1.0", True),
        ("1 == '1'", False),  # strict: numbers never equal numeric strings
        ("true == 1", False),
        ("'A' == 'a'", False),
        ("null == null", True),
        ("null == ''", False),
        ("steps.nope.outputs.x == null", True),
        ("fromJSON('[1, {\"a\": 2}]') == fromJSON('[1.0, {\"a\": 2}]')", True),
        ("1 != 2", True),
        ("1 != '1'", True),
        ("'a' != 'a'", False),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2.5", True),
        ("2 >= 3", False),
        ("'apple' < 'banana'", True),
        ("1 < '2'", False),  # incompatible types: false, not an error
        ("null < 1", False),
        ("true > false", False),
        ("'b' in 'abc'", True),
        ("'z' in 'abc'", False),
        ("2 in [1, 2]", True),
        ("'2' in [1, 2]", False),
        ("'goal' in inputs", True),
        ("1 in 'a1'", False),
        ("'x' in null", False),
        ("'x' in 5", False),
        ("!true", False),
        ("!''", True),
        ("!0", True),
        ("!'0'", False),
        ("true && 'x'", True),
        ("'' || 0", False),
        ("1 || missing.thing", True),
    ],
)
def test_operators(source: str, expected: bool) -> None:
    assert ev(source) is expected


def test_logical_operators_short_circuit() -> None:
    # The right side would raise (len of a number) if it were evaluated.
    assert ev("false && len(1) > 0") is False
    assert ev("true || len(1) > 0") is True
    with pytest.raises(ExprEvalError):
        ev("true && len(1) > 0")


def test_truthiness_and_text() -> None:
    falsy: tuple[Any, ...] = (None, False, 0, 0.0, float("nan"), "", [], {})
    truthy_values: tuple[Any, ...] = (True, 1, -0.5, "false", [0], {"a": None})
    assert [truthy(v) for v in falsy] == [False] * len(falsy)
    assert [truthy(v) for v in truthy_values] == [True] * len(truthy_values)
    assert [to_text(v) for v in (None, True, False, 3, 2.0, 2.5, "s")] == [
        "",
        "true",
        "false",
        "3",
        "2",
        "2.5",
        "s",
    ]
    assert to_text({"a": [1, "x"]}) == '{"a":[1,"x"]}'


# -- functions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("len('abc')", 3),
        ("len(steps.generate.outputs.json.files)", 2),
        ("len(inputs)", 4),
        ("len(steps.missing.outputs.files)", 0),
        ("contains('hello', 'ell')", True),
        ("contains(steps.test.outputs.stdout, 'passed')", True),
        ("contains(['a', 'b'], 'b')", True),
        ("contains(['a', 'b'], 'c')", False),
        ("contains(inputs, 'goal')", True),
        ("contains(steps.missing.x, 'a')", False),
        ("startsWith(steps.preview.outputs.url, 'https://')", True),
        ("startsWith('abc', 'b')", False),
        ("startsWith(null, 'a')", False),
        ("endsWith('report.json', '.json')", True),
        ("endsWith('report.json', '.yaml')", False),
        ("format('{0} has {1} files', run.id, 2)", "01HRUN has 2 files"),
        ("format('{{literal}} {0}{0}', true)", "{literal} truetrue"),
        ("toJSON(steps.generate.outputs.json.files[0])", '{"path":"src/app/health.py"}'),
        ("toJSON(null)", "null"),
        ("fromJSON(steps.generate.outputs.raw).n[1]", 2),
        ("fromJSON('true')", True),
        ("fromJSON(steps.missing.raw)", None),
    ],
)
def test_functions(source: str, expected: Any) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("len(1)", "len() needs a string, list or object, got number"),
        ("len(true)", "len() needs a string, list or object, got boolean"),
        ("contains(1, 'a')", "contains() needs a string, list or object as its first argument, got number"),
        ("startsWith(1, 'a')", "startsWith() needs two strings, got number"),
        ("endsWith('a', [1])", "endsWith() needs two strings, got list"),
        ("fromJSON('{nope')", "fromJSON(): invalid JSON"),
        ("fromJSON('NaN')", "fromJSON(): NaN is not valid JSON"),
        ("fromJSON(3)", "fromJSON() needs a string, got number"),
        ("format(inputs.goal, 1)", "format(): stray '}'"),  # a template only known at run time
    ],
)
def test_function_errors(source: str, message: str) -> None:
    context = {**CTX, "inputs": {"goal": "brace } here"}}
    with pytest.raises(ExprEvalError) as info:
        ev(source, context)
    assert info.value.message.startswith(message)
    expr = parse(source)
    assert (info.value.start, info.value.end) == (expr.start, expr.end)


def test_functions_used() -> None:
    expr = parse("len(x) > 0 && contains(toJSON(y), 'a')")
    assert functions_used(expr) == [("len", 0, 3), ("contains", 14, 22), ("toJSON", 23, 29)]


# -- syntax errors with exact offsets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "end", "message"),
    [
        ("", 0, 0, "empty expression"),
        ("a ==", 2, 4, "expected a value after '=='"),
        ("(a && b", 0, 1, "expected ')' to close '(' at column 1"),
        ("x && (a && b c", 13, 14, "expected ')' to close '(' at column 6"),
        ("a b", 2, 3, "unexpected 'b'"),
        ("a = b", 2, 3, "unexpected character '='"),
        ("a & b", 2, 3, "unexpected character '&'"),
        ("'abc", 0, 4, "unterminated string"),
        ("x == 'a\\qb'", 7, 9, "invalid escape '\\q' in string"),
        ("steps.", 5, 6, "expected a name after '.'"),
        ("steps.x.1", 8, 9, "expected a name after '.', found '1'"),
        ("files[0", 5, 6, "expected ']' to close '[' at column 6"),
        ("files[]", 5, 7, "expected an index inside '[]'"),
        ("len(a, b)", 0, 9, "len() takes 1 argument, got 2"),
        ("contains(a)", 0, 11, "contains() takes 2 arguments, got 1"),
        ("format()", 0, 8, "format() takes at least 1 argument, got 0"),
        ("x && lenght(y)", 5, 11, "unknown function 'lenght'"),
        ("steps.x(1)", 0, 7, "'steps.x' is not a function"),
        ("1.2.3 == x", 0, 5, "invalid number '1.2.3'"),
        ("a ) b", 2, 3, "unexpected ')'"),
        ("in", 0, 2, "expected a value, found 'in'"),
        ("!", 0, 1, "expected a value after '!'"),
        ("len(", 3, 4, "expected a value after '('"),
        ("a || , b", 5, 6, "expected a value, found ','"),
        ("format('{1}', a)", 7, 12, "format(): placeholder {1} has no value (1 given)"),
        ("'x'.length", 3, 4, "unexpected '.'"),
        ("a ${{ b }}", 2, 5, "unexpected '${{'"),
        ("x == \u201cy\u201d", 5, 6, "unexpected character '\u201c'"),
        ("a == [1, 2", 5, 6, "expected ']' to close '[' at column 6"),
    ],
)
def test_syntax_error_offsets(source: str, offset: int, end: int, message: str) -> None:
    err = syntax_error(source)
    assert (err.offset, err.end_offset, err.message) == (offset, end, message)
    assert err.hint or source in ("steps.",)  # every error but a bare trailing dot carries a hint


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("lenght(x)", "did you mean 'len'?"),
        ("startswith(a, 'b')", "did you mean 'startsWith'?"),
        ("tojson(a)", "did you mean 'toJSON'?"),
        ("frobnicate(a)", "the functions are len(), contains(), startsWith()"),
        ("a = b", "use '==' to compare"),
        ("a | b", "use '||' for 'or'"),
        ("(a", "add ')' at the end"),
        ("steps.x.1", "use [n] to index a list"),
        ("inputs.café", "names use ASCII letters"),
    ],
)
def test_syntax_error_hints(source: str, hint: str) -> None:
    assert syntax_error(source).hint.startswith(hint)


def test_syntax_error_shifted() -> None:
    err = syntax_error("a ==").shifted(10)
    assert (err.offset, err.end_offset) == (12, 14)


# -- interpolations -------------------------------------------------------------------------------


def test_find_interpolations_in_mixed_text() -> None:
    text = "url: ${{ steps.preview.outputs.url }}/health?run=${{run.id}}"
    found = find_interpolations(text)
    assert [(i.start, i.end, i.expr_start, i.expr_end, i.source) for i in found] == [
        (5, 37, 8, 35, " steps.preview.outputs.url "),
        (49, 60, 52, 58, "run.id"),
    ]
    for i in found:
        assert text[i.start : i.end].startswith("${{") and text[i.start : i.end].endswith("}}")
        assert text[i.expr_start : i.expr_end] == i.source and i.error is None


def test_find_interpolations_respects_quotes() -> None:
    text = "${{ format('{{0}}', 'a}}b') }} tail"
    (found,) = find_interpolations(text)
    assert found.source == " format('{{0}}', 'a}}b') " and text[found.end :] == " tail"


def test_find_interpolations_unterminated() -> None:
    text = "ok ${{ a }} then ${{ steps.x"
    first, second = find_interpolations(text)
    assert first.error is None
    assert second.error == "unterminated '${{'"
    assert (second.start, second.end, second.expr_start, second.source) == (17, len(text), 20, " steps.x")


def test_find_interpolations_none_and_unterminated_quote() -> None:
    assert find_interpolations("plain text, $ { {") == []
    # An unterminated quote falls back to the first '}}', so the parser reports the string.
    (found,) = find_interpolations("${{ 'abc }} x")
    assert found.source == " 'abc " and found.error is None


def test_render_whole_string_keeps_type() -> None:
    assert render("${{ steps.test.outputs.exit_code }}", CTX) == 0
    assert render("  ${{ len(steps.generate.outputs.json.files) }}\n", CTX) == 2
    assert render("${{ steps.test.outputs.exit_code == 0 }}", CTX) is True
    assert (
        render("${{ steps.generate.outputs.json.files }}", CTX)
        == CTX["steps"]["generate"]["outputs"]["json"]["files"]
    )
    assert render("${{ steps.nope.outputs.x }}", CTX) is None


def test_render_mixed_text_concatenates() -> None:
    assert render("${{ steps.preview.outputs.url }}/health", CTX) == "https://preview.example/health"
    assert render("[${{ null }}|${{ true }}|${{ 2.0 }}|${{ [1, 'a'] }}]", CTX) == '[|true|2|[1,"a"]]'
    assert render("${{ 1 }}${{ 2 }}", CTX) == "12"
    assert render("no expressions here", CTX) == "no expressions here"


def test_render_errors_are_relative_to_the_text() -> None:
    with pytest.raises(ExprSyntaxError) as syntax:
        render("abc ${{ a == }}", CTX)
    assert (syntax.value.offset, syntax.value.end_offset) == (10, 12)
    with pytest.raises(ExprSyntaxError) as open_:
        render("x ${{ a", CTX)
    assert (open_.value.offset, open_.value.end_offset) == (2, 5)
    with pytest.raises(ExprEvalError) as evalerr:
        render("n=${{ len(1) }}", CTX)
    assert (evalerr.value.start, evalerr.value.end) == (6, 12)


def test_render_value_and_conditions() -> None:
    value = {"goal": "${{ inputs.goal }}", "n": ["${{ inputs.count }}", 5], "flag": True}
    assert render_value(value, CTX) == {"goal": "Add a /health endpoint", "n": [3, 5], "flag": True}
    assert evaluate_condition("${{ steps.test.outputs.exit_code == 0 }}", CTX) is True
    assert evaluate_condition("steps.test.outputs.exit_code != 0", CTX) is False
    assert evaluate_condition(False, CTX) is False


# -- references and checks --------------------------------------------------------------------------


def test_references_with_part_spans() -> None:
    source = "steps.plan.outputs.text == inputs['goal'] && steps.generate.outputs.json.files[0].path"
    refs = references(parse(source))
    assert [(r.root, r.parts, r.dynamic) for r in refs] == [
        ("steps", ["plan", "outputs", "text"], False),
        ("inputs", ["goal"], False),
        ("steps", ["generate", "outputs", "json", "files", 0, "path"], False),
    ]
    plan, goal, gen = refs
    assert (plan.start, plan.end) == (0, 23)
    assert [source[a:b] for a, b in plan.part_spans] == ["plan", "outputs", "text"]
    assert plan.root_span == (0, 5)
    assert [source[a:b] for a, b in goal.part_spans] == ["'goal'"]
    assert source[gen.start : gen.end] == "steps.generate.outputs.json.files[0].path"
    assert [source[a:b] for a, b in gen.part_spans][3:] == ["files", "0", "path"]


def test_references_dynamic_index_and_nested() -> None:
    source = "steps[inputs.step].outputs.x || len(fromJSON(env.J).a) > 0"
    refs = references(parse(source))
    assert [(r.root, r.parts, r.dynamic) for r in refs] == [
        ("steps", [], True),
        ("inputs", ["step"], False),
        ("env", ["J"], False),
    ]
    assert source[refs[0].start : refs[0].end] == "steps[inputs.step].outputs.x"


def test_check_text_reports_syntax_and_unknown_roots_at_text_offsets() -> None:
    text = "${{ step.plan.outputs.x }} and ${{ (a }} and ${{ inputs.goal }}"
    result = check_text(text)
    assert [(p.code, p.message, text[p.start : p.end]) for p in result.problems] == [
        ("BOS031", "unknown context 'step'", "step"),
        ("BOS030", "expected ')' to close '(' at column 2", "("),
    ]
    assert result.problems[0].hint == "did you mean 'steps'?"
    assert [text[r.part_spans[0][0] : r.part_spans[0][1]] for r in result.references] == ["plan", "goal"]
    assert result.whole is False


def test_check_text_roots_are_a_parameter() -> None:
    text = "${{ len(output.files) >= 2 && vars.goal != '' }}"
    assert [p.message for p in check_text(text).problems] == [
        "unknown context 'output'",
        "unknown context 'vars'",
    ]
    result = check_text(text, EVAL_ROOTS)
    assert result.problems == [] and result.whole is True
    assert [name for name, _, _ in result.functions] == ["len"]


def test_check_text_is_cached_but_returns_fresh_lists() -> None:
    first = check_text("${{ nope.x }}")
    first.problems.clear()
    second = check_text("${{ nope.x }}")
    assert [p.code for p in second.problems] == ["BOS031"]
    assert second.references[0] is check_text("${{ nope.x }}").references[0]


def test_check_text_conditions() -> None:
    assert check_text("steps.test.outputs.exit_code == 0", condition=True).problems == []
    bare = check_text("steps.x ==", condition=True).problems
    assert [(p.code, p.start, p.end) for p in bare] == [("BOS030", 8, 10)]
    mixed = check_text("${{ inputs.a }} == 1", condition=True).problems
    assert [(p.code, p.message) for p in mixed] == [("BOS030", "a condition must be a single expression")]
    unterminated = check_text("${{ a", condition=True).problems
    assert [(p.code, p.start, p.end) for p in unterminated] == [("BOS030", 0, 3)]


# -- evaluation against a context -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("inputs.goal", "Add a /health endpoint"),
        ("steps.plan.outputs.text", "1. add the route"),
        ("env.HOME", "/home/dev"),
        ("run.id", "01HRUN"),
        ("steps.generate.outputs.json.files[1].path", "tests/test_health.py"),
        ("steps['generate'].outputs['json'].files[0]['path']", "src/app/health.py"),
        ("steps[inputs.which].outputs.text", None),  # inputs.which is missing -> null index -> null
        ("steps.generate.outputs.json.files[2]", None),
        ("steps.generate.outputs.json.files[-1]", None),
        ("steps.generate.outputs.json.files.path", None),
        ("steps.plan.outputs.text[0]", None),
        ("unknown_root.anything", None),
        ("fromJSON(steps.generate.outputs.raw).ok", True),
        ("[inputs.count, 'x']", [3, "x"]),
        ("inputs.env in ['stage', 'prod']", True),
    ],
)
def test_evaluate_paths(source: str, expected: Any) -> None:
    assert ev(source) == expected


def test_evaluate_computed_index() -> None:
    context = {"inputs": {"which": "plan", "i": 1}, "steps": CTX["steps"]}
    assert ev("steps[inputs.which].outputs.text", context) == "1. add the route"
    assert ev("steps.generate.outputs.json.files[inputs.i].path", context) == "tests/test_health.py"


def test_evaluate_never_reads_attributes() -> None:
    class Secretive:
        password = "hunter2"

    assert ev("obj.password", {"obj": Secretive()}) is None
    assert ev("s.__class__", {"s": "text"}) is None


# -- hostile input ----------------------------------------------------------------------------------


def test_too_long_source() -> None:
    err = syntax_error("a" * (MAX_SOURCE_CHARS + 5))
    assert (err.offset, err.end_offset) == (MAX_SOURCE_CHARS, MAX_SOURCE_CHARS + 5)
    assert "too long" in err.message
    parse("a" * MAX_SOURCE_CHARS)  # the limit itself is allowed


@pytest.mark.parametrize(
    ("opener", "closer"), [("(", ")"), ("!", ""), ("len(", ")"), ("a[", "]"), ("[", "]"), ("toJSON(", ")")]
)
def test_nesting_limit(opener: str, closer: str) -> None:
    parse(opener * MAX_DEPTH + "0" + closer * MAX_DEPTH)  # exactly at the limit: fine
    err = syntax_error(opener * (MAX_DEPTH + 1) + "0" + closer * (MAX_DEPTH + 1))
    assert "nested too deeply" in err.message
    # It points at the first bracket (or '!') too many.
    offset = MAX_DEPTH * len(opener) + len(opener) - 1
    assert (err.offset, err.end_offset) == (offset, offset + 1)


def test_nesting_limit_offset_points_at_the_first_opener_too_many() -> None:
    err = syntax_error("(" * 100 + "a" + ")" * 100)
    assert (err.offset, err.end_offset) == (64, 65)


def test_deep_input_never_raises_recursion_error() -> None:
    hostile = [
        "(" * 5000,
        "!" * 5000 + "a",
        "a == " * 2000 + "a",
        "[" * 3000,
        "len(" * 2000,
        "a" + "[b" * 2000,
        "(a || " * 3000 + "b" + ")" * 3000,
    ]
    for source in hostile:
        with pytest.raises(ExprSyntaxError):
            parse(source)


def test_long_flat_chains_are_fine() -> None:
    source = " || ".join(["a"] * 2000)
    expr = parse(source)
    assert isinstance(expr, Logical) and len(expr.operands) == 2000 and expr.depth == 1
    assert evaluate(expr, {"a": False}) is False
    path = parse("a" + "[0]" * 2000)  # a long static path is flat too
    assert isinstance(path, Path) and len(path.segments) == 2000 and path.depth == 0


def test_max_nesting_fits_well_inside_the_default_recursion_limit() -> None:
    # Parse and evaluate the deepest legal expressions with only ~500 frames to spare.
    sources = [
        "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH,
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        "!" * MAX_DEPTH + "a",
    ]
    old = sys.getrecursionlimit()
    clear_cache()
    sys.setrecursionlimit(len(inspect.stack()) + 500)
    try:
        for source in sources:
            evaluate(parse(source), {"a": 1})
    finally:
        sys.setrecursionlimit(old)


def test_deeply_nested_data_is_an_eval_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ExprEvalError):
        ev("a == b", {"a": deep, "b": deep})
    with pytest.raises(ExprEvalError):
        ev("toJSON(a)", {"a": deep})
    with pytest.raises(ExprEvalError):
        ev("fromJSON(s)", {"s": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(ExprEvalError):
        render("x ${{ a }}", {"a": deep})
