"""The built-in actions against the real world: git in tmp repositories, files, HTTP on loopback.

Each effect is checked for its happy path, its failure, idempotency through the ledger (the effect
happens once) and the two crash windows: intent recorded but the effect not done (perform runs), and
the effect done but its result not recorded (reconcile finds it, nothing is repeated).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from builderos.catalog import ACTIONS
from builderos.engine.actions import BUILTIN_ACTIONS, LocalTargets, get_action, require_action
from builderos.engine.actions.deploy import read_current, read_history
from builderos.engine.interfaces import StepFailed
from builderos.engine.ledger_memory import MemoryLedger, SimulatedCrash

from .conftest import Harness, init_repo, sh


def commits(h: Harness) -> int:
    return int(h.git("rev-list", "--count", "HEAD"))


def releases(h: Harness, env: str = "stage") -> list[str]:
    folder = h.workspace / ".builderos" / "deployments" / env
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


# -- the registry ----------------------------------------------------------------------------------


def test_registry_matches_the_catalog() -> None:
    assert set(BUILTIN_ACTIONS) == set(ACTIONS) - {"desk.apply"}
    for name, action in BUILTIN_ACTIONS.items():
        assert action.name == name
    assert get_action("desk.apply") is None
    assert get_action("nope") is None
    assert require_action("deploy") is BUILTIN_ACTIONS["deploy"]
    with pytest.raises(StepFailed, match=r"unknown action 'desk\.apply'"):
        require_action("desk.apply")


# -- git.branch ------------------------------------------------------------------------------------


async def test_branch_creates_and_switches(h: Harness) -> None:
    head = h.git("rev-parse", "HEAD")
    out = await h.run("git.branch", {"name": "feature/x"})
    assert out == {"branch": "feature/x", "sha": head}
    assert h.git("symbolic-ref", "--short", "HEAD") == "feature/x"
    assert set(out) == set(ACTIONS["git.branch"].outputs)


async def test_branch_existing_at_the_intended_sha_is_success(h: Harness) -> None:
    h.git("branch", "ready")
    out = await h.run("git.branch", {"name": "ready", "from": "main"})
    assert out["branch"] == "ready"
    assert h.git("symbolic-ref", "--short", "HEAD") == "ready"


async def test_branch_failures(h: Harness) -> None:
    (h.workspace / "f").write_text("1")
    h.git("add", "f")
    h.git("commit", "-qm", "second")
    h.git("branch", "old", "HEAD~1")
    with pytest.raises(StepFailed, match="already exists at") as e:
        await h.run("git.branch", {"name": "old"}, step="b1")
    assert not e.value.retryable
    with pytest.raises(StepFailed, match="not a valid branch name"):
        await h.run("git.branch", {"name": "bad..name"}, step="b2")
    with pytest.raises(StepFailed, match="does not name a commit"):
        await h.run("git.branch", {"name": "x", "from": "no-such-ref"}, step="b3")


async def test_branch_not_a_repository(tmp_path: Path, targets: LocalTargets) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    h = Harness(plain, MemoryLedger(), {"deploy": targets}, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    with pytest.raises(StepFailed, match="not a git work tree") as e:
        await h.run("git.branch", {"name": "x"})
    assert not e.value.retryable


async def test_branch_once_and_reconciled_after_a_crash(h: Harness) -> None:
    h.ledger.crash_next("after_effect", "git.branch")
    with pytest.raises(SimulatedCrash):
        await h.run("git.branch", {"name": "topic"})
    assert h.ledger.pending()
    out = await h.run("git.branch", {"name": "topic"})
    again = await h.run("git.branch", {"name": "topic"})
    assert out == again == {"branch": "topic", "sha": h.git("rev-parse", "HEAD")}
    key = h.ledger.keys("git.branch")[0]
    assert h.ledger.performs[key] == 1 and h.ledger.reconciles[key] == 1


# -- git.commit ------------------------------------------------------------------------------------


async def test_commit_all_changes_with_trailer_and_not_the_store(h: Harness) -> None:
    (h.workspace / "app.py").write_text("print('hi')\n")
    (h.workspace / "README.md").write_text("# changed\n")
    (h.workspace / ".builderos").mkdir()
    (h.workspace / ".builderos" / "builderos.db").write_text("store")
    out = await h.run("git.commit", {"message": "Add app"}, step="commit")
    assert out["sha"] == h.git("rev-parse", "HEAD")
    assert out["files"] == ["README.md", "app.py"]
    assert set(out) == set(ACTIONS["git.commit"].outputs)
    body = h.git("log", "-1", "--format=%B")
    assert body.startswith("Add app") and body.endswith("BuilderOS-Run: run1/commit")
    assert h.git("log", "-1", "--format=%an <%ae>") == "Test Dev <dev@example.test>"
    assert h.git("status", "--porcelain") == "?? .builderos/"


async def test_commit_only_the_given_paths(h: Harness) -> None:
    (h.workspace / "a.txt").write_text("a")
    (h.workspace / "b.txt").write_text("b")
    out = await h.run("git.commit", {"message": "only a", "paths": ["a.txt"]})
    assert out["files"] == ["a.txt"]
    assert "?? b.txt" in h.git("status", "--porcelain")


async def test_commit_nothing_to_commit_fails_clearly(h: Harness) -> None:
    before = commits(h)
    with pytest.raises(StepFailed, match="nothing to commit") as e:
        await h.run("git.commit", {"message": "empty"})
    assert not e.value.retryable
    assert commits(h) == before
    with pytest.raises(StepFailed, match="outside the workspace"):
        await h.run("git.commit", {"message": "x", "paths": ["../elsewhere"]}, step="s2")


async def test_commit_twice_through_the_ledger_commits_once(h: Harness) -> None:
    (h.workspace / "x.txt").write_text("x")
    before = commits(h)
    first = await h.run("git.commit", {"message": "x"})
    second = await h.run("git.commit", {"message": "x"})
    assert first == second
    assert commits(h) == before + 1


async def test_commit_crash_after_the_commit_is_reconciled_not_repeated(h: Harness) -> None:
    (h.workspace / "x.txt").write_text("x")
    before = commits(h)
    h.ledger.crash_next("after_effect", "git.commit")
    with pytest.raises(SimulatedCrash):
        await h.run("git.commit", {"message": "x"}, step="c")
    (h.workspace / "later.txt").write_text("unrelated change made after the crash")
    out = await h.run("git.commit", {"message": "x"}, step="c", attempt=2)
    assert commits(h) == before + 1
    assert out == {"sha": h.git("rev-parse", "HEAD"), "files": ["x.txt"]}
    key = h.ledger.keys("git.commit")[0]
    assert h.ledger.reconciles[key] == 1 and h.ledger.performs[key] == 1


async def test_commit_crash_before_the_commit_commits_on_resume(h: Harness) -> None:
    (h.workspace / "x.txt").write_text("x")
    before = commits(h)
    h.ledger.crash_next("after_intent", "git.commit")
    with pytest.raises(SimulatedCrash):
        await h.run("git.commit", {"message": "x"}, step="c")
    assert commits(h) == before
    await h.run("git.commit", {"message": "x"}, step="c")
    assert commits(h) == before + 1


async def test_commit_without_identity_uses_builderos(tmp_path: Path, targets: LocalTargets) -> None:
    ws = init_repo(tmp_path / "fresh", identity=False)  # no commit yet: an unborn HEAD
    (ws / "first.txt").write_text("1")
    env = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        env[var] = ""
    h = Harness(ws, MemoryLedger(), {"deploy": targets}, env=env)
    out = await h.run("git.commit", {"message": "first"})
    assert out["files"] == ["first.txt"]
    assert h.git("log", "-1", "--format=%an <%ae>") == "BuilderOS <builderos@localhost>"
    assert sh(ws, "config", "--local", "--list").count("user.") == 0  # nothing written to the config


# -- git.pr ----------------------------------------------------------------------------------------


async def test_pr_branch_and_description(h: Harness) -> None:
    await h.run("git.branch", {"name": "feature"}, step="branch")
    (h.workspace / "feature.py").write_text("x = 1\n")
    await h.run("git.commit", {"message": "Add feature"}, step="commit")
    out = await h.run("git.pr", {"title": "Feature", "body": "Adds x."}, step="pr")
    head = h.git("rev-parse", "HEAD")
    assert out["branch"] == "builderos/run1" and out["sha"] == head
    assert h.git("rev-parse", "builderos/run1") == head
    assert set(out) == set(ACTIONS["git.pr"].outputs)
    path = h.workspace / ".builderos" / "prs" / "run1-pr.md"
    assert out["url"] == path.resolve().as_uri()
    text = path.read_text()
    assert text.startswith("# Feature\n\nAdds x.\n")
    assert "base: `main`" in text and head[:12] in text and "Add feature" in text
    assert "initial" not in text  # only base..head


async def test_pr_is_idempotent_and_reconciled(h: Harness) -> None:
    (h.workspace / "f.txt").write_text("f")
    await h.run("git.commit", {"message": "f"}, step="commit")
    h.ledger.crash_next("after_effect", "git.pr")
    with pytest.raises(SimulatedCrash):
        await h.run("git.pr", {"branch": "review/f", "base": "main~1"}, step="pr")
    out = await h.run("git.pr", {"branch": "review/f", "base": "main~1"}, step="pr")
    again = await h.run("git.pr", {"branch": "review/f", "base": "main~1"}, step="pr")
    assert out == again and out["branch"] == "review/f"
    key = h.ledger.keys("git.pr")[0]
    assert h.ledger.performs[key] == 1 and h.ledger.reconciles[key] == 1
    assert len(list((h.workspace / ".builderos" / "prs").iterdir())) == 1


async def test_pr_failures(h: Harness) -> None:
    with pytest.raises(StepFailed, match="`base` 'nope' does not name a commit") as e:
        await h.run("git.pr", {"base": "nope"}, step="p1")
    assert not e.value.retryable
    h.git("branch", "side")
    h.git("switch", "-q", "side")
    (h.workspace / "s.txt").write_text("s")
    h.git("add", "s.txt")
    h.git("commit", "-qm", "side work")
    h.git("switch", "-q", "main")
    with pytest.raises(StepFailed, match="which HEAD does not contain"):
        await h.run("git.pr", {"branch": "side"}, step="p2")
    assert h.ledger.entries == {}


# -- fs.write --------------------------------------------------------------------------------------


async def test_write_atomic_with_hashes(h: Harness) -> None:
    out = await h.run("fs.write", {"path": "docs/notes.md", "content": "hello\n"}, step="w1")
    target = h.workspace / "docs" / "notes.md"
    assert target.read_text() == "hello\n"
    assert out["path"] == "docs/notes.md" and len(out["sha256"]) == 64
    assert set(out) == set(ACTIONS["fs.write"].outputs)
    target.chmod(0o755)
    await h.run("fs.write", {"path": "docs/notes.md", "content": {"a": 1}}, step="w2")
    assert json.loads(target.read_text()) == {"a": 1}
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # the replace kept the mode
    intents = [e.intent for e in h.ledger.entries.values()]
    assert intents[0]["previous_sha256"] is None
    assert intents[1]["previous_sha256"] == out["sha256"]
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


async def test_write_twice_and_after_crashes(h: Harness) -> None:
    params = {"path": "a.txt", "content": "v1"}
    h.ledger.crash_next("after_effect", "fs.write")
    with pytest.raises(SimulatedCrash):
        await h.run("fs.write", params, step="w")
    (h.workspace / "a.txt").touch()
    mtime = (h.workspace / "a.txt").stat().st_mtime_ns
    await h.run("fs.write", params, step="w")
    await h.run("fs.write", params, step="w")
    key = h.ledger.keys("fs.write")[0]
    assert h.ledger.performs[key] == 1 and h.ledger.reconciles[key] == 1
    assert (h.workspace / "a.txt").stat().st_mtime_ns == mtime  # reconciled, not rewritten

    h.ledger.crash_next("after_intent", "fs.write")
    with pytest.raises(SimulatedCrash):
        await h.run("fs.write", {"path": "b.txt", "content": "v1"}, step="w2")
    assert not (h.workspace / "b.txt").exists()
    await h.run("fs.write", {"path": "b.txt", "content": "v1"}, step="w2")
    assert (h.workspace / "b.txt").read_text() == "v1"


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd-copy",
        "../outside.txt",
        "a/../../outside.txt",
        "out/x.txt",
        "link.txt",
        ".git/hooks/pre-commit",
        ".builderos/builderos.db",
        "~/x",
    ],
)
async def test_write_refuses_escapes_and_writes_nothing(h: Harness, tmp_path: Path, path: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep")
    (h.workspace / "out").symlink_to(outside, target_is_directory=True)
    (h.workspace / "link.txt").symlink_to(outside / "victim.txt")
    before = sorted(p.name for p in outside.iterdir())
    with pytest.raises(StepFailed) as e:
        await h.run("fs.write", {"path": path, "content": "pwned"})
    assert not e.value.retryable
    assert sorted(p.name for p in outside.iterdir()) == before
    assert (outside / "victim.txt").read_text() == "keep"
    assert not (tmp_path / "outside.txt").exists()
    assert h.ledger.entries == {}


async def test_write_through_a_symlink_inside_the_workspace(h: Harness) -> None:
    (h.workspace / "real.txt").write_text("old")
    (h.workspace / "alias.txt").symlink_to("real.txt")
    out = await h.run("fs.write", {"path": "alias.txt", "content": "new"})
    assert out["path"] == "real.txt"
    assert (h.workspace / "alias.txt").is_symlink() and (h.workspace / "real.txt").read_text() == "new"


# -- http.check ------------------------------------------------------------------------------------


async def test_http_check_outputs_and_failures(h: Harness) -> None:
    (h.workspace / "health").write_text("")
    (h.workspace / "big.txt").write_text("x" * 5000)
    deployed = await h.run("deploy", {"env": "stage"}, step="deploy")
    url = deployed["url"]
    out = await h.run("http.check", {"url": f"{url}/big.txt"}, step="check")
    assert out["status"] == 200 and out["ok"] is True and out["body"] == "x" * 2048
    assert set(out) == set(ACTIONS["http.check"].outputs)
    out = await h.run("http.check", {"url": f"{url}/missing", "expect_status": "404"}, step="check")
    assert out["ok"] is True
    with pytest.raises(StepFailed) as e:
        await h.run("http.check", {"url": f"{url}/missing", "timeout": "2s"}, step="check")
    assert str(e.value) == f"GET {url}/missing → 404, expected 200"
    assert e.value.retryable and e.value.outputs["status"] == 404 and e.value.outputs["ok"] is False
    assert h.ledger.keys("http.check") == []  # a read: nothing in the ledger


async def test_http_check_connection_error_and_bad_params(h: Harness) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StepFailed, match=f"GET http://127.0.0.1:{port}/ → ") as e:
        await h.run("http.check", {"url": f"http://127.0.0.1:{port}/", "timeout": 2})
    assert e.value.retryable and e.value.outputs == {"status": 0, "ok": False, "body": ""}
    for params in ({"url": "ftp://x/"}, {"url": "http://x/", "timeout": "soon"}, {}):
        with pytest.raises(StepFailed) as e:
            await h.run("http.check", params)
        assert not e.value.retryable


# -- deploy and rollback ---------------------------------------------------------------------------


async def test_deploy_check_break_rollback(h: Harness) -> None:
    ws = h.workspace
    (ws / "health").write_text("")
    (ws / "index.html").write_text("v1")
    for junk in (".git/x", "node_modules/pkg/i.js", "src/__pycache__/m.pyc", ".venv/bin/python"):
        (ws / junk).parent.mkdir(parents=True, exist_ok=True)
        (ws / junk).write_text("junk")
    first = await h.run("deploy", {"env": "stage"}, step="preview")
    assert set(first) == set(ACTIONS["deploy"].outputs) and first["env"] == "stage"
    assert first["release"].startswith("r1-") and first["url"].startswith("http://127.0.0.1:")
    folder = ws / ".builderos" / "deployments" / "stage" / first["release"]
    assert (folder / ".complete").is_file() and (folder / "index.html").read_text() == "v1"
    for junk in (".git", "node_modules", "src/__pycache__", ".venv", ".builderos"):
        assert not (folder / junk).exists(), junk
    verify = {"url": f"{first['url']}/health", "expect_status": 200}
    assert (await h.run("http.check", verify, step="verify"))["body"] == "ok"

    (ws / "health").unlink()
    (ws / "index.html").write_text("v2")
    second = await h.run("deploy", {"env": "stage"}, step="preview2")
    assert second["release"].startswith("r2-") and second["url"] == first["url"]
    with pytest.raises(StepFailed, match="→ 404, expected 200") as e:
        await h.run("http.check", verify, step="verify2")
    assert e.value.outputs["status"] == 404
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"{first['url']}/index.html")).text == "v2"
        assert (await client.get(f"{first['url']}/.complete")).status_code == 404

    back = await h.run("rollback", {"env": "stage"}, step="rollback")
    assert back == {"release": first["release"], "env": "stage"}
    assert (await h.run("http.check", verify, step="verify3"))["status"] == 200
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"{first['url']}/index.html")).text == "v1"
    history = read_history(ws / ".builderos" / "deployments" / "stage")
    assert [(x["action"], x["release"], x["previous"]) for x in history] == [
        ("deploy", first["release"], None),
        ("deploy", second["release"], first["release"]),
        ("rollback", first["release"], second["release"]),
    ]
    with pytest.raises(StepFailed, match="no previous release of stage to roll back to") as e:
        await h.run("rollback", {"env": "stage"}, step="rollback-again")
    assert not e.value.retryable


async def test_deploy_twice_through_the_ledger_makes_one_release(h: Harness) -> None:
    (h.workspace / "index.html").write_text("v1")
    a = await h.run("deploy", {"env": "stage"}, step="d")
    b = await h.run("deploy", {"env": "stage"}, step="d", attempt=2)
    assert a == b and releases(h) == [a["release"]]
    assert len(read_history(h.workspace / ".builderos" / "deployments" / "stage")) == 1


async def test_deploy_crash_after_the_release_is_reconciled(h: Harness) -> None:
    (h.workspace / "index.html").write_text("v1")
    h.ledger.crash_next("after_effect", "deploy")
    with pytest.raises(SimulatedCrash):
        await h.run("deploy", {"env": "stage"}, step="d")
    out = await h.run("deploy", {"env": "stage"}, step="d")
    key = h.ledger.keys("deploy")[0]
    assert h.ledger.performs[key] == 1 and h.ledger.reconciles[key] == 1
    assert releases(h) == [out["release"]]


async def test_deploy_half_done_release_is_redone(h: Harness) -> None:
    (h.workspace / "index.html").write_text("v1")
    (h.workspace / "health.txt").write_text("fine")
    h.ledger.crash_next("after_intent", "deploy")
    with pytest.raises(SimulatedCrash):
        await h.run("deploy", {"env": "stage"}, step="d")
    intent = h.ledger.entries[h.ledger.keys("deploy")[0]].intent
    env_dir = h.workspace / ".builderos" / "deployments" / "stage"
    # What a crash mid-copy leaves: a staging folder and even a final folder without `.complete`.
    (env_dir / f".staging-{intent['release']}").mkdir(parents=True)
    (env_dir / intent["release"]).mkdir()
    (env_dir / intent["release"] / "index.html").write_text("trunc")
    out = await h.run("deploy", {"env": "stage"}, step="d")
    assert out["release"] == intent["release"]
    assert releases(h) == [out["release"]]  # the staging folder is gone, nothing duplicated
    assert (env_dir / out["release"] / "index.html").read_text() == "v1"
    assert read_current(env_dir) == out["release"]
    assert (await h.run("http.check", {"url": out["url"] + "/health"}, step="v"))["status"] == 200


async def test_rollback_through_the_ledger_and_env_inference(h: Harness) -> None:
    for n in (1, 2, 3):
        (h.workspace / "index.html").write_text(f"v{n}")
        await h.run("deploy", {"env": "prod"}, step=f"d{n}")
    names = releases(h, "prod")
    env_dir = h.workspace / ".builderos" / "deployments" / "prod"
    h.ledger.crash_next("after_effect", "rollback")
    with pytest.raises(SimulatedCrash):
        await h.run("rollback", {}, step="undo")  # env inferred: what this run deployed
    out = await h.run("rollback", {}, step="undo")
    again = await h.run("rollback", {}, step="undo")
    assert out == again == {"release": names[1], "env": "prod"}
    assert read_current(env_dir) == names[1]
    assert await h.run("rollback", {"env": "prod"}, step="undo2") == {"release": names[0], "env": "prod"}
    assert await h.run("rollback", {"release": names[2]}, step="redo") == {"release": names[2], "env": "prod"}
    assert [x["action"] for x in read_history(env_dir)].count("rollback") == 3
    with pytest.raises(StepFailed, match="does not exist"):
        await h.run("rollback", {"env": "prod", "release": "r9-00000000"}, step="bad")


async def test_rollback_without_any_deploy(h: Harness) -> None:
    with pytest.raises(StepFailed, match="`env` is required"):
        await h.run("rollback", {}, step="r")
    with pytest.raises(StepFailed, match="no previous release of stage to roll back to"):
        await h.run("rollback", {"env": "stage"}, step="r")
    with pytest.raises(StepFailed, match="must be letters"):
        await h.run("deploy", {"env": "../x"}, step="d")
    with pytest.raises(StepFailed, match="outside the workspace"):
        await h.run("deploy", {"env": "stage", "source": ".."}, step="d")


async def test_a_new_process_serves_on_the_remembered_port(h: Harness, targets: LocalTargets) -> None:
    (h.workspace / "health.json").write_text("{}")
    out = await h.run("deploy", {"env": "stage"}, step="d")
    targets.close()
    restarted = LocalTargets()
    try:
        assert restarted.serve_existing(h.workspace / ".builderos") == {"stage": out["url"]}
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(out["url"] + "/health")).text == "ok"
    finally:
        restarted.close()
