"""The demo, as the README runs it: offline end to end, and with a real model server (a local stub
speaking OpenAI chat completions stands in for Ollama or a hosted model) answering run 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agents.stub_llm import Reply, StubLLM

TEST_FILE = "from app.health import health\n\n\ndef test_health():\n    assert health() == 'ok'\n"
DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def test_the_offline_demo_runs_end_to_end() -> None:
    proc = demo()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Demo finished: run 1 succeeded, run 2 failed at verify and was rolled back." in out
    assert "--- a/src/app/health.py" in out or "+def health" in out  # an approval's diff was shown
    assert "chain intact" in out or "intact" in out
    assert "Traceback" not in out + proc.stderr


def test_the_demo_with_a_real_model_server() -> None:
    plan = {"summary": "add health(), its test and the health page", "files": []}
    done = {"summary": "added", "files": [{"path": p} for p in ("src/app/health.py", "tests/test_health.py")]}
    writes = [
        ("fs_write", {"path": "src/app/health.py", "content": "def health():\n    return 'ok'\n"}),
        (
            "fs_write",
            {
                "path": "tests/test_health.py",
                "content": TEST_FILE,
            },
        ),
        ("fs_write", {"path": "health", "content": "ok\n"}),
    ]
    with StubLLM() as stub:
        stub.push(
            Reply(text=json.dumps(plan)),  # plan
            Reply(tool_calls=writes),  # generate, turn 1: three writes, each approved from the CLI
            Reply(text=json.dumps(done)),  # generate, turn 2
            Reply(text="README.md already says enough."),  # docs
            Reply(text="approve: a small change with its test"),  # review
        )
        proc = demo("--base-url", stub.openai_url, "--model", "stub-coder")
        asked = stub.count
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert "Run 1 asks the model of profile 'demo'" in proc.stdout
    assert "Demo finished" in proc.stdout
    # each answered turn was asked once, although run 1 stopped and resumed at every approval
    assert asked == 5
