"""Scenarios, replay and run diffs through a real daemon (`builderos serve --stdio`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException
from tests.lsp.test_runs import Daemon as RunsDaemon
from tests.scenarios.conftest import LAB, copy_ws, run_ids

from builderos import protocol


class Daemon(RunsDaemon):
    """The runs tests' daemon; scenario and replay requests run whole pipelines before answering."""

    timeout = 60.0


@pytest_asyncio.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = await Daemon(copy_ws(LAB, tmp_path / "lab")).start()
    try:
        yield d
    finally:
        await d.stop()


async def test_scenarios_lists_each_scenario_with_its_range(daemon: Daemon) -> None:
    listed = (await daemon.request(protocol.SCENARIOS, {}))["scenarios"]
    assert [(s["name"], s["file"], s["pipeline"]) for s in listed] == [
        ("release-denied", "scenarios/release-denied.yaml", "release"),
        ("release-ok", "scenarios/release-ok.yaml", "release"),
    ]
    assert listed[1]["range"] == {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 4}}


async def test_scenario_run_and_the_code_lens_commands_answer_with_results(daemon: Daemon) -> None:
    out = await daemon.request(protocol.SCENARIO_RUN, {"names": ["release-ok"]})
    (result,) = out["results"]
    assert result["name"] == "release-ok" and result["passed"] is True and result["failures"] == []
    assert result["runId"] in run_ids(daemon.ws)
    uri = (daemon.ws / "scenarios" / "release-ok.yaml").as_uri()
    scenario = daemon.ws / "scenarios" / "release-ok.yaml"
    scenario.write_text(scenario.read_text().replace("lint: skipped", "lint: succeeded"))
    lens = await daemon.command(protocol.CMD_RUN_SCENARIO, {"uri": uri, "scenario": "release-ok"})
    (failed,) = lens["results"]
    assert failed["passed"] is False
    (failure,) = failed["failures"]
    line = (
        scenario.read_text()
        .splitlines()
        .index(next(x for x in scenario.read_text().splitlines() if "lint: succeeded" in x))
    )
    assert failure["file"] == "scenarios/release-ok.yaml" and failure["range"]["start"]["line"] == line
    assert "expected step lint to be succeeded, it is skipped" in failure["message"]
    golden = daemon.ws / "scenarios" / "golden" / "release-ok.trace.json"
    golden.unlink()
    scenario.write_text(scenario.read_text().replace("lint: succeeded", "lint: skipped"))
    updated = await daemon.command(protocol.CMD_UPDATE_GOLDEN, {"uri": uri, "scenario": "release-ok"})
    assert updated["results"][0]["passed"] is True and golden.is_file()
    everything = await daemon.request(protocol.SCENARIO_RUN, {})
    assert [r["passed"] for r in everything["results"]] == [True, True]


async def test_replay_and_run_diff_requests(daemon: Daemon) -> None:
    out = await daemon.request(protocol.SCENARIO_RUN, {})
    ids = {r["name"]: r["runId"] for r in out["results"]}
    replayed = await daemon.request(protocol.REPLAY, {"runId": ids["release-ok"]})
    assert replayed["runId"] == ids["release-ok"] and replayed["divergences"] == []
    assert replayed["replayRunId"] in run_ids(daemon.ws)
    diff = await daemon.request(protocol.RUN_DIFF, {"runA": ids["release-ok"], "runB": ids["release-denied"]})
    assert set(diff) >= {"steps", "outputs", "prompts", "artifacts"}
    assert [s["step"] for s in diff["steps"] if s["changed"]] == ["check", "publish"]


async def test_bad_requests_are_one_line_errors(daemon: Daemon) -> None:
    for method, params, needle in (
        (protocol.SCENARIO_RUN, {"names": ["nope"]}, "unknown scenario 'nope'"),
        (protocol.REPLAY, {"runId": "01NOPE"}, "no run '01NOPE'"),
        (protocol.RUN_DIFF, {"runA": "01NOPE", "runB": "x"}, "no run '01NOPE'"),
        (protocol.REPLAY, {}, "replay needs a runId"),
    ):
        with pytest.raises(JsonRpcException) as info:
            await daemon.request(method, params)
        assert needle in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(JsonRpcException, match="needs a scenario name"):
        await daemon.command(protocol.CMD_RUN_SCENARIO, {})
