"""Pipeline rules: step shapes (cached per step text), ids, needs, cycles, references, approvals."""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import Field

from builderos.catalog import ACTIONS, AGENT_OUTPUTS, RUN_OUTPUTS
from builderos.model import Pipeline, Step
from builderos.policy.rules import Decision
from builderos.validate.context import Context
from builderos.validate.expressions import Scope, StepInfo, check_string, walk_strings
from builderos.validate.report import Finding, Report
from builderos.validate.schema import check_model

STEP_KINDS = ("agent", "run", "uses")


class PipelineHeader(Pipeline):
    """The pipeline without its steps, which are checked one by one (and cached)."""

    steps: list[Any] | None = Field(None, description="The steps.")  # type: ignore[assignment]


def check_pipeline(report: Report, ctx: Context) -> None:
    data = report.doc.data
    if not isinstance(data, dict):
        if data is None:
            report.add(
                "BOS003", "empty pipeline: it needs a name and steps", (), "add 'name:' and 'steps:'", "head"
            )
        else:
            report.add(
                "BOS003", "a pipeline must be a mapping of keys", (), "start with 'name:' and 'steps:'"
            )
        return
    check_model(report, PipelineHeader, {k: v for k, v in data.items() if k != "steps"})
    steps = data.get("steps")
    if "steps" not in data:
        report.add(
            "BOS003",
            "missing required key 'steps' in the pipeline",
            (),
            "add 'steps:' with a list",
            "head",
            missing_key="steps",
        )
        return
    if not isinstance(steps, list):
        report.add("BOS003", "'steps' should be a list of steps", ("steps",), "start each step with '- id:'")
        return
    texts = report.doc.step_texts
    used: dict[str, list[Finding]] = {}
    for i, step in enumerate(steps):
        text = texts[i] if texts is not None and i < len(texts) else None
        findings = ctx.step_cache.entries.get(text) if text is not None else None
        if findings is None:
            ctx.step_cache.misses += 1
            findings = _step_local(step)
        else:
            ctx.step_cache.hits += 1
        if text is not None:
            used[text] = findings
        report.extend(findings, ("steps", i))
    if texts is not None:
        ctx.step_cache.entries = used
    _check_graph(report, ctx, data, steps)


def _step_local(step: Any) -> list[Finding]:
    """Checks that depend on nothing but the step itself: its shape and BOS013."""
    rec = Report.recorder()
    if not isinstance(step, dict):
        rec.add("BOS003", "a step must be a mapping with an 'id:'", (), "write '- id: name' and its keys")
        return rec.findings
    check_model(rec, Step, step, owner="this step")
    kinds = [k for k in STEP_KINDS if k in step]
    if len(kinds) == 0:
        rec.add(
            "BOS013",
            f"step '{step.get('id', '?')}' does nothing: it needs one of agent:, run: or uses:",
            (),
            "add 'agent: <name>', 'run: <command>' or 'uses: <action>'",
            "head",
        )
    elif len(kinds) > 1:
        for extra in kinds[1:]:
            rec.add(
                "BOS013",
                f"a step is exactly one of agent:, run: or uses:, not {' and '.join(kinds)}",
                (extra,),
                "split it into two steps joined by needs:",
                "key",
            )
    return rec.findings


def _check_graph(report: Report, ctx: Context, data: dict[str, Any], steps: list[Any]) -> None:
    index: dict[str, int] = {}
    for i, step in enumerate(steps):
        sid = step.get("id") if isinstance(step, dict) else None
        if not isinstance(sid, str):
            continue
        if sid in index:
            report.add(
                "BOS010",
                f"duplicate step id '{sid}' (first used by step {index[sid] + 1})",
                ("steps", i, "id"),
                "give every step a unique id",
            )
        else:
            index[sid] = i
    needs = [_needs(step) for step in steps]
    for i, step_needs in enumerate(needs):
        for j, need in enumerate(step_needs):
            if need not in index:
                report.unknown(
                    "BOS011",
                    "step",
                    need,
                    index,
                    ("steps", i, "needs", j),
                    "needs lists ids of steps of this pipeline",
                )
    ancestors, cyclic = _ancestors(steps, needs, index)
    _report_cycles(report, steps, needs, index, cyclic)
    inputs = data.get("inputs")
    scope = Scope(
        inputs=set(inputs) if isinstance(inputs, dict) else set(),
        steps={sid: _step_info(steps[i]) for sid, i in index.items()},
        runs_before=lambda a, b: a in index and b in index and bool(ancestors[index[b]] >> index[a] & 1),
    )
    for i, step in enumerate(steps):
        if isinstance(step, dict):
            _check_step_refs(report, ctx, step, i, index, scope)


