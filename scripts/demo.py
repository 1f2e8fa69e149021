"""The demo: a fresh workspace from the example, checked, then the feature pipeline run end to end.

Everything is real and offline by default: the scripted model answers from scenario stubs, commands (pytest)
run for real, git commits for real, the deploy goes to a local target (release folders served on
127.0.0.1), approvals are decided on the command line after showing the diff. The second run ships
a regression: its verify step fails and triggers a real rollback. Then the timeline and
`audit verify`.

With a real model (`--profile local`, a profile of the example's builderos.yaml, or a profile of
your own: `--base-url URL --model NAME [--provider openai|anthropic] [--api-key-env VAR]`), run 1
has no scenario: the agents ask that model, and their file writes still stop for approval.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "fixtures" / "workspaces" / "shop"

GOOD = """kind: scenario
name: demo-good
description: Adds a health check, a test and the site's health page
pipeline: feature
inputs: {goal: "Add a /health endpoint"}
stubs:
  llm:
    - {step: plan, respond: '{"plan": ["add health()", "add its test", "publish the health page"]}'}
    - step: generate
      tool_calls:
        - {tool: fs.write, args: {path: src/app/health.py, content: "def health():\\n    return 'ok'\\n"}}
        - {tool: fs.write, args: {path: tests/test_health.py, content: "from app.health import health\\n\\n\\ndef test_health():\\n    assert health() == 'ok'\\n"}}
        - {tool: fs.write, args: {path: health, content: "ok\\n"}}
      json: {summary: "Added health(), its test and the health page", files: [src/app/health.py, tests/test_health.py, health]}
    - {step: docs, respond: "README.md already describes the service."}
    - {step: review, respond: "approve: small change with a test"}
"""

REGRESSION = """kind: scenario
name: demo-regression
description: A refactor that drops the health page; verify catches it and rolls back
pipeline: feature
inputs: {goal: "Rename the health check"}
stubs:
  llm:
    - {step: plan, respond: '{"plan": ["rename health() to alive()"]}'}
    - step: generate
      tool_calls:
        - {tool: fs.write, args: {path: src/app/health.py, content: "def alive():\\n    return 'ok'\\n\\n\\nhealth = alive\\n"}}
        - {tool: fs.delete, args: {path: health}}
      json: {summary: "Renamed health() to alive() and removed the old health page", files: [src/app/health.py]}
    - {step: docs, respond: "No docs change."}
    - {step: review, respond: "approve"}
  approvals: approve-all
