"""Hostile and odd YAML: the whole YAML test suite, alias bombs, deep nesting and oversized documents.

Every case of the YAML test suite is validated as a pipeline (`ship/case.yaml`) and as the project file
(`builderos.yaml`) in-process: no exception, positions inside the document, and BOS001/BOS090 for every
invalid case. A CLI run over all the cases at once must end cleanly with parseable JSON.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from builderos.diagnostics import Diagnostic, to_lsp_range
from builderos.validate.api import validate_document, validate_text
from builderos.workspace.index import Workspace
from builderos.workspace.yamlload import MAX_DEPTH, MAX_DOCUMENT_BYTES, load_yaml
from helpers import (
    LIBYAML_ACCEPTS_INVALID,
    YAML_SUITE,
    YAML_SUITE_MISSING,
    YamlCase,
    alias_bomb,
    codes,
    copy_shop,
    deep_flow,
    run_cli,
    write,
    yaml_suite_cases,
)

CASES = yaml_suite_cases()
needs_corpus = pytest.mark.skipif(not CASES, reason=YAML_SUITE_MISSING)
AS_FILES = {"pipeline": "ship/case.yaml", "project": "builderos.yaml"}


def _case_params() -> list[object]:
    params: list[object] = []
    for case in CASES:
        params.append(pytest.param(case, id=case.id))
    return params


@pytest.fixture(scope="module")
def shop_index(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One scanned copy of the shop; each case replaces one file's text in the index (like an editor)."""
    ws = Workspace(copy_shop(tmp_path_factory.mktemp("yaml-suite")))
    ws.scan()
    return ws


def _check_positions(diagnostics: list[Diagnostic], text: str) -> None:
    """Every range is inside the document, ordered, and converts to an LSP range. Columns may be one past
    the end of a line (a point at a line break) and a range may end at (last line + 1, 0), which libyaml
    reports when the document does not end with a line break (clients read it as the end of the text)."""
    lines = text.split("\n")
    for d in diagnostics:
        s = d.span
        assert (s.start_line, s.start_col) <= (s.end_line, s.end_col), d
        assert s.start_line >= 0 and s.start_col >= 0, d
        assert s.start_line < len(lines) and s.start_col <= len(lines[s.start_line]) + 1, d
        if s.end_line == len(lines):
            assert s.end_col == 0, d
        else:
            assert s.end_line < len(lines) and s.end_col <= len(lines[s.end_line]) + 1, d
        to_lsp_range(s, lines)
        assert (
            d.message
            and d.code.startswith("BOS")
            and d.severity in ("error", "warning", "information", "hint")
        )


def _libyaml_rejects(text: str) -> bool:
    try:
        yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return True
    return False


@needs_corpus
def test_the_corpus_is_complete() -> None:
    """Guards the parametrisation below: the corpus has its ~400 cases, about a quarter invalid."""
    assert len(CASES) >= 300, len(CASES)
    assert sum(c.is_error for c in CASES) >= 80
    known = {c.id for c in CASES}
    assert set(LIBYAML_ACCEPTS_INVALID) <= known


@needs_corpus
@pytest.mark.parametrize("case", _case_params())
@pytest.mark.parametrize("kind", sorted(AS_FILES))
def test_yaml_suite_case(shop_index: Workspace, case: YamlCase, kind: str) -> None:
    rel = AS_FILES[kind]
    text = case.text
    original = shop_index.docs[rel].text if rel in shop_index.docs else None
    try:
        doc = shop_index.set_text(rel, text, 1)
        diagnostics = validate_document(shop_index, rel)
        # The rest of the workspace survives whatever this file holds.
        for other in ("agents/builder.yaml", "ship/feature.yaml" if kind == "project" else "builderos.yaml"):
            validate_document(shop_index, other)
    finally:
        if original is None:
            shop_index.remove(rel)
        else:
            shop_index.set_text(rel, original, None)
    assert doc is not None and doc.kind is not None
    _check_positions(diagnostics, text)
    if case.is_error:
        assert codes(diagnostics) & {"BOS001", "BOS090"}, [(d.code, d.message) for d in diagnostics]
        syntax = [d for d in diagnostics if d.code in ("BOS001", "BOS090")]
        assert all(d.severity == "error" and d.hint for d in syntax)
    else:
        # Valid YAML 1.2 that libyaml (a YAML 1.1 parser) rejects is a BOS001 too: PyYAML is the judge.
        assert ("BOS001" in codes(diagnostics)) == _libyaml_rejects(text), [
            (d.code, d.message) for d in diagnostics
        ]


@needs_corpus
def test_validate_text_on_every_case() -> None:
    """The text entry point (no workspace on disk) takes every case, as each kind, without raising."""
    failures = []
    for case in CASES:
        for path in AS_FILES.values():
            diagnostics = validate_text(path, case.text)
            _check_positions(diagnostics, case.text)
            found = codes(diagnostics) & {"BOS001", "BOS090"}
            if case.is_error and not found:
                failures.append((case.id, path))
    assert failures == []


@needs_corpus
def test_cli_over_every_case_at_once(tmp_path: Path) -> None:
    """All cases as pipelines of one workspace, one `validate --format json` run."""
    root = copy_shop(tmp_path)
    files = {}
    for case in CASES:
        rel = f"ship/case-{case.slug}.yaml"
        (root / rel).write_bytes(case.path.read_bytes())
        files[rel] = case
    proc = run_cli("validate", "--format", "json", "--workspace", root, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr[-3000:])
    assert proc.stderr == ""
    report = json.loads(proc.stdout)
    by_file: dict[str, set[str]] = {}
    for d in report["diagnostics"]:
        by_file.setdefault(d["file"], set()).add(d["code"])
    assert report["summary"]["files"] >= len(files)
    missing = [
        case.id
        for rel, case in files.items()
        if case.is_error and not by_file.get(rel, set()) & {"BOS001", "BOS090"}
    ]
    assert missing == []
    assert proc.returncode == 1  # the invalid cases are errors


