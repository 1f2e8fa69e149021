"""git.branch, git.commit, git.pr with the real git CLI (no shell); every ref or commit change goes
through the ledger, and each one can be recognised afterwards (ref at the intended sha, commit trailer).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builderos.engine.actions._common import (
    atomic_write,
    bad_param,
    file_part,
    opt_str,
    rel_posix,
    req_str,
    resolve_inside,
    sha256_bytes,
    sha256_file,
)
from builderos.engine.interfaces import ActionInput, Outputs, StepFailed

#: The trailer on every BuilderOS commit; `git.commit` finds its own commit by it after a crash.
TRAILER = "BuilderOS-Run"
#: The identity used only when neither the repository nor the environment provides one.
DEFAULT_IDENTITY = ("-c", "user.name=BuilderOS", "-c", "user.email=builderos@localhost")
#: git errors worth a retry: another git process held a lock.
_TRANSIENT = ("index.lock", "cannot lock ref", "Unable to create", "unable to lock")


@dataclass(frozen=True, slots=True)
class GitResult:
    code: int
    out: str
    err: str


#: Identity variables; an empty one counts as unset (git would refuse an empty name).
_IDENTITY_VARS = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL")


def _git_env(inp: ActionInput) -> dict[str, str]:
    """The process environment plus the step's; never prompt, and keep messages in one language."""
    env = {**os.environ, **inp.env, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    for var in _IDENTITY_VARS:
        if not env.get(var, "x"):
            del env[var]
    return env


async def git(
    inp: ActionInput,
    action: str,
    *args: str,
    check: bool = True,
    stdin: bytes | None = None,
    config: Sequence[str] = (),
) -> GitResult:
    """Run `git <config> <args>` in the workspace; with `check`, a non-zero exit is a StepFailed."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *config,
            *args,
            cwd=inp.workspace,
            env=_git_env(inp),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as e:
        missing = "git is not installed" if e.filename in (None, "git") else f"{inp.workspace} does not exist"
        raise StepFailed(f"{action}: {missing}", retryable=False) from None
    out, err = await proc.communicate(stdin)
    result = GitResult(
        proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace").strip()
    )
    if check and result.code != 0:
        reason = result.err.splitlines()[-1] if result.err else f"exit code {result.code}"
        transient = any(t in result.err for t in _TRANSIENT)
        raise StepFailed(f"{action}: git {args[0]} failed: {reason}", retryable=transient)
    return result


async def rev(inp: ActionInput, action: str, spec: str) -> str | None:
    """The commit `spec` names, or None (unborn HEAD, unknown ref)."""
    r = await git(inp, action, "rev-parse", "--verify", "-q", f"{spec}^{{commit}}", check=False)
    return (r.out.strip() or None) if r.code == 0 else None


async def current_branch(inp: ActionInput, action: str) -> str | None:
    r = await git(inp, action, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return (r.out.strip() or None) if r.code == 0 else None


async def _ensure_repo(inp: ActionInput, action: str) -> None:
    r = await git(inp, action, "rev-parse", "--is-inside-work-tree", check=False)
    if r.code != 0 or r.out.strip() != "true":
        raise StepFailed(f"{action}: {inp.workspace} is not a git work tree", retryable=False)


async def _branch_name(inp: ActionInput, action: str, key: str, name: str) -> str:
    r = await git(inp, action, "check-ref-format", "--branch", name, check=False)
    if r.code != 0 or name.startswith("-"):
        raise bad_param(action, f"`{key}` {name!r} is not a valid branch name")
    return name


async def _identity(inp: ActionInput, action: str) -> tuple[str, ...]:
    """`-c user.name=… -c user.email=…` only for the parts neither git config nor the environment set."""
    env = _git_env(inp)
    name = await git(inp, action, "config", "user.name", check=False)
    email = await git(inp, action, "config", "user.email", check=False)
    args: list[str] = []
    if not name.out.strip() and not (env.get("GIT_AUTHOR_NAME") and env.get("GIT_COMMITTER_NAME")):
        args += DEFAULT_IDENTITY[:2]
    has_env_email = env.get("EMAIL") or (env.get("GIT_AUTHOR_EMAIL") and env.get("GIT_COMMITTER_EMAIL"))
    if not email.out.strip() and not has_env_email:
        args += DEFAULT_IDENTITY[2:]
    return tuple(args)


def _repo_lock(inp: ActionInput) -> asyncio.Lock:
    """One git operation at a time per work tree: parallel steps would fight over index.lock."""
    locks: dict[str, asyncio.Lock] = inp.services.setdefault("git.locks", {})
    return locks.setdefault(str(inp.workspace.resolve()), asyncio.Lock())


async def commit_files(inp: ActionInput, action: str, sha: str) -> list[str]:
    """The paths a commit changed (relative to the repository root)."""
    r = await git(inp, action, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only", "-z", sha)
    return [p for p in r.out.split("\0") if p]


# -- git.branch ------------------------------------------------------------------------------------


class GitBranch:
    """`git.branch`: create and switch to a branch; an existing branch at the intended sha is success."""

    name = "git.branch"

    async def run(self, inp: ActionInput) -> Outputs:
        action = self.name
        async with _repo_lock(inp):
            await _ensure_repo(inp, action)
            branch = await _branch_name(inp, action, "name", req_str(inp, action, "name"))
            start = opt_str(inp, action, "from") or "HEAD"
            if start.startswith("-"):
                raise bad_param(action, f"`from` {start!r} is not a revision")
            sha = await rev(inp, action, start)
            if sha is None:
                raise bad_param(action, f"`from` {start!r} does not name a commit")
            intent = {"branch": branch, "from": start, "sha": sha}

            async def perform() -> Outputs:
                existing = await rev(inp, action, f"refs/heads/{branch}")
                if existing is None:
                    await git(inp, action, "switch", "-q", "-c", branch, sha)
                    inp.log(f"created branch {branch} at {sha[:12]} (from {start})")
                elif existing != sha:
                    raise StepFailed(
                        f"{action}: branch {branch} already exists at {existing[:12]}, "
                        f"not at {sha[:12]} ({start})",
                        retryable=False,
                    )
                elif await current_branch(inp, action) != branch:
                    await git(inp, action, "switch", "-q", branch)
                    inp.log(f"switched to existing branch {branch} at {sha[:12]}")
                return {"branch": branch, "sha": sha}

            async def reconcile(recorded: Mapping[str, Any]) -> Outputs | None:
                name = str(recorded["branch"])
                at = await rev(inp, action, f"refs/heads/{name}")
                if at == recorded["sha"] and await current_branch(inp, action) == name:
                    return {"branch": name, "sha": at}
                return None

            key = f"{inp.run_id}:{inp.step_id}:git.branch"
            return await inp.ledger.once(key, action, intent, perform, reconcile)


# -- git.commit ------------------------------------------------------------------------------------


def _ignored(inp: ActionInput, path: Path) -> bool:
    probe = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=inp.workspace, capture_output=True, check=False
    )
    return probe.returncode == 0


def _pathspecs(inp: ActionInput, action: str) -> tuple[list[str], bool]:
    """The pathspecs to stage (all of the workspace by default) minus the store; and whether explicit."""
    raw = inp.params.get("paths")
    explicit = raw not in (None, "", [])
    if not explicit:
        specs = ["."]
    elif isinstance(raw, str):
        specs = [raw]
    elif isinstance(raw, list) and all(isinstance(p, str) and p for p in raw):
        specs = list(raw)
    else:
        raise bad_param(action, "`paths` must be a path or a list of paths")
    for spec in specs:
        if spec.startswith(("-", ":")):
            raise bad_param(action, f"`paths` entry {spec!r} is not a workspace path")
        resolve_inside(inp.workspace, spec, action, "paths")
    store = inp.store_dir.resolve()
    if (
        store.is_relative_to(inp.workspace.resolve())
        and store != inp.workspace.resolve()
        and not _ignored(inp, store)
    ):
        # git refuses an exclude of an ignored path ("paths are ignored"); ignored is excluded anyway
        specs.append(f":(exclude){rel_posix(inp.workspace, store)}")
    return specs, explicit


async def _pending_files(inp: ActionInput, action: str, specs: Sequence[str]) -> list[str]:
    """What `git add -A` + commit would include, read without touching the index (for the intent)."""
    r = await git(inp, action, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *specs)
    items = r.out.split("\0")
    files: list[str] = []
    i = 0
    while i < len(items):
        record = items[i]
        i += 1
        if len(record) < 4:
            continue
        files.append(record[3:])
        if record[0] in "RC":  # a rename/copy: the original path is the next record
            i += 1
    return sorted(files)


class GitCommit:
    """`git.commit`: stage (paths or all) and commit with a `BuilderOS-Run: <run>/<step>` trailer."""

    name = "git.commit"

    async def run(self, inp: ActionInput) -> Outputs:
        action = self.name
        async with _repo_lock(inp):
            await _ensure_repo(inp, action)
            message = req_str(inp, action, "message").strip()
            if not message:
                raise bad_param(action, "`message` is empty")
            specs, explicit = _pathspecs(inp, action)
            trailer = f"{TRAILER}: {inp.run_id}/{inp.step_id}"
            full = f"{message}\n\n{trailer}\n"
            intent = {
                "message": full,
                "paths": specs if explicit else None,
                "files": await _pending_files(inp, action, specs),
                "parent": await rev(inp, action, "HEAD"),
            }

            async def perform() -> Outputs:
                await git(inp, action, "add", "-A", "--", *specs)
                scope = ["--", *specs] if explicit else []
                staged = await git(inp, action, "diff", "--cached", "--name-only", "-z", *scope)
                if not staged.out.strip("\0"):
                    named = [s for s in specs if not s.startswith(":")]
                    where = ", ".join(named) if explicit else "the workspace"
                    raise StepFailed(f"{action}: nothing to commit (no changes in {where})", retryable=False)
                identity = await _identity(inp, action)
                await git(
                    inp, action, "commit", "-q", "-F", "-", *scope, stdin=full.encode(), config=identity
                )
                sha = await rev(inp, action, "HEAD")
                assert sha is not None
                files = await commit_files(inp, action, sha)
                inp.log(f"committed {sha[:12]} ({len(files)} files): {message.splitlines()[0]}")
                return {"sha": sha, "files": files}

            async def reconcile(recorded: Mapping[str, Any]) -> Outputs | None:
                return await _find_commit(inp, action, trailer)

            key = f"{inp.run_id}:{inp.step_id}:git.commit"
            return await inp.ledger.once(key, action, intent, perform, reconcile)


async def _find_commit(inp: ActionInput, action: str, trailer: str) -> Outputs | None:
    """The commit on HEAD's history that carries exactly this trailer line, if any."""
    if await rev(inp, action, "HEAD") is None:
        return None
    grep = ("--fixed-strings", f"--grep={trailer}")
    r = await git(inp, action, "log", "-z", "--format=%H%n%B", *grep, "HEAD", check=False)
    for record in r.out.split("\0"):
        sha, _, body = record.strip().partition("\n")
        if sha and trailer in (line.strip() for line in body.splitlines()):
            return {"sha": sha, "files": await commit_files(inp, action, sha)}
    return None


# -- git.pr ----------------------------------------------------------------------------------------


def _shown(inp: ActionInput, path: Path) -> str:
    """A store path as the intent shows it: workspace-relative when the store is inside the workspace."""
    resolved = path.resolve()
    root = inp.workspace.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


async def _default_base(inp: ActionInput, action: str) -> str:
    for candidate in ("main", "master"):
        if await rev(inp, action, f"refs/heads/{candidate}") is not None:
            return candidate
    raise bad_param(action, "`base` is required: the repository has no main or master branch")


def pr_description(
    title: str, body: str, base: str, base_sha: str, branch: str, sha: str, log: str, run: str, step: str
) -> str:
    """The local PR: what a reviewer reads before merging `branch` into `base`."""
    lines = [f"# {title}", ""]
    if body.strip():
        lines += [body.rstrip(), ""]
    lines += [
        f"- base: `{base}` ({base_sha[:12]})",
        f"- head: `{branch}` ({sha[:12]})",
        f"- run: `{run}`, step `{step}`",
        "",
        f"## Commits (`git log {base}..{branch} --oneline`)",
        "",
        "```",
        log.rstrip() or "(no commits)",
        "```",
        "",
    ]
    return "\n".join(lines)


class GitPr:
    """`git.pr`: a local pull request: a branch at HEAD and a description under .builderos/prs/."""

    name = "git.pr"

    async def run(self, inp: ActionInput) -> Outputs:
        action = self.name
        async with _repo_lock(inp):
            await _ensure_repo(inp, action)
            sha = await rev(inp, action, "HEAD")
            if sha is None:
                raise StepFailed(f"{action}: the repository has no commit yet", retryable=False)
            branch = opt_str(inp, action, "branch") or f"builderos/{inp.run_id}"
            branch = await _branch_name(inp, action, "branch", branch)
            base = opt_str(inp, action, "base") or await _default_base(inp, action)
            base_sha = await rev(inp, action, base) if not base.startswith("-") else None
            if base_sha is None:
                raise bad_param(action, f"`base` {base!r} does not name a commit")
            existing = await rev(inp, action, f"refs/heads/{branch}")
            if existing not in (None, sha):
                ancestor = await git(
                    inp, action, "merge-base", "--is-ancestor", str(existing), sha, check=False
                )
                if ancestor.code != 0:
                    raise StepFailed(
                        f"{action}: branch {branch} exists at {str(existing)[:12]}, "
                        "which HEAD does not contain",
                        retryable=False,
                    )
            subject = await git(inp, action, "log", "-1", "--format=%s", sha)
            title = opt_str(inp, action, "title") or subject.out.strip()
            body = opt_str(inp, action, "body") or ""
            log = await git(
                inp, action, "log", "--oneline", "--no-decorate", "--no-color", f"{base_sha}..{sha}"
            )
            text = pr_description(
                title, body, base, base_sha, branch, sha, log.out, inp.run_id, inp.step_id
            ).encode()
            path = inp.store_dir / "prs" / f"{file_part(inp.run_id)}-{file_part(inp.step_id)}.md"
            url = path.resolve().as_uri()
            intent = {
                "branch": branch,
                "base": base,
                "base_sha": base_sha,
                "sha": sha,
                "previous_sha": existing,
                "description": _shown(inp, path),
                "description_sha256": sha256_bytes(text),
            }

            async def perform() -> Outputs:
                if await rev(inp, action, f"refs/heads/{branch}") != sha:
                    reason = f"builderos: {action} {inp.run_id}/{inp.step_id}"
                    await git(
                        inp, action, "update-ref", "-m", reason, f"refs/heads/{branch}", sha, existing or ""
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, text)
                inp.log(f"PR {branch} → {base} at {sha[:12]}: {url}")
                return {"branch": branch, "url": url, "sha": sha}

            async def reconcile(recorded: Mapping[str, Any]) -> Outputs | None:
                name = str(recorded["branch"])
                written = sha256_file(inp.store_dir / "prs" / path.name)
                at = await rev(inp, action, f"refs/heads/{name}")
                if at == recorded["sha"] and written == recorded["description_sha256"]:
                    return {"branch": name, "url": url, "sha": at}
                return None

            key = f"{inp.run_id}:{inp.step_id}:git.pr"
            return await inp.ledger.once(key, action, intent, perform, reconcile)