"""


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def builderos(
    ws: Path, *args: str, check: bool = False, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    if not quiet:
        print(f"$ builderos {' '.join(args)}", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "builderos", *args, "--workspace", str(ws)],
        cwd=ws,
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.stdout and "--json" not in args:
        print(proc.stdout.rstrip())
    if proc.stderr:
        print(proc.stderr.rstrip())
    if check and proc.returncode != 0:
        raise SystemExit(f"demo failed: 'builderos {' '.join(args)}' exited {proc.returncode}")
    return proc


def git(ws: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True)


LIVE_GOAL = (
    "Add a health check: a function health() returning 'ok' in src/app/health.py, a pytest test "
    "for it in tests/test_health.py, and a file named health at the workspace root containing ok"
)


def use_model(ws: Path, profile: str, custom: dict[str, str] | None) -> None:
    """Point the agents at a real model: the project's default profile and the builder's."""
    project = ws / "builderos.yaml"
    text = project.read_text()
    if custom is not None:
        fields = ", ".join(f"{k}: {json.dumps(v)}" for k, v in custom.items())
        text = text.replace("  profiles:\n", f"  profiles:\n    {profile}: {{{fields}}}\n", 1)
    project.write_text(text.replace("default: offline", f"default: {profile}", 1))
    builder = ws / "agents" / "builder.yaml"
    builder.write_text(builder.read_text().replace("model: offline", f"model: {profile}", 1))


def prepare(tmp: Path, profile: str | None = None, custom: dict[str, str] | None = None) -> Path:
    ws = tmp / "shop"
    shutil.copytree(EXAMPLE, ws)
    if profile is not None:
        use_model(ws, profile, custom)
    (ws / "scenarios" / "demo-good.yaml").write_text(GOOD)
    (ws / "scenarios" / "demo-regression.yaml").write_text(REGRESSION)
    policy = ws / "builderos.policy.yaml"
    policy.write_text(policy.read_text().replace('"README.md"]', '"README.md", "health"]', 1))
    agents = ws / "agents" / "builder.yaml"
    agents.write_text(
        agents.read_text().replace(
            "tools: [fs.read, fs.write, shell.run]", "tools: [fs.read, fs.write, fs.delete, shell.run]"
        )
    )
    policy.write_text(
        policy.read_text().replace(
            "builder:   {tools: [fs.read, fs.write, shell.run]}",
            "builder:   {tools: [fs.read, fs.write, fs.delete, shell.run]}",
        )
    )
    (ws / ".gitignore").write_text(".builderos/\n__pycache__/\n.pytest_cache/\n")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "-c", "user.name=Demo", "-c", "user.email=demo@localhost", "add", "-A")
    git(
        ws,
        "-c",
        "user.name=Demo",
        "-c",
        "user.email=demo@localhost",
        "commit",
        "-qm",
        "the shop, before BuilderOS",
    )
    return ws


def approve_until_done(ws: Path, run_id: str) -> int:
    """Show each pending approval's diff, approve it on the command line, resume; until the run ends."""
    for _ in range(20):
        builderos(ws, "approvals")
        pending = json.loads(builderos(ws, "approvals", "--json", quiet=True).stdout or "[]")
        mine = [a for a in pending if a["run_id"] == run_id]
        if not mine:
            break
        for approval in mine:
            builderos(ws, "approve", approval["id"], "--comment", "looks right", check=True)
        code = builderos(ws, "resume", run_id, "--no-wait").returncode
        if code != 3:
            return code
    return 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The BuilderOS demo (offline unless a model is named).")
    parser.add_argument("--profile", help="a model profile for run 1 (the example has 'local' and 'claude')")
    parser.add_argument(
        "--base-url", help="a model server of your own for run 1 (OpenAI-compatible by default)"
    )
    parser.add_argument("--model", help="the model name on that server")
    parser.add_argument("--provider", default="openai", choices=["openai", "anthropic"])
    parser.add_argument("--api-key-env", help="the environment variable that holds the API key")
    args = parser.parse_args(argv)
    if (args.base_url is None) != (args.model is None):
        parser.error("--base-url and --model go together")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    custom: dict[str, str] | None = None
    profile = args.profile
    if args.base_url:
        custom = {"provider": args.provider, "base_url": args.base_url, "model": args.model}
        if args.api_key_env:
            custom["api_key_env"] = args.api_key_env
        profile = "demo"
    with tempfile.TemporaryDirectory(prefix="builderos-demo-") as tmp:
        ws = prepare(Path(tmp), profile, custom)
        say(f"A fresh workspace from the example, in {ws}")
        builderos(ws, "validate", check=True)

        say(
            "Run 1: the feature pipeline adds a health check (stops at each approval; we approve from the CLI)"
        )
        if profile is None:
            first = builderos(ws, "run", "feature", "--scenario", "demo-good", "--no-wait", "--json")
        else:
            say(f"Run 1 asks the model of profile '{profile}'")
            first = builderos(ws, "run", "feature", "--input", f"goal={LIVE_GOAL}", "--no-wait", "--json")
        if first.returncode not in (0, 3):
            raise SystemExit(f"demo failed: run 1 exited {first.returncode}")
        run1 = json.loads(first.stdout)["id"]
        code = approve_until_done(ws, run1) if first.returncode == 3 else 0
        if code != 0:
            raise SystemExit(f"demo failed: run 1 ended with exit code {code}")
        builderos(ws, "timeline", run1)

        say("Run 2: a regression drops the health page; verify fails and rolls back (approvals: approve-all)")
        second = builderos(ws, "run", "feature", "--scenario", "demo-regression", "--approve-all")
        if second.returncode != 1:
            raise SystemExit(f"demo failed: run 2 should fail at verify, exited {second.returncode}")
        history = (
            (ws / ".builderos" / "deployments" / "stage" / "history.jsonl").read_text().strip().splitlines()
        )
        current = (ws / ".builderos" / "deployments" / "stage" / "current").read_text().strip()
        print("deployments of stage:")
        for line in history:
            print("  " + line)
        print(f"stage now serves release {current} (the one from run 1)")

        say("The record")
        builderos(ws, "runs")
        builderos(ws, "audit", "verify", check=True)
        print("\nDemo finished: run 1 succeeded, run 2 failed at verify and was rolled back.")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