# -- hostile documents ---------------------------------------------------------------------------


def _cpu_ms(fn: object, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn()  # type: ignore[operator]
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


STEP_BOMB = (
    alias_bomb(9, 9)
    + "name: p\nsteps:\n  - id: a\n    run: echo\n  - id: b\n    run: echo\n    with: {x: *lol9}\n"
)


@pytest.mark.parametrize(
    ("kind", "bomb"),
    [
        pytest.param("pipeline", alias_bomb(9, 9), id="pipeline"),
        pytest.param("project", alias_bomb(9, 9), id="project"),
        pytest.param("pipeline", STEP_BOMB, id="pipeline-step"),
    ],
)
def test_alias_bomb_is_refused_fast(shop_index: Workspace, kind: str, bomb: str) -> None:
    """Billion laughs (9 levels of 9 aliases): BOS090 in under 100 ms of CPU, through the index."""
    rel = AS_FILES[kind]
    original = shop_index.docs[rel].text if rel in shop_index.docs else None
    results: list[list[Diagnostic]] = []

    def once() -> None:
        shop_index.remove(rel)  # no cached document: parse for real every time
        shop_index.set_text(rel, bomb, 1)
        results.append(validate_document(shop_index, rel))

    try:
        cpu = _cpu_ms(once)
    finally:
        if original is None:
            shop_index.remove(rel)
        else:
            shop_index.set_text(rel, original, None)
    for diagnostics in results:
        assert [d.code for d in diagnostics] == ["BOS090"]
        assert "alias" in diagnostics[0].message and diagnostics[0].hint
    assert cpu < 100, f"the alias bomb took {cpu:.1f} ms of CPU (median)"


def test_alias_bomb_through_load_yaml_is_fast() -> None:
    bomb = alias_bomb(9, 9)
    loaded = load_yaml(bomb)
    assert [d.code for d in loaded.diagnostics] == ["BOS090"] and not loaded.ok
    assert _cpu_ms(lambda: load_yaml(bomb)) < 100


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &a [*a]\n", id="self-recursive"),
        pytest.param("a: &a {b: *a}\n", id="recursive-mapping"),
        pytest.param("base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n", id="merge-ok"),
        pytest.param(
            "".join(
                f"k{i}: &k{i} {{<<: [*k{i - 1}, *k{i - 1}]}}\n" if i else "k0: &k0 {x: 1}\n"
                for i in range(40)
            ),
            id="merge-chain",
        ),
    ],
)
def test_aliases_and_merges_never_raise(text: str) -> None:
    for path in AS_FILES.values():
        diagnostics = validate_text(path, text)
        _check_positions(diagnostics, text)


def test_deep_flow_nesting_gives_bos090() -> None:
    for path in AS_FILES.values():
        diagnostics = validate_text(path, deep_flow(100_000))
        assert [d.code for d in diagnostics] == ["BOS090"]
        assert f"deeper than {MAX_DEPTH}" in diagnostics[0].message
        assert diagnostics[0].span.start_line == 0


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{a: " * 50_000, id="flow-mappings"),
        pytest.param("- " * 50_000 + "x\n", id="block-sequences-on-one-line"),
        pytest.param(
            "".join(" " * i + "k:\n" for i in range(0, 2 * (MAX_DEPTH + 50), 2)), id="block-mappings"
        ),
        pytest.param("name: deep\nsteps: " + deep_flow(100_000), id="under-steps"),
    ],
)
def test_other_deep_nesting_gives_bos090(text: str) -> None:
    for path in AS_FILES.values():
        assert [d.code for d in validate_text(path, text)] == ["BOS090"]


def test_deep_nesting_inside_a_step_does_not_crash(tmp_path: Path) -> None:
    """A pipeline whose step holds `[` × 100000 (in a subprocess: a crash must not take pytest down)."""
    root = copy_shop(tmp_path)
    write(
        root,
        "ship/deep.yaml",
        "name: deep\nsteps:\n  - id: a\n    run: echo\n    with: {x: " + deep_flow() + "}\n",
    )
    try:
        proc = run_cli("validate", "ship/deep.yaml", "--format", "json", cwd=root, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("no answer within 20 s")
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert [d["code"] for d in report["diagnostics"]] == ["BOS090"]


def test_document_over_the_size_limit_gives_bos090() -> None:
    text = "name: big\n" + "# " + "x" * MAX_DOCUMENT_BYTES + "\n"
    for path in AS_FILES.values():
        diagnostics = validate_text(path, text)
        assert [d.code for d in diagnostics] == ["BOS090"]
        assert "over the limit" in diagnostics[0].message and diagnostics[0].hint


def test_pipeline_with_steps_over_the_size_limit_gives_bos090() -> None:
    filler = "    # " + "x" * 94 + "\n"
    text = "name: big\nsteps:\n  - id: a\n    run: echo\n" + filler * (MAX_DOCUMENT_BYTES // len(filler) + 10)
    assert [d.code for d in validate_text("ship/big.yaml", text)] == ["BOS090"]


def test_validate_text_with_an_absolute_path_and_no_root(tmp_path: Path) -> None:
    assert [d.code for d in validate_text(str(tmp_path / "ship" / "p.yaml"), "name: [\n")] == ["BOS001"]


def test_yaml_suite_location_is_relative_to_the_repository() -> None:
    assert YAML_SUITE.parts[-3:] == ("shared", "corpora", "yaml-test-suite")
