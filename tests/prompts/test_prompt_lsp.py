"""The daemon (pytest-lsp, a real `builderos serve --stdio`) on a promptlab copy that a run has used:
BOS050–052 as you type with exact ranges, `builderos/promptDiff` and the prompt lens command, and
`builderos/evalRun` and the eval lens command."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from builderos import protocol
from lsp.conftest import CAPABILITIES, RecordingClient, Session, make_client

PROMPTLAB = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "promptlab"


@pytest.fixture(scope="module")
def used_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A promptlab copy with the snapshot a run of greeter@1.1.0 left behind."""
    root = tmp_path_factory.mktemp("ws") / "promptlab"
    shutil.copytree(PROMPTLAB, root)
    (root / ".builderos/prompts").mkdir(parents=True)
    shutil.copy(root / "prompts/greeter.yaml", root / ".builderos/prompts/greeter@1.1.0.yaml")
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "builderos", "serve", "--stdio"], client_factory=make_client
    ),
)
async def client(lsp_client: RecordingClient, used_lab: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=CAPABILITIES,
            root_uri=used_lab.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=used_lab.as_uri(), name="promptlab")],
            initialization_options={"debounceMs": 10},
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(loop_scope="module")
async def lsp(client: RecordingClient, used_lab: Path) -> AsyncIterator[Session]:
    session = Session(client, used_lab)
    await session.wait_published("prompts/greeter.yaml")
    yield session
    for rel in list(session.versions):
        await session.close(rel)


def get(obj: Any, key: str) -> Any:
    """A field of an answer (the client hands JSON objects over as namedtuples)."""
    return getattr(obj, key) if hasattr(obj, key) else obj[key]


def found(diagnostics: list[types.Diagnostic], code: str) -> list[tuple[tuple[int, int, int, int], str]]:
    return [
        ((d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character), d.message)
        for d in diagnostics
        if d.code == code
    ]


async def request(lsp: Session, method: str, params: dict[str, Any]) -> Any:
    return await lsp.client.protocol.send_request_async(method, params)


def diff_answer(obj: Any) -> dict[str, Any]:
    """The client turns JSON objects into namedtuples (rename=True): `from` comes back as `_1`."""
    data = dict(obj._asdict()) if hasattr(obj, "_asdict") else dict(obj)
    return {("from" if k == "_1" else k): v for k, v in data.items()}


@pytest.mark.asyncio(loop_scope="module")
async def test_bos050_051_052_as_you_type(lsp: Session) -> None:
    rel = "prompts/greeter.yaml"
    text = lsp.text(rel)
    assert found(await lsp.open(rel), "BOS050") == []
    edited = text.replace("in one sentence", "in two sentences")
    ((span, message),) = found(await lsp.change(rel, edited), "BOS050")
    assert span == (2, 9, 2, 14)
    assert message.startswith("the template of greeter@1.1.0 changed since a run used it")
    bumped = edited.replace("version: 1.1.0", "version: 1.2.0").replace(
        "changelog:\n", "changelog:\n  - {version: 1.2.0, notes: Two sentences}\n"
    )
    after = await lsp.change(rel, bumped)
    assert found(after, "BOS050") == [] and found(after, "BOS051") == []

    summary = "prompts/summary.yaml"
    original = lsp.text(summary)
    await lsp.open(summary)
    no_entry = await lsp.change(summary, original.replace("version: 0.3.0\n", "version: 0.4.0\n"))
    ((span, message),) = found(no_entry, "BOS051")
    assert span == (2, 9, 2, 14) and message.startswith("the changelog has no entry for version 0.4.0")
    not_semver = await lsp.change(summary, original.replace("version: 0.3.0\n", "version: '0.4'\n"))
    ((span, message),) = found(not_semver, "BOS052")
    assert span == (2, 9, 2, 14) and message.startswith("version '0.4' is not semver")


@pytest.mark.asyncio(loop_scope="module")
async def test_prompt_diff_request_and_lens_command(lsp: Session) -> None:
    data = await request(lsp, protocol.PROMPT_DIFF, {"name": "greeter"})
    data = diff_answer(data)
    assert (data["name"], data["from"], data["to"]) == ("greeter", "1.0.0", "1.1.0")
    assert data["fromText"] == "Greet {{ who }} in one sentence.\n"
    assert data["toText"].startswith("Greet {{ who }} in one sentence.\nAnswer with JSON")
    assert data["diff"].startswith("--- greeter@1.0.0\n+++ greeter@1.1.0\n")
    explicit = await request(lsp, protocol.PROMPT_DIFF, {"name": "greeter", "from": "1.1.0", "to": "1.0.0"})
    explicit = diff_answer(explicit)
    assert (explicit["from"], explicit["to"]) == ("1.1.0", "1.0.0")

    (lens,) = await lsp.code_lenses("prompts/greeter.yaml")
    assert lens.command is not None and lens.command.command == protocol.CMD_PROMPT_DIFF
    answer = diff_answer(await lsp.execute(lens.command))
    assert answer == data

    with pytest.raises(Exception) as refused:
        await request(lsp, protocol.PROMPT_DIFF, {"name": "greeter", "to": "7.0.0"})
    assert "prompt 'greeter' has no version 7.0.0" in str(refused.value)


@pytest.mark.asyncio(loop_scope="module")
async def test_eval_run_request_and_lens_command(lsp: Session, used_lab: Path) -> None:
    data = await request(lsp, protocol.EVAL_RUN, {"suites": ["greeter-pass", "greeter-fail"]})
    results = data.results if hasattr(data, "results") else data["results"]
    by_suite = {(r.suite if hasattr(r, "suite") else r["suite"]): r for r in results}
    passing = by_suite["greeter-pass"]
    assert get(passing, "passed") is True and get(passing, "passRate") == 1.0
    assert get(passing, "file") == "evals/greeter-pass.yaml" and get(passing, "required") == 1.0
    failing = by_suite["greeter-fail"]
    assert get(failing, "passed") is False
    contains = next(c for c in get(failing, "cases") if get(c, "name") == "contains")
    assert get(contains, "failures") == ["contains: 'Hello' is not in the answer"]
    assert get(contains, "flaky") is False and get(contains, "passRate") == 0.0

    (lens,) = await lsp.code_lenses("evals/release.yaml")
    assert lens.command is not None and lens.command.command == protocol.CMD_RUN_EVAL
    answer = await lsp.execute(lens.command)
    (release,) = answer["results"]
    assert release["suite"] == "release" and release["passRate"] == 0.75
    assert release["cases"] == [
        {
            "name": "greets",
            "passRate": 0.75,
            "flaky": True,
            "failures": ["json_path: $.greeting is Go away, expected Hello, Ada!"],
        }
    ]
    assert (used_lab / ".builderos/evals/release/results.json").is_file()
    with pytest.raises(Exception) as refused:
        await request(lsp, protocol.EVAL_RUN, {"suites": ["nope"]})
    assert "unknown eval suite 'nope'" in str(refused.value)