def _needs(step: Any) -> list[str]:
    if not isinstance(step, dict):
        return []
    value = step.get("needs")
    if isinstance(value, str):
        return [value]
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


def _ancestors(steps: list[Any], needs: list[list[str]], index: dict[str, int]) -> tuple[list[int], set[int]]:
    """Transitive `needs` of every step as bit sets (Kahn order), and the steps left in cycles."""
    n = len(steps)
    indegree = [0] * n
    children: list[list[int]] = [[] for _ in range(n)]
    for i, step_needs in enumerate(needs):
        for need in step_needs:
            j = index.get(need)
            if j is not None:
                indegree[i] += 1
                children[j].append(i)
    ancestors = [0] * n
    queue = deque(i for i in range(n) if indegree[i] == 0)
    done = 0
    while queue:
        j = queue.popleft()
        done += 1
        bits = ancestors[j] | (1 << j)
        for i in children[j]:
            ancestors[i] |= bits
            indegree[i] -= 1
            if indegree[i] == 0:
                queue.append(i)
    cyclic = {i for i in range(n) if indegree[i] > 0} if done < n else set()
    return ancestors, cyclic


def _strongly_connected(nodes: set[int], edges: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's algorithm without recursion (a 5,000-step chain must not hit the recursion limit)."""
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in sorted(nodes):
        if root in order:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = edges.get(node, [])
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in order:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], order[child])
                continue
            if low[node] == order[node]:
                component: list[int] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _report_cycles(
    report: Report, steps: list[Any], needs: list[list[str]], index: dict[str, int], cyclic: set[int]
) -> None:
    """Name each cycle once (one per strongly connected group), on every `needs` entry that is part of it."""
    edges = {i: [index[x] for x in needs[i] if index.get(x) in cyclic] for i in cyclic}
    for component in _strongly_connected(cyclic, edges):
        members = set(component)
        start = min(members)
        if len(members) == 1 and start not in edges.get(start, []):
            continue  # not in a cycle: it only waits for one
        path: list[int] = []
        seen: dict[int, int] = {}
        node = start
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = next(x for x in edges[node] if x in members)
        cycle = path[seen[node] :]
        ids = [steps[i]["id"] for i in cycle]
        names = " → ".join([*ids, ids[0]]) + " (each needs the next)"
        for pos, i in enumerate(cycle):
            target = steps[cycle[(pos + 1) % len(cycle)]]["id"]
            j = needs[i].index(target)
            report.add(
                "BOS012",
                f"dependency cycle: {names}",
                ("steps", i, "needs", j)
                if isinstance(steps[i].get("needs"), list)
                else ("steps", i, "needs"),
                f"remove '{target}' from the needs of '{steps[i]['id']}' or break the cycle elsewhere",
                cycle=ids,
            )


_AGENT_INFO = StepInfo(set(AGENT_OUTPUTS), {"json"})
_RUN_INFO = StepInfo(set(RUN_OUTPUTS))
_ACTION_INFO = {name: StepInfo(set(spec.outputs)) for name, spec in ACTIONS.items()}


def _step_info(step: Any) -> StepInfo:
    """What expressions may read of a step; shared (read-only) objects for the common cases."""
    if not isinstance(step, dict):
        return StepInfo(set())
    declared = step.get("outputs")
    if not isinstance(declared, dict):
        if "agent" in step:
            return _AGENT_INFO
        if "run" in step:
            return _RUN_INFO
        shared = _ACTION_INFO.get(step["uses"]) if isinstance(step.get("uses"), str) else None
        if shared is not None:
            return shared
    outputs = set(declared) if isinstance(declared, dict) else set()
    if "agent" in step:
        return StepInfo(outputs | set(AGENT_OUTPUTS), {"json"})
    if "run" in step:
        return StepInfo(outputs | set(RUN_OUTPUTS))
    uses = step.get("uses")
    action = ACTIONS.get(uses) if isinstance(uses, str) else None
    if action is None:
        return StepInfo(outputs, {"*"} if "uses" in step else set())
    return StepInfo(outputs | set(action.outputs))


