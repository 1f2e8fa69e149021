"""Every diagnostic code of SPEC §3 (but BOS050), each from one small change to the example workspace.

Each case copies the shop workspace, changes one file, validates the workspace as the CLI does and
checks the code, its severity, the exact range (0-based lines, code-point columns, end exclusive) and
the key words of the message. The changed file must hold no other finding than the expected ones
(BOS041, the approval plan, is information and ignored unless it is the code under test).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from builderos.diagnostics import SEVERITY, Diagnostic
from builderos.workspace.yamlload import MAX_DOCUMENT_BYTES
from helpers import alias_bomb, copy_shop, deep_flow, edit, span_of, validate, write

Range = tuple[int, int, int, int]


@dataclass(frozen=True)
class Case:
    """One change (`old` -> `new` in `rel`; `old=None` writes a new file) and what it must produce."""

    id: str
    rel: str
    old: str | None
    new: str
    code: str
    ranges: tuple[Range, ...]
    words: tuple[str, ...]
    also: frozenset[str] = field(default_factory=frozenset)  # other codes expected in the same file
    at: str | None = None  # the file that gets the diagnostic, when it is not the changed one

    @property
    def target(self) -> str:
        return self.at or self.rel


def C(
    id: str,
    rel: str,
    old: str | None,
    new: str,
    code: str,
    ranges: Range | tuple[Range, ...],
    *words: str,
    also: tuple[str, ...] = (),
    at: str | None = None,
) -> Case:
    if ranges and isinstance(ranges[0], int):
        ranges = (ranges,)  # type: ignore[assignment]
    return Case(id, rel, old, new, code, ranges, words, frozenset(also), at)  # type: ignore[arg-type]


#: SPEC §3: every code is an error except these.
SPEC_SEVERITY = {"BOS040": "warning", "BOS041": "information", "BOS050": "warning", "BOS051": "warning"}


def spec_severity(code: str) -> str:
    return SPEC_SEVERITY.get(code, "error")


FEATURE = "ship/feature.yaml"
HOTFIX = "ship/hotfix.yaml"
BUILDER = "agents/builder.yaml"
DOCWRITER_PROMPT = "prompts/docwriter.yaml"
DESK = "desks/shop-desk/desk.yaml"

CASES = [
    # BOS001 YAML syntax error
    C(
        "BOS001-unclosed-flow-mapping",
        FEATURE,
        '    with: {goal: "${{ inputs.goal }}"}\n    outputs',
        '    with: {goal: "${{ inputs.goal }}"\n    outputs',
        "BOS001",
        (10, 4, 10, 5),
        "YAML syntax error",
        "did not find expected ',' or '}'",
    ),
    C(
        "BOS001-mapping-in-plain-value",
        BUILDER,
        "role: Builder",
        "role: Builder: senior",
        "BOS001",
        (2, 13, 2, 14),
        "YAML syntax error",
        "mapping values are not allowed",
    ),
    # BOS002 unknown key, with "did you mean"
    C(
        "BOS002-top-level",
        FEATURE,
        "concurrency: 4",
        "concurency: 4",
        "BOS002",
        (5, 0, 5, 10),
        "unknown key 'concurency'",
        "did you mean 'concurrency'",
    ),
    C(
        "BOS002-in-a-step",
        FEATURE,
        "    timeout: 10m",
        "    timout: 10m",
        "BOS002",
        (16, 4, 16, 10),
        "unknown key 'timout'",
        "did you mean 'timeout'",
    ),
    # BOS003 wrong type, missing required key, bad value, duplicate key
    C(
        "BOS003-missing-required-key",
        FEATURE,
        "name: feature\n",
        "",
        "BOS003",
        (0, 0, 0, 4),
        "missing required key 'name'",
    ),
    C(
        "BOS003-wrong-type",
        FEATURE,
        "concurrency: 4",
        "concurrency: four",
        "BOS003",
        (5, 13, 5, 17),
        "'concurrency' should be a whole number",
        "'four'",
    ),
    C(
        "BOS003-wrong-type-in-agent",
        BUILDER,
        "max_turns: 12",
        "max_turns: twelve",
        "BOS003",
        (7, 11, 7, 17),
        "'max_turns' should be a whole number",
    ),
    C(
        "BOS003-bad-enum-value",
        FEATURE,
        "backoff: exponential",
        "backoff: exponentail",
        "BOS003",
        (15, 31, 15, 42),
        "bad value 'exponentail'",
        "retries.backoff",
        "exponential, fixed, linear",
        "did you mean 'exponential'",
    ),
    C(
        "BOS003-duplicate-key",
        FEATURE,
        "    needs: [review]\n    gate: approval",
        "    needs: [review]\n    gate: approval\n    gate: approval",
        "BOS003",
        (33, 4, 33, 8),
        "duplicate key 'gate'",
    ),
    # BOS010 duplicate step id
    C(
        "BOS010",
        HOTFIX,
        "    gate: approval",
        "    gate: approval\n  - id: branch\n    run: echo again",
        "BOS010",
        (29, 8, 29, 14),
        "duplicate step id 'branch'",
        "step 1",
    ),
    # BOS011 needs names an unknown step
    C(
        "BOS011",
        FEATURE,
        "needs: [review]",
        "needs: [reviwe]",
        "BOS011",
        (31, 12, 31, 18),
        "unknown step",
        "'reviwe'",
        "did you mean 'review'",
    ),
    # BOS012 dependency cycle, on every `needs` entry of the cycle, naming it
    C(
        "BOS012",
        HOTFIX,
        "    needs: [check, test]",
        "    needs: [check, test, pr]",
        "BOS012",
        ((23, 25, 23, 27), (27, 12, 27, 18)),
        "dependency cycle",
        "commit → pr → commit",
    ),
    C(
        "BOS012-three-steps",
        HOTFIX,
        "    run: python -m compileall -q src\n    needs: [branch]",
        "    run: python -m compileall -q src\n    needs: [branch, pr]",
        "BOS012",
        ((14, 20, 14, 22), (23, 12, 23, 17), (27, 12, 27, 18)),
        "dependency cycle",
        "check → pr → commit → check",
    ),
    # BOS013 a step is both agent:/run:/uses: or none of them
    C(
        "BOS013-two-kinds",
        HOTFIX,
        "    uses: git.branch\n",
        "    uses: git.branch\n    run: git switch -c x\n",
        "BOS013",
        (9, 4, 9, 8),
        "exactly one of agent:, run: or uses:",
    ),
    C(
        "BOS013-no-kind",
        HOTFIX,
        "    run: python -m compileall -q src\n",
        "",
        "BOS013",
        (11, 4, 11, 6),
        "step 'check' does nothing",
        "agent:, run: or uses:",
    ),
    # BOS020 unknown agent
    C(
        "BOS020",
        FEATURE,
        "  - id: plan\n    agent: builder",
        "  - id: plan\n    agent: buidler",
        "BOS020",
        (8, 11, 8, 18),
        "unknown agent 'buidler'",
        "did you mean 'builder'",
    ),
    # BOS021 unknown prompt
    C(
        "BOS021",
        BUILDER,
        "prompt: builder@^1.2",
        "prompt: bilder@^1.2",
        "BOS021",
        (4, 8, 4, 19),
        "unknown prompt 'bilder'",
        "did you mean 'builder'",
    ),
    # BOS022 no prompt version satisfies the range (and a range that is not one)
    C(
        "BOS022-no-satisfying-version",
        BUILDER,
        "prompt: builder@^1.2",
        "prompt: builder@^9.0",
        "BOS022",
        (4, 8, 4, 20),
        "no version of prompt 'builder' satisfies '^9.0'",
        "1.2.0, 1.1.0",
    ),
    C(
        "BOS022-bad-range",
        BUILDER,
        "prompt: builder@^1.2",
        "prompt: builder@^^1.x.y",
        "BOS022",
        (4, 8, 4, 23),
        "'^^1.x.y' is not a version range",
    ),
    C(
        "BOS022-eval-needs-an-exact-version",
        "evals/builder-basic.yaml",
        "prompt: builder@1.2.0",
        "prompt: builder@^1.2",
        "BOS022",
        (3, 8, 3, 20),
        "'^1.2' is not an exact version of prompt 'builder'",
    ),
    C(
        "BOS022-eval-missing-version",
        "evals/builder-basic.yaml",
        "prompt: builder@1.2.0",
        "prompt: builder@1.3.0",
        "BOS022",
        (3, 8, 3, 21),
        "no version of prompt 'builder' satisfies '1.3.0'",
    ),
    # BOS023 unknown model profile
    C(
        "BOS023",
        BUILDER,
        "model: offline",
        "model: ofline",
        "BOS023",
        (5, 7, 5, 13),
        "unknown model profile 'ofline'",
        "did you mean 'offline'",
    ),
    # BOS024 unknown tool or action
    C(
        "BOS024-tool",
        BUILDER,
        "tools: [fs.read, fs.write, shell.run]",
        "tools: [fs.read, fs.wirte, shell.run]",
        "BOS024",
        (6, 17, 6, 25),
        "unknown tool 'fs.wirte'",
        "did you mean 'fs.write'",
    ),
    C(
        "BOS024-action",
        FEATURE,
        "uses: git.pr ",
        "uses: git.rp ",
        "BOS024",
        (30, 10, 30, 16),
        "unknown action 'git.rp'",
        "did you mean 'git.pr'",
    ),
    C(
        "BOS024-policy-approval-action",
        "builderos.policy.yaml",
        "  - {action: git.push, branch: main}",
        "  - {action: git.psuh, branch: main}",
        "BOS024",
        (20, 13, 20, 21),
        "unknown action 'git.psuh'",
        "did you mean 'git.push'",
    ),
    # BOS030 expression syntax error
    C(
        "BOS030",
        FEATURE,
        '    with: {goal: "${{ inputs.goal }}"}\n    outputs',
        '    with: {goal: "${{ inputs.goal == }}"}\n    outputs',
        "BOS030",
        (9, 34, 9, 36),
        "expression error",
        "'=='",
    ),
    # BOS031 expression names an unknown input, step or output, or a step not in needs
    C(
        "BOS031-unknown-input",
        FEATURE,
        '    with: {goal: "${{ inputs.goal }}"}\n    outputs',
        '    with: {goal: "${{ inputs.gaol }}"}\n    outputs',
        "BOS031",
        (9, 29, 9, 33),
        "unknown input 'gaol'",
        "did you mean 'goal'",
    ),
    C(
        "BOS031-unknown-step",
        FEATURE,
        'plan: "${{ steps.plan.outputs.text }}"',
        'plan: "${{ steps.plna.outputs.text }}"',
        "BOS031",
        (14, 56, 14, 60),
        "unknown step 'plna'",
        "did you mean 'plan'",
    ),
    C(
        "BOS031-unknown-output",
        FEATURE,
        'plan: "${{ steps.plan.outputs.text }}"',
        'plan: "${{ steps.plan.outputs.txt }}"',
        "BOS031",
        (14, 69, 14, 72),
        "step 'plan' has no output 'txt'",
        "did you mean 'text'",
    ),
    C(
        "BOS031-step-not-in-needs",
        FEATURE,
        '    with: {goal: "${{ inputs.goal }}"}\n  - id: review',
        '    with: {goal: "${{ steps.test.outputs.stdout }}"}\n  - id: review',
        "BOS031",
        (23, 28, 23, 32),
        "step 'test' is not guaranteed to run before 'docs'",
        "add 'test' to the needs of 'docs'",
    ),
    # BOS040 an agent uses a tool the policy denies (warning), on the agent's tool
    C(
        "BOS040",
        "builderos.policy.yaml",
        "  builder:   {tools: [fs.read, fs.write, shell.run]}",
        "  builder:   {tools: [fs.read, fs.write]}",
        "BOS040",
        (6, 27, 6, 36),
        "the policy denies shell.run to agent 'builder'",
        at=BUILDER,
    ),
    # BOS041 information: the step will ask for approval, and which rule asks
    C(
        "BOS041-gate",
        HOTFIX,
        '    with: {name: "${{ inputs.branch }}"}\n',
        '    with: {name: "${{ inputs.branch }}"}\n    gate: approval\n',
        "BOS041",
        ((8, 8, 8, 14), (26, 8, 26, 10)),
        "will ask for approval",
        "gate: approval",
    ),
    C(
        "BOS041-policy-rule-deploy-to-prod",
        FEATURE,
        "    with: {env: stage}",
        "    with: {env: prod}",
        "BOS041",
        ((7, 8, 7, 12), (11, 8, 11, 16), (20, 8, 20, 12), (29, 8, 29, 10), (33, 8, 33, 15)),
        "will ask for approval",
    ),
    # BOS051 changelog has no entry for the version (warning)
    C(
        "BOS051",
        DOCWRITER_PROMPT,
        "version: 1.0.1\ndesc",
        "version: 1.0.2\ndesc",
        "BOS051",
        (2, 9, 2, 14),
        "the changelog has no entry for version 1.0.2",
    ),
    # BOS052 version is not semver
    C(
        "BOS052-version",
        DOCWRITER_PROMPT,
        "version: 1.0.1\ndesc",
        "version: v1.0.1\ndesc",
        "BOS052",
        (2, 9, 2, 15),
        "version 'v1.0.1' is not semver",
    ),
    C(
        "BOS052-changelog-version",
        DOCWRITER_PROMPT,
        "- {version: 1.0.0,",
        "- {version: 1.0.x,",
        "BOS052",
        (6, 14, 6, 19),
        "changelog version '1.0.x' is not semver",
    ),
    # BOS060 unknown context pack
    C(
        "BOS060-agent",
        "agents/docwriter.yaml",
        "context_packs: [company]",
        "context_packs: [compnay]",
        "BOS060",
        (7, 16, 7, 23),
        "unknown context pack 'compnay'",
        "did you mean 'company'",
    ),
    C(
        "BOS060-project",
        "builderos.yaml",
        "context_packs: [company]",
        "context_packs: [acme]",
        "BOS060",
        (11, 16, 11, 20),
        "unknown context pack 'acme'",
    ),
    # BOS070 desk parameter invalid
    C(
        "BOS070-enum-default",
        DESK,
        "default: MIT,",
        "default: GPL,",
        "BOS070",
        (6, 60, 6, 63),
        "parameter 'license'",
        "default 'GPL' is not one of",
    ),
    C(
        "BOS070-number-out-of-range",
        DESK,
        "default: 8000,",
        "default: 80,",
        "BOS070",
        (7, 55, 7, 57),
        "parameter 'port'",
        "default 80 is outside [1024, 65535]",
    ),
    C(
        "BOS070-bad-pattern",
        DESK,
        'pattern: "^[a-z_][a-z0-9_]*$"',
        'pattern: "^[a-z_"',
        "BOS070",
        (5, 35, 5, 43),
        "parameter 'package'",
        "pattern is not a valid regular expression",
    ),
    # BOS090 document too large or alias expansion over the limit
    C(
        "BOS090-alias-bomb",
        "ship/bomb.yaml",
        None,
        alias_bomb(9, 9),
        "BOS090",
        (5, 6, 5, 75),
        "alias expansion over the limit",
    ),
    C(
        "BOS090-deep-nesting",
        "ship/deep.yaml",
        None,
        "name: deep\nsteps: " + deep_flow(100_000),
        "BOS090",
        (1, 206, 1, 207),
        "nesting deeper than 200 levels",
    ),
    C(
        "BOS090-deep-nesting-in-an-agent",
        BUILDER,
        "max_turns: 12",
        "max_turns: " + deep_flow(300),
        "BOS090",
        (7, 210, 7, 211),
        "nesting deeper than 200 levels",
    ),
    C(
        "BOS090-too-large",
        "agents/huge.yaml",
        None,
        "kind: agent\nname: huge\n# " + "x" * MAX_DOCUMENT_BYTES + "\n",
        "BOS090",
        (0, 0, 0, 1),
        "over the limit of 8,388,608",
    ),
]

BY_ID = {c.id: c for c in CASES}


def _apply(tmp_path: Path, case: Case) -> tuple[Path, dict[str, list[Diagnostic]]]:
    root = copy_shop(tmp_path)
    if case.old is None:
        write(root, case.rel, case.new)
    else:
        edit(root, case.rel, case.old, case.new)
    return root, validate(root)


def _found(results: dict[str, list[Diagnostic]], rel: str, code: str) -> list[Diagnostic]:
    return [d for d in results[rel] if d.code == code]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Diagnostic]]:
    return validate(copy_shop(tmp_path_factory.mktemp("baseline")))


def test_the_example_workspace_is_clean(baseline: dict[str, list[Diagnostic]]) -> None:
    """Only the approval plan (BOS041, information) on the shop: the cases below start from a clean slate."""
    found = {(rel, d.code, span_of(d)) for rel, ds in baseline.items() for d in ds}
    assert found == {
        (FEATURE, "BOS041", (7, 8, 7, 12)),
        (FEATURE, "BOS041", (11, 8, 11, 16)),
        (FEATURE, "BOS041", (20, 8, 20, 12)),
        (FEATURE, "BOS041", (29, 8, 29, 10)),
        (HOTFIX, "BOS041", (25, 8, 25, 10)),
    }


def test_every_code_of_the_spec_is_covered() -> None:
    spec_codes = set(SEVERITY) - {"BOS050"}
    assert {c.code for c in CASES} == spec_codes
    variants = {c.id for c in CASES}
    assert {
        "BOS003-missing-required-key",
        "BOS003-wrong-type",
        "BOS003-bad-enum-value",
        "BOS003-duplicate-key",
    } <= variants
    assert {
        "BOS031-unknown-input",
        "BOS031-unknown-step",
        "BOS031-unknown-output",
        "BOS031-step-not-in-needs",
    } <= variants
    assert {"BOS022-bad-range", "BOS022-no-satisfying-version"} <= variants
    assert {"BOS041-gate", "BOS041-policy-rule-deploy-to-prod"} <= variants


def test_severities_follow_the_spec() -> None:
    assert {code: spec_severity(code) for code in SEVERITY} == SEVERITY


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_code(tmp_path: Path, case: Case) -> None:
    _, results = _apply(tmp_path, case)
    found = _found(results, case.target, case.code)
    assert sorted(span_of(d) for d in found) == sorted(case.ranges), [(d.message, span_of(d)) for d in found]
    for d in found:
        assert d.severity == spec_severity(case.code)
        for word in case.words:
            assert word in d.full_message, (word, d.full_message)
    # Nothing else in the file (the approval plan aside), unless the case says so.
    others = {d.code for d in results[case.target] if d.code not in (case.code, "BOS041")}
    assert others == set(case.also), [(d.code, d.message) for d in results[case.target]]


def test_bos040_is_also_on_the_steps_of_that_agent(tmp_path: Path) -> None:
    _, results = _apply(tmp_path, BY_ID["BOS040"])
    assert results["builderos.policy.yaml"] == []
    on_steps = _found(results, FEATURE, "BOS040")
    assert sorted(span_of(d) for d in on_steps) == [(8, 11, 8, 18), (12, 11, 12, 18)]
    assert all("agent 'builder' uses shell.run" in d.message and d.severity == "warning" for d in on_steps)


def test_bos041_names_the_rules_that_ask(tmp_path: Path) -> None:
    _, results = _apply(tmp_path, BY_ID["BOS041-policy-rule-deploy-to-prod"])
    preview = [d for d in _found(results, FEATURE, "BOS041") if span_of(d) == (33, 8, 33, 15)]
    assert len(preview) == 1
    message = preview[0].message
    assert "step 'preview' will ask for approval" in message
    assert "approvals[2] {action: deploy, env: prod, risk: high}" in message
    assert "envs.prod.approvals[0] {action: *}" in message
    assert preview[0].severity == "information"
    # with env: stage (the shop as it is) the deploy step asks for nothing
    baseline = validate(copy_shop(tmp_path, "stage"))
    assert not [d for d in baseline[FEATURE] if span_of(d)[0] == 33]


def test_bos041_names_the_agent_tool_rule(baseline: dict[str, list[Diagnostic]]) -> None:
    plan = [d for d in baseline[FEATURE] if span_of(d) == (7, 8, 7, 12)]
    assert [d.code for d in plan] == ["BOS041"]
    assert "fs.write by builder: approvals[0] {action: fs.write}" in plan[0].message


def test_cascades_stay_in_their_files(tmp_path: Path) -> None:
    """An unknown tool in an agent is BOS024 there; the steps using it say the policy denies it."""
    _, results = _apply(tmp_path, BY_ID["BOS024-tool"])
    assert {d.code for d in results[FEATURE]} == {"BOS040", "BOS041"}
    _, results = _apply(tmp_path / "2", BY_ID["BOS052-version"])
    assert [(d.code, span_of(d)) for d in results["agents/docwriter.yaml"]] == [("BOS022", (4, 8, 4, 22))]


# -- known bugs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "old", "new", "ranges", "name"),
    [
        pytest.param(
            FEATURE,
            "  - id: plan\n    agent: builder\n",
            "  - id: plan\n    agent: builder\n    needs: [generate]\n",
            [(9, 12, 9, 20), (14, 12, 14, 16)],
            "plan → generate → plan",
            id="two-steps-and-six-downstream",
        ),
        pytest.param(
            HOTFIX,
            "    needs: [check, test]",
            "    needs: [check, test, commit]",
            [(23, 25, 23, 31)],
            "commit → commit",
            id="self-and-one-downstream",
        ),
        pytest.param(
            HOTFIX,
            "  - id: branch\n",
            "  - id: branch\n    needs: [pr]\n",
            [(9, 12, 9, 14), (15, 12, 15, 18), (24, 12, 24, 17), (28, 12, 28, 18)],
            "branch → pr → commit → check → branch",
            id="four-steps-and-one-downstream",
        ),
    ],
)
def test_a_cycle_is_reported_once(
    tmp_path: Path, rel: str, old: str, new: str, ranges: list[Range], name: str
) -> None:
    root = copy_shop(tmp_path)
    edit(root, rel, old, new)
    cycles = _found(validate(root), rel, "BOS012")
    assert sorted(span_of(d) for d in cycles) == ranges
    assert {d.message for d in cycles} == {f"dependency cycle: {name} (each needs the next)"}


def test_an_agent_without_a_name_gets_only_the_missing_key(tmp_path: Path) -> None:
    root = copy_shop(tmp_path)
    edit(root, BUILDER, "name: builder\n", "")
    found = validate(root)[BUILDER]
    assert [(d.code, span_of(d)) for d in found] == [("BOS003", (0, 0, 0, 4))]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c.id,
        )
        for c in CASES
    ],
)
def test_every_diagnostic_has_a_hint(tmp_path: Path, case: Case) -> None:
    _, results = _apply(tmp_path, case)
    found = _found(results, case.target, case.code)
    assert found
    assert all(d.hint.strip() for d in found), [(d.code, d.message, d.hint) for d in found]
