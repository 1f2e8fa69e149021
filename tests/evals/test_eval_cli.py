"""`builderos eval` as a subprocess: every assertion type passing and failing, results on disk,
flaky cases against a local stub LLM server, the answer cache, and the suggested semver bump."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.stub_llm import Reply, StubLLM
from helpers import assert_one_line_user_error, run_cli, write

STUB_PROJECT = """\
version: 1
name: promptlab
envs: [dev, prod]
models:
  default: offline
  profiles:
    offline: {{provider: scripted}}
    stub: {{provider: openai, base_url: "{url}", model: stub-model, timeout: 20s}}
"""

FLAKY_SUITE = """\
kind: eval
name: flaky
prompt: summary@0.3.0
model: stub
require_pass_rate: 0.9
repeat: 4
cases:
  - name: five words
    vars: {text: "BuilderOS turns a workspace into an agent factory"}
    assert: [{type: contains, value: "agent factory"}]
"""


def eval_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli("eval", "--json", "--workspace", root, *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def suite(results: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in results["results"] if r["suite"] == name]
    return found


def cases(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["cases"]}


def test_every_assertion_type_passes_on_good_answers(lab: Path) -> None:
    code, out = eval_json(lab, "greeter-pass")
    assert code == 0
    result = suite(out, "greeter-pass")
    assert result["passed"] is True and result["passRate"] == 1.0
    assert result["prompt"] == "greeter@1.1.0" and result["model"] == "scripted"
    for case in result["cases"]:
        assert case["passRate"] == 1.0 and case["failures"] == [] and case["flaky"] is False


def test_every_assertion_type_fails_on_bad_answers_with_its_reason(lab: Path) -> None:
    code, out = eval_json(lab, "greeter-fail")
    assert code == 1  # 0% is under require_pass_rate 0.5
    result = cases(suite(out, "greeter-fail"))
    expected = {
        "contains": "contains: 'Hello' is not in the answer",
        "regex": "regex: /^Hello/ does not match the answer",
        "equals": "equals: the answer is not Hello",
        "json_path": "json_path: $.greeting is Hi, expected Hello",
        "json_schema": "json_schema: $.greeting: 3 is not of type 'string'",
        "expr": "expr: output.words >= 2 is false",
        "llm_judge": "llm_judge: Ada is not named",
        "not json": "json_path: the answer is not JSON (Expecting value at line 1 column 1)",
    }
    assert set(result) == set(expected)
    for name, failure in expected.items():
        assert result[name]["passRate"] == 0.0
        assert result[name]["failures"] == [failure], name


def test_table_output_and_exit_code_follow_require_pass_rate(lab: Path) -> None:
    ok = run_cli("eval", "greeter-pass", "release", "--workspace", lab)
    assert ok.returncode == 0, ok.stderr
    assert "PASS  greeter-pass  100% (required 100%)" in ok.stdout
    assert "greets  3/4  75%  95% CI [30%, 95%]  flaky" in ok.stdout
    bad = run_cli("eval", "greeter-fail", "--workspace", lab)
    assert bad.returncode == 1
    assert "FAIL  greeter-fail  0% (required 50%)" in bad.stdout
    unknown = run_cli("eval", "nope", "--workspace", lab)
    line = assert_one_line_user_error(unknown)
    assert "unknown eval suite 'nope'" in line and "greeter-pass" in line


def test_results_and_history_are_stored_with_version_model_and_redacted_outputs(lab: Path) -> None:
    secret = "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2"
    write(
        lab,
        "evals/secret.yaml",
        "kind: eval\nname: secret\nprompt: summary@0.3.0\ncases:\n"
        f"  - name: leaks\n    replies: ['key {secret} here']\n"
        "    assert: [{type: contains, value: key}]\n",
    )
    code, out = eval_json(lab, "secret")
    assert code == 0
    run_id = suite(out, "secret")["evalRunId"]
    stored = json.loads((lab / ".builderos/evals/secret/results.json").read_text())
    assert stored["evalRunId"] == run_id
    assert stored["prompt"] == "summary@0.3.0" and stored["profile"] == "offline"
    assert len(stored["prompt_sha256"]) == 64
    assert stored["cases"][0]["outputs"] == ["key [REDACTED] here"]
    assert (lab / f".builderos/evals/secret/runs/{run_id}.json").is_file()
    assert not any(secret in p.read_text() for p in (lab / ".builderos").rglob("*") if p.is_file())
    eval_json(lab, "secret")
    assert len(list((lab / ".builderos/evals/secret/runs").glob("*.json"))) == 2


def test_flaky_model_is_reported_and_the_cache_makes_reruns_free(lab: Path) -> None:
    with StubLLM() as stub:
        write(lab, "builderos.yaml", STUB_PROJECT.format(url=stub.openai_url))
        write(lab, "evals/flaky.yaml", FLAKY_SUITE)
        stub.cycle(Reply(text="An agent factory for workspaces"), Reply(text="A tool for code"))

        code, out = eval_json(lab, "flaky")
        assert code == 1  # 50% < 90%
        result = suite(out, "flaky")
        (case,) = result["cases"]
        assert case["flaky"] is True and case["passRate"] == 0.5
        assert case["ci95"] == [0.15, 0.85]
        assert result["requests"] == 4 and stub.count == 4
        assert result["model"] == "stub-model" and result["provider"] == "openai"
        body = stub.requests[0].body
        assert "BuilderOS turns a workspace into an agent factory" in json.dumps(body)

        code, again = eval_json(lab, "flaky")
        assert stub.count == 4  # unchanged suite: zero provider requests
        assert suite(again, "flaky")["requests"] == 0
        assert cases(suite(again, "flaky"))["five words"]["passRate"] == 0.5

        code, fresh = eval_json(lab, "flaky", "--no-cache")
        assert stub.count == 8 and suite(fresh, "flaky")["requests"] == 4

        write(lab, "evals/flaky.yaml", FLAKY_SUITE.replace('agent factory"}', 'agent factory!"}'))
        eval_json(lab, "flaky")
        assert stub.count == 12  # changed vars: new cache keys


def test_llm_judge_asks_the_judge_profile_on_the_stub_server(lab: Path) -> None:
    with StubLLM() as stub:
        write(lab, "builderos.yaml", STUB_PROJECT.format(url=stub.openai_url))
        write(
            lab,
            "evals/judged.yaml",
            "kind: eval\nname: judged\nprompt: summary@0.3.0\nrepeat: 2\nrequire_pass_rate: 0.5\ncases:\n"
            "  - name: judged\n    replies: ['A short summary']\n"
            "    assert: [{type: llm_judge, rubric: 'is five words or fewer', model: stub}]\n",
        )
        stub.push(Reply(text="PASS: three words"), Reply(text="FAIL: too vague"))
        code, out = eval_json(lab, "judged")
        assert code == 0
        (case,) = suite(out, "judged")["cases"]
        assert case["passRate"] == 0.5 and case["flaky"] is True
        assert case["failures"] == ["llm_judge: too vague"]
        sent = json.dumps(stub.requests[0].body)
        assert "is five words or fewer" in sent and "A short summary" in sent


def test_suggested_bump_follows_the_change_of_results(lab: Path) -> None:
    code, first = eval_json(lab, "greeter-pass")
    assert suite(first, "greeter-pass")["suggested_bump"] is None  # nothing to compare with
    text = (lab / "evals/greeter-pass.yaml").read_text()
    added = text + ("  - name: new case\n    replies: ['hi']\n    assert: [{type: contains, value: hi}]\n")
    write(lab, "evals/greeter-pass.yaml", added)
    code, second = eval_json(lab, "greeter-pass")
    bump = suite(second, "greeter-pass")["suggested_bump"]
    assert bump == {"level": "minor", "reason": "new passing cases: new case"}
    write(lab, "evals/greeter-pass.yaml", added.replace('replies: ["Hello, Bob!"]', 'replies: ["Bye"]'))
    code, third = eval_json(lab, "greeter-pass")
    assert code == 1
    bump = suite(third, "greeter-pass")["suggested_bump"]
    assert bump["level"] == "major" and "equals on text" in bump["reason"]
    table = run_cli("eval", "greeter-pass", "--workspace", lab)
    assert "suggested prompt bump: patch" not in table.stdout  # same results as the run before
    stored = json.loads((lab / ".builderos/evals/greeter-pass/results.json").read_text())
    assert stored["suggested_bump"] is None


def test_offline_flag_runs_a_stub_suite_with_the_scripted_model(lab: Path) -> None:
    write(lab, "builderos.yaml", STUB_PROJECT.format(url="http://127.0.0.1:9/v1"))
    write(
        lab,
        "evals/flaky.yaml",
        FLAKY_SUITE.replace("    assert:", "    replies: ['agent factory']\n    assert:"),
    )
    code, out = eval_json(lab, "flaky", "--offline")
    assert code == 0 and suite(out, "flaky")["model"] == "scripted"