def _check_step_refs(
    report: Report, ctx: Context, step: dict[str, Any], i: int, index: dict[str, int], scope: Scope
) -> None:
    sid = step.get("id")
    base: tuple[str | int, ...] = ("steps", i)
    agent = step.get("agent")
    if isinstance(agent, str):
        if agent not in ctx.symbols.agents:
            report.unknown(
                "BOS020",
                "agent",
                agent,
                ctx.symbols.agents,
                (*base, "agent"),
                "define it in agents/<name>.yaml or under agents: in builderos.yaml",
            )
        else:
            _check_agent_policy(report, ctx, agent, (*base, "agent"))
    uses = step.get("uses")
    if isinstance(uses, str) and uses not in ACTIONS:
        report.unknown(
            "BOS024", "action", uses, ACTIONS, (*base, "uses"), f"built-in actions: {', '.join(ACTIONS)}"
        )
    elif isinstance(uses, str):
        _check_action_with(report, uses, step.get("with"), base)
    on_failure = step.get("on_failure")
    if isinstance(on_failure, str) and on_failure not in index and on_failure not in ACTIONS:
        report.unknown(
            "BOS024",
            "step or action for on_failure",
            on_failure,
            [*index, *ACTIONS],
            (*base, "on_failure"),
            "name a step id or a built-in action such as rollback",
        )
    if isinstance(sid, str):
        scope.current = sid
    else:
        scope.current = None
    for key in ("with", "if", "env", "run", "timeout"):
        if key in step:
            for path, text in walk_strings(step[key], (*base, key)):
                check_string(report, path, text, scope)
    _approval_plan(report, ctx, step, base)


def _check_action_with(report: Report, action: str, with_: Any, base: tuple[str | int, ...]) -> None:
    spec = ACTIONS[action]
    given = with_ if isinstance(with_, dict) else {}
    for key in spec.required:
        if key not in given:
            report.add(
                "BOS003",
                f"{action} needs 'with.{key}' ({spec.params.get(key, '')})",
                (*base, "uses"),
                f"add 'with: {{{key}: …}}'",
                missing_key=f"with.{key}",
            )
    for key in given:
        if key not in spec.params:
            report.unknown(
                "BOS002",
                f"parameter of {action}",
                str(key),
                list(spec.params),
                (*base, "with", key),
                f"{action} takes: {', '.join(spec.params)}",
                at="key",
            )


def _agent_tools(ctx: Context, agent: str) -> list[tuple[str, Decision]]:
    """The agent's tools with the policy's decision on each, computed once per validation run."""
    key = ("agent-tools", agent)
    found = ctx.memo.get(key)
    if found is None:
        refs = ctx.symbols.agents.get(agent) or []
        tools = refs[0].data.get("tools") if refs else None
        found = [
            (tool, ctx.policy.tool_decision(agent, tool))
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, str)
        ]
        ctx.memo[key] = found
    return found


def _check_agent_policy(report: Report, ctx: Context, agent: str, path: tuple[str | int, ...]) -> None:
    for tool, decision in _agent_tools(ctx, agent):
        if not decision.allowed:
            report.add(
                "BOS040",
                f"agent '{agent}' uses {tool}, which the policy denies ({decision.rule})",
                path,
                f"allow it under agents.{agent}.tools in builderos.policy.yaml, or remove it from the agent",
                tool=tool,
            )


def _approval_rules(ctx: Context, action: str, env: str | None, branch: str | None) -> list[str]:
    key = ("approvals", action, env, branch)
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = [m.rule for m in ctx.policy.approval_rules(action, env, branch)]
    return found


def _approval_plan(report: Report, ctx: Context, step: dict[str, Any], base: tuple[str | int, ...]) -> None:
    """BOS041 on each step that will stop for a human, naming the rule that asks."""
    reasons: list[str] = []
    if step.get("gate") == "approval":
        reasons.append("gate: approval on this step")
    with_raw = step.get("with")
    with_: dict[str, Any] = with_raw if isinstance(with_raw, dict) else {}
    env = with_.get("env") if isinstance(with_.get("env"), str) else None
    branch = with_.get("branch") if isinstance(with_.get("branch"), str) else None
    uses, agent = step.get("uses"), step.get("agent")
    if isinstance(uses, str):
        reasons += _approval_rules(ctx, uses, env, branch)
    elif isinstance(step.get("run"), str):
        reasons += _approval_rules(ctx, "shell.run", env, branch)
    elif isinstance(agent, str) and agent in ctx.symbols.agents:
        for tool, decision in _agent_tools(ctx, agent):
            if decision.allowed:
                reasons += [f"{tool} by {agent}: {rule}" for rule in _approval_rules(ctx, tool, env, branch)]
    if reasons:
        sid = step.get("id", "?")
        report.add(
            "BOS041",
            f"step '{sid}' will ask for approval: {'; '.join(reasons)}",
            (*base, "id") if "id" in step else base,
            "the run waits here until someone approves or denies",
            rules=reasons,
        )
