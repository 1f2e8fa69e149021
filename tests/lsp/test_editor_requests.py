"""The editor's view requests through a real daemon: workspace index, deployments and a rollback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException
from tests.lsp.test_runs import Daemon

from builderos import protocol

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "shop"

DEPLOY = (
    "kind: pipeline\nname: ship-site\nsteps:\n  - {id: d, uses: deploy, with: {env: stage, source: site}}\n"
)


@pytest_asyncio.fixture
async def shop_daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    ws = tmp_path / "shop"
    shutil.copytree(SHOP, ws)
    d = await Daemon(ws).start()
    try:
        yield d
    finally:
        await d.stop()


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDEROS_")}
    return subprocess.run(
        [sys.executable, "-m", "builderos", *args],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.asyncio
async def test_the_workspace_index_lists_what_the_views_show(shop_daemon: Daemon) -> None:
    index: dict[str, Any] = await shop_daemon.request(protocol.WORKSPACE_INDEX, {})
    pipelines = {p["name"]: p for p in index["pipelines"]}
    assert set(pipelines) == {"feature", "hotfix"}
    assert pipelines["feature"]["file"] == "ship/feature.yaml"
    assert pipelines["feature"]["inputs"]["goal"]["required"] is True
    assert pipelines["hotfix"]["inputs"]["branch"]["default"] == "hotfix/patch"
    assert pipelines["feature"]["steps"][:3] == ["plan", "generate", "test"]
    assert {a["name"] for a in index["agents"]} == {"builder", "docwriter", "reviewer", "tester"}
    builder = next(p for p in index["prompts"] if p["name"] == "builder")
    assert [v["version"] for v in builder["versions"]] == ["1.2.0", "1.1.0"]
    assert builder["versions"][1]["file"] == "prompts/builder@1.1.0.yaml"
    assert index["scenarios"] == [
        {"name": "add-health", "file": "scenarios/add-health.yaml", "pipeline": "feature"}
    ]
    assert index["policies"][0]["file"] == "builderos.policy.yaml"
    assert index["policies"][0]["default"] == "deny"
    assert {"action": "fs.write"} in index["policies"][0]["approvals"]
    assert index["envs"] == ["dev", "stage", "prod"]


@pytest.mark.asyncio
async def test_deployments_list_each_env_and_a_rollback_goes_back_one_release(tmp_path: Path) -> None:
    ws = tmp_path / "shop"
    shutil.copytree(SHOP, ws)
    (ws / "ship" / "ship-site.yaml").write_text(DEPLOY)
    (ws / "site").mkdir()
    (ws / "site" / "index.html").write_text("v1\n")
    assert cli(ws, "run", "ship-site").returncode == 0
    (ws / "site" / "index.html").write_text("v2\n")
    assert cli(ws, "run", "ship-site").returncode == 0

    d = await Daemon(ws).start()
    try:
        listed = await d.request(protocol.DEPLOYMENTS, {})
        by_env = {e["env"]: e for e in listed["environments"]}
        assert list(by_env) == ["dev", "stage", "prod"]
        assert by_env["dev"]["current"] is None
        stage = by_env["stage"]
        first, second = (h["release"] for h in stage["history"])
        assert (stage["current"], stage["previous"]) == (second, first)

        done = await d.request(protocol.DEPLOYMENT_ROLLBACK, {"env": "stage"})
        assert done == {"env": "stage", "current": first, "previous": second}
        assert (ws / ".builderos" / "deployments" / "stage" / "current").read_text().strip() == first
        after = {e["env"]: e for e in (await d.request(protocol.DEPLOYMENTS, {}))["environments"]}
        assert after["stage"]["current"] == first
        assert after["stage"]["history"][-1]["action"] == "rollback"

        with pytest.raises(JsonRpcException, match="no earlier release"):
            await d.request(protocol.DEPLOYMENT_ROLLBACK, {"env": "stage"})
        with pytest.raises(JsonRpcException, match="'dev' has no current release"):
            await d.request(protocol.DEPLOYMENT_ROLLBACK, {"env": "dev"})
        with pytest.raises(JsonRpcException, match="needs an env"):
            await d.request(protocol.DEPLOYMENT_ROLLBACK, {})
    finally:
        await d.stop()

    exported = cli(ws, "audit", "export", "--action", "deploy.rollback")
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert [r["entity_id"] for r in records] == ["stage"]
    assert records[0]["details"] == {"from": second, "to": first}
    assert cli(ws, "audit", "verify").returncode == 0
