"""The built-in tools and actions: names, what they do, their `with:` parameters and outputs.

One table feeds the validator (BOS024, BOS031 on outputs), completion and hover, and later the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A built-in `uses:` action."""

    name: str
    summary: str
    params: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    side_effect: bool = True


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool an agent may call, and the permission it needs."""

    name: str
    summary: str
    permission: str
    side_effect: bool


ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in (
        ActionSpec(
            "git.branch",
            "Create and switch to a git branch.",
            {"name": "branch name", "from": "start point (default: HEAD)"},
            ("name",),
            {"branch": "the branch name", "sha": "commit the branch points at"},
        ),
        ActionSpec(
            "git.commit",
            "Commit the working tree changes with the real git CLI.",
            {"message": "commit message", "paths": "paths to add (default: all changes)"},
            ("message",),
            {"sha": "the new commit", "files": "files in the commit"},
        ),
        ActionSpec(
            "git.pr",
            "Prepare a pull request: a branch with the run's commits and a description.",
            {"title": "title", "body": "description", "branch": "branch name", "base": "target branch"},
            (),
            {"branch": "the PR branch", "url": "where the PR can be seen", "sha": "head commit"},
        ),
        ActionSpec(
            "deploy",
            "Deploy the workspace to a local target: a release folder under .builderos/deployments/{env}.",
            {"env": "environment (one of builderos.yaml envs)", "source": "folder to deploy (default: .)"},
            ("env",),
            {"url": "where the release is served", "release": "release id", "env": "environment"},
        ),
        ActionSpec(
            "rollback",
            "Point an environment back at its previous release.",
            {"env": "environment", "release": "release to restore (default: the previous one)"},
            (),
            {"release": "the restored release", "env": "environment"},
        ),
        ActionSpec(
            "http.check",
            "Request a URL and compare the status code.",
            {"url": "URL to request", "expect_status": "expected status (default 200)", "timeout": "seconds"},
            ("url",),
            {"status": "HTTP status code", "ok": "whether it matched", "body": "response body (truncated)"},
            side_effect=False,
        ),
        ActionSpec(
            "fs.write",
            "Write a file in the workspace (atomically, recorded with its sha256).",
            {"path": "workspace-relative path", "content": "file content"},
            ("path", "content"),
            {"path": "written path", "sha256": "hash of the new content"},
        ),
        ActionSpec(
            "desk.apply",
            "Apply a desk (a project template) with parameters.",
            {"desk": "desk name[@range]", "params": "parameters", "dest": "destination folder"},
            ("desk",),
            {"files": "files written"},
        ),
        ActionSpec(
            "eval.gate",
            "Block the following steps unless an eval suite passes its threshold.",
            {"suite": "eval suite name", "threshold": "minimum pass rate (default: the suite's)"},
            ("suite",),
            {"pass_rate": "measured pass rate", "passed": "whether the gate opened", "evalRunId": "eval run"},
            side_effect=False,
        ),
    )
}

TOOLS: dict[str, ToolSpec] = {
    t.name: t
    for t in (
        ToolSpec("fs.read", "Read a file of the workspace.", "paths", False),
        ToolSpec("fs.list", "List files of the workspace matching a glob.", "paths", False),
        ToolSpec(
            "fs.write", "Write a file (shown as a diff for approval when the policy asks).", "paths", True
        ),
        ToolSpec("fs.delete", "Delete a file.", "paths", True),
        ToolSpec("shell.run", "Run a command without a shell (argument vector).", "commands", True),
        ToolSpec("git.status", "Show the working tree status.", "git", False),
        ToolSpec("git.diff", "Show changes.", "git", False),
        ToolSpec("git.commit", "Commit changes.", "git", True),
        ToolSpec("http.fetch", "Fetch a URL from an allowed host.", "network", False),
    )
}

#: Outputs every step kind has, besides an action's own.
AGENT_OUTPUTS = {"text": "the agent's final answer", "json": "the answer parsed as JSON (json prompts)"}
RUN_OUTPUTS = {
    "exit_code": "the command's exit code",
    "stdout": "standard output",
    "stderr": "standard error",
}

#: What expressions may read of `run.` and of a step besides its outputs.
RUN_FIELDS = ("id", "pipeline", "attempt", "workspace", "started_at", "trigger")
STEP_FIELDS = ("outputs", "status")

#: Approval-rule actions that are not tools or actions themselves.
EXTRA_APPROVAL_ACTIONS = ("git.push", "*")


def is_known_tool(name: str, mcp_servers: set[str] | frozenset[str] = frozenset()) -> bool:
    """Built-in tools, and `mcp.<server>.<tool>` for a declared MCP server."""
    if name in TOOLS:
        return True
    parts = name.split(".")
    return len(parts) >= 3 and parts[0] == "mcp" and parts[1] in mcp_servers
