"""Each built-in desk, as CI checks it: applied to a fresh folder, validated with zero errors, and every
scenario run offline (`builderos run --scenario`) to the status and step results the scenario expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.desks.util import REPO, cli

BUILTIN = REPO / "desks"
PARAMS = {
    "python-service": ["package=orders_api", "port=8123", "debug=true"],
    "typescript-library": ["name=@acme/slug-tools", "separator=_"],
    "data-pipeline": ["dataset=orders", "currency=EUR"],
}
CASES = [
    (desk, scenario.stem)
    for desk in sorted(PARAMS)
    for scenario in sorted((BUILTIN / desk / "template" / "scenarios").glob("*.yaml"))
]


def test_every_builtin_desk_is_covered_and_has_what_a_workspace_needs() -> None:
    assert sorted(p.name for p in BUILTIN.iterdir() if (p / "desk.yaml").is_file()) == sorted(PARAMS)
    for desk in PARAMS:
        template = BUILTIN / desk / "template"
        for folder in ("agents", "prompts", "ship", "scenarios", "evals"):
            assert any((template / folder).glob("*.yaml")), f"{desk} has no {folder}/"
        assert (template / "builderos.policy.yaml").is_file()


def test_desk_list_shows_the_builtin_desks(tmp_path: Path) -> None:
    r = cli(tmp_path, "desk", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = {d["name"]: d for d in json.loads(r.stdout)["desks"]}
    assert set(PARAMS) <= set(listed)
    assert listed["python-service"]["source"] == "builtin"
    assert listed["python-service"]["parameters"]["package"] == {
        "type": "string",
        "required": True,
        "pattern": "^[a-z_][a-z0-9_]*$",
        "description": "The Python package name",
    }


@pytest.mark.parametrize(("desk", "scenario"), CASES)
def test_builtin_desk_applies_validates_and_runs_its_scenario(
    tmp_path: Path, desk: str, scenario: str
) -> None:
    dest = tmp_path / "project"
    args = [f"--param={p}" for p in PARAMS[desk]]
    applied = cli(tmp_path, "desk", "apply", desk, *args, "--dest", str(dest), "--json")
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["applied"] is True and result["diagnostics"]["errors"] == 0
    assert not any("${{ params." in p.read_text(errors="replace") for p in dest.rglob("*") if p.is_file())

    validated = cli(tmp_path, "validate", "--format", "json", "--workspace", str(dest), cwd=dest)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert json.loads(validated.stdout)["summary"]["errors"] == 0

    spec = yaml.safe_load((dest / "scenarios" / f"{scenario}.yaml").read_text())
    run = cli(tmp_path, "run", spec["pipeline"], "--scenario", scenario, "--approve-all", "--json", cwd=dest)
    record = json.loads(run.stdout)
    expect = spec["expect"]
    steps = {s["id"]: s["status"] for s in record["steps"]}
    assert record["status"] == expect["status"], run.stderr
    assert run.returncode == (0 if expect["status"] == "succeeded" else 1)
    for step, status in expect["steps"].items():
        assert steps[step] == status, (step, steps)
    for step, outputs in (expect.get("outputs") or {}).items():
        got = next(s["outputs"] for s in record["steps"] if s["id"] == step)
        for key, value in outputs.items():
            assert got[key] == value, (step, key, got)
    for rel, rule in (expect.get("files") or {}).items():
        path = dest / rel
        if rule.get("exists") is False:
            assert not path.exists(), rel
            continue
        assert path.is_file(), rel
        if "contains" in rule:
            assert rule["contains"] in path.read_text(), rel
