"""Rules of the small file kinds: project, agent, prompt, policy, scenario, eval, desk, context pack."""

from __future__ import annotations

import re
from typing import Any

from builderos import __version__
from builderos.catalog import ACTIONS, EXTRA_APPROVAL_ACTIONS, TOOLS, is_known_tool
from builderos.model import KIND_MODELS
from builderos.prompts.drift import changed_without_bump
from builderos.prompts.refs import is_semver, parse_prompt_ref, resolve, sort_versions, valid_range
from builderos.validate.context import Context
from builderos.validate.expressions import Scope, check_expression, check_string
from builderos.validate.report import Report
from builderos.validate.schema import check_model

Path = tuple[str | int, ...]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_kind(report: Report, ctx: Context, kind: str) -> None:
    """Schema first, then the kind's own rules, on whatever parts of the data are usable."""
    data = report.doc.data
    model = KIND_MODELS[kind]
    if data is None:
        report.add(
            "BOS003",
            f"empty {kind} file",
            (),
            "see the hover on keys or the schema for what it takes",
            "head",
        )
        return
    if not isinstance(data, dict):
        report.add("BOS003", f"a {kind} file must be a mapping of keys", (), "write 'key: value' lines")
        return
    check_model(report, model, data)
    rule = _RULES.get(kind)
    if rule is not None:
        rule(report, ctx, data)


def check_agent(report: Report, ctx: Context, agent: dict[str, Any], base: Path = ()) -> None:
    name = agent.get("name") if isinstance(agent.get("name"), str) and agent.get("name") else None
    prompt = agent.get("prompt")
    if isinstance(prompt, str) and prompt:
        _check_prompt_ref(report, ctx, prompt, (*base, "prompt"), exact=False)
    model = agent.get("model")
    if isinstance(model, str):
        _check_profile(report, ctx, model, (*base, "model"))
    for i, tool in enumerate(_list(agent.get("tools"))):
        if not isinstance(tool, str):
            continue
        if not is_known_tool(tool, ctx.symbols.mcp_servers):
            report.unknown(
                "BOS024",
                "tool",
                tool,
                TOOLS,
                (*base, "tools", i),
                "tools: " + ", ".join(TOOLS) + ", or mcp.<server>.<tool>",
            )
            continue
        if name is None:
            continue  # no name: the schema reports it; the policy cannot be asked about nobody
        decision = ctx.policy.tool_decision(name, tool)
        if not decision.allowed:
            report.add(
                "BOS040",
                f"the policy denies {tool} to agent '{name}' ({decision.rule})",
                (*base, "tools", i),
                f"allow it under agents.{name}.tools in builderos.policy.yaml",
                tool=tool,
            )
    for i, pack in enumerate(_list(agent.get("context_packs"))):
        if isinstance(pack, str) and pack not in ctx.symbols.context_packs:
            report.unknown(
                "BOS060",
                "context pack",
                pack,
                ctx.symbols.context_packs,
                (*base, "context_packs", i),
                "add context/<id>.json with that id",
            )


def _check_profile(report: Report, ctx: Context, profile: str, path: Path) -> None:
    if profile not in ctx.symbols.profiles:
        report.unknown(
            "BOS023",
            "model profile",
            profile,
            ctx.symbols.profiles,
            path,
            "profiles are defined under models.profiles in builderos.yaml",
        )


def _check_prompt_ref(report: Report, ctx: Context, text: str, path: Path, *, exact: bool) -> None:
    ref = parse_prompt_ref(text)
    versions = ctx.symbols.prompts.get(ref.name)
    if not versions:
        report.unknown(
            "BOS021",
            "prompt",
            ref.name,
            ctx.symbols.prompts,
            path,
            "add prompts/<name>.yaml, or fix the name before '@'",
        )
        return
    listed = ", ".join(sort_versions([v.version for v in versions])) or "none valid"
    if exact and ref.range != "latest" and not is_semver(ref.range):
        report.add(
            "BOS022",
            f"'{ref.range}' is not an exact version of prompt '{ref.name}'",
            path,
            f"evals are bound to one version; available: {listed}",
        )
        return
    if not valid_range(ref.range):
        report.add(
            "BOS022",
            f"'{ref.range}' is not a version range",
            path,
            "use 1.2.0, ^1.2, ~1.2, 1.x, '>=1.5 <2.0' or latest",
        )
        return
    if resolve(ctx.symbols, ref) is None:
        report.add(
            "BOS022",
            f"no version of prompt '{ref.name}' satisfies '{ref.range}' (available: {listed})",
            path,
            "change the range or add that version of the prompt",
        )


def _check_project(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    models = _dict(data.get("models"))
    default = models.get("default")
    if isinstance(default, str):
        _check_profile(report, ctx, default, ("models", "default"))
    for i, pack in enumerate(_list(data.get("context_packs"))):
        if isinstance(pack, str) and pack not in ctx.symbols.context_packs:
            report.unknown(
                "BOS060",
                "context pack",
                pack,
                ctx.symbols.context_packs,
                ("context_packs", i),
                "add context/<id>.json with that id",
            )
    for i, agent in enumerate(_list(data.get("agents"))):
        if isinstance(agent, dict):
            check_agent(report, ctx, agent, ("agents", i))


def _check_agent_file(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    check_agent(report, ctx, data)


def _check_prompt(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    version = data.get("version")
    if version is not None:
        text = str(version)
        if not is_semver(text):
            report.add(
                "BOS052",
                f"version '{text}' is not semver",
                ("version",),
                "write MAJOR.MINOR.PATCH, e.g. 1.2.0 (quote it if YAML reads it as a number)",
            )
        else:
            logged = {str(_dict(e).get("version")) for e in _list(data.get("changelog"))}
            if text not in logged:
                report.add(
                    "BOS051",
                    f"the changelog has no entry for version {text}",
                    ("version",),
                    f"add '- {{version: {text}, notes: \"…\"}}' under changelog:",
                    version=text,
                )
            drifted = changed_without_bump(ctx.ws, report.doc.path, data)
            if drifted is not None:
                report.add(
                    "BOS050",
                    f"the template of {data.get('name')}@{text} changed since a run used it ({drifted})",
                    ("version",),
                    f'bump the version: builderos prompt bump {data.get("name")} patch --notes "…"',
                    version=text,
                )
    for i, entry in enumerate(_list(data.get("changelog"))):
        v = _dict(entry).get("version")
        if v is not None and not is_semver(str(v)):
            report.add(
                "BOS052",
                f"changelog version '{v}' is not semver",
                ("changelog", i, "version"),
                "write MAJOR.MINOR.PATCH, e.g. 1.2.0",
            )


def _check_policy(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    known_actions = [*TOOLS, *ACTIONS, *EXTRA_APPROVAL_ACTIONS]
    for name, entry in _dict(data.get("agents")).items():
        for i, tool in enumerate(_list(_dict(entry).get("tools"))):
            if isinstance(tool, str) and "*" not in tool and not is_known_tool(tool, ctx.symbols.mcp_servers):
                report.unknown(
                    "BOS024", "tool", tool, TOOLS, ("agents", name, "tools", i), "tools: " + ", ".join(TOOLS)
                )
    rule_lists: list[tuple[Path, Any]] = [(("approvals",), data.get("approvals"))]
    rule_lists += [
        (("envs", env, "approvals"), _dict(e).get("approvals")) for env, e in _dict(data.get("envs")).items()
    ]
    for base, rules in rule_lists:
        for i, rule in enumerate(_list(rules)):
            action = _dict(rule).get("action")
            if (
                isinstance(action, str)
                and "*" not in action
                and action not in known_actions
                and not is_known_tool(action, ctx.symbols.mcp_servers)
            ):
                report.unknown(
                    "BOS024",
                    "action",
                    action,
                    known_actions,
                    (*base, i, "action"),
                    "approval rules name a tool or a built-in action",
                )
    for i, pattern in enumerate(_list(_dict(data.get("secrets")).get("patterns"))):
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                report.add(
                    "BOS003",
                    f"secret pattern is not a valid regular expression: {exc}",
                    ("secrets", "patterns", i),
                    "fix the regular expression (Python syntax)",
                )


def _check_scenario(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    name = data.get("pipeline")
    if not isinstance(name, str):
        return
    refs = ctx.symbols.pipelines.get(name)
    if not refs:
        report.unknown(
            "BOS003",
            "pipeline",
            name,
            ctx.symbols.pipelines,
            ("pipeline",),
            "name a pipeline defined under ship/",
        )
        return
    pipeline = refs[0].data
    step_ids = [s.get("id") for s in _list(pipeline.get("steps")) if isinstance(s, dict)]
    declared = _dict(pipeline.get("inputs"))
    inputs = _dict(data.get("inputs"))
    for key in inputs:
        if key not in declared:
            report.unknown(
                "BOS003",
                f"input of pipeline '{name}'",
                str(key),
                list(declared),
                ("inputs", key),
                f"the pipeline declares: {', '.join(declared) or 'no inputs'}",
                at="key",
            )
    for key, spec in declared.items():
        if _dict(spec).get("required") and "default" not in _dict(spec) and key not in inputs:
            report.add(
                "BOS003",
                f"missing required input '{key}' of pipeline '{name}'",
                ("inputs",) if "inputs" in data else ("pipeline",),
                f"add '{key}:' under inputs:",
                missing_key=key,
            )
    stubs = _dict(data.get("stubs"))
    for i, stub in enumerate(_list(stubs.get("llm"))):
        step = _dict(stub).get("step")
        if isinstance(step, str) and step not in step_ids:
            report.unknown(
                "BOS003",
                f"step of pipeline '{name}'",
                step,
                [s for s in step_ids if s],
                ("stubs", "llm", i, "step"),
                "stubs name steps of the scenario's pipeline",
            )
        for j, call in enumerate(_list(_dict(stub).get("tool_calls"))):
            tool = _dict(call).get("tool")
            if isinstance(tool, str) and not is_known_tool(tool, ctx.symbols.mcp_servers):
                report.unknown(
                    "BOS024",
                    "tool",
                    tool,
                    TOOLS,
                    ("stubs", "llm", i, "tool_calls", j, "tool"),
                    "tools: " + ", ".join(TOOLS),
                )
    for tool in _dict(stubs.get("tools")):
        if not is_known_tool(str(tool), ctx.symbols.mcp_servers) and tool not in ACTIONS:
            report.unknown(
                "BOS024",
                "tool or action",
                str(tool),
                [*TOOLS, *ACTIONS],
                ("stubs", "tools", tool),
                "stub results of tools (" + ", ".join(TOOLS) + ") or actions",
                at="key",
            )
    for step in _dict(_dict(data.get("expect")).get("steps")):
        if step not in step_ids:
            report.unknown(
                "BOS003",
                f"step of pipeline '{name}'",
                str(step),
                [s for s in step_ids if s],
                ("expect", "steps", step),
                "expectations name steps of the scenario's pipeline",
                at="key",
            )


def _check_eval(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        _check_prompt_ref(report, ctx, prompt, ("prompt",), exact=True)
    model = data.get("model")
    if isinstance(model, str):
        _check_profile(report, ctx, model, ("model",))
    scope = Scope(inputs=set(), steps={}, roots=("output", "vars", "env"))
    for i, case in enumerate(_list(data.get("cases"))):
        for j, assertion in enumerate(_list(_dict(case).get("assert"))):
            a = _dict(assertion)
            path: Path = ("cases", i, "assert", j, "value")
            value = a.get("value")
            if a.get("type") == "regex" and isinstance(value, str):
                try:
                    re.compile(value)
                except re.error as exc:
                    report.add(
                        "BOS003", f"not a valid regular expression: {exc}", path, "use Python regex syntax"
                    )
            elif a.get("type") == "expr" and isinstance(value, str):
                _check_bare_expression(report, path, value, scope)


def _check_bare_expression(report: Report, path: Path, value: str, scope: Scope) -> None:
    """An eval `expr` is a bare expression; `${{ }}` around it is accepted too."""
    if "${{" in value:
        check_string(report, path, value, scope)
    else:
        check_expression(report, path, value, 0, scope)


def _check_desk(report: Report, ctx: Context, data: dict[str, Any]) -> None:
    for name, spec in _dict(data.get("parameters")).items():
        _check_desk_parameter(report, str(name), _dict(spec), ("parameters", name))
    requires = _dict(data.get("requires")).get("builderos")
    if isinstance(requires, str):
        if not valid_range(requires):
            report.add(
                "BOS003",
                f"'{requires}' is not a version range",
                ("requires", "builderos"),
                "write a range such as >=0.1 or ^1.0",
            )
        elif resolve_version(requires) is False:
            report.add(
                "BOS003",
                f"this desk requires BuilderOS {requires}; this is {__version__}",
                ("requires", "builderos"),
                "upgrade BuilderOS or use an older version of the desk",
            )
    files = data.get("files", "template/")
    if isinstance(files, str):
        folder = report.ws.abspath(report.doc.path).parent / files if report.ws else None
        if folder is not None and not folder.is_dir():
            report.add(
                "BOS003",
                f"the desk's files folder '{files}' does not exist",
                ("files",) if "files" in data else (),
                "create it next to desk.yaml, with the template files inside",
                "value" if "files" in data else "head",
            )


def resolve_version(rng: str) -> bool:
    import nodesemver

    try:
        return bool(nodesemver.satisfies(__version__, rng, loose=False))
    except (ValueError, TypeError):
        return True


def _check_desk_parameter(report: Report, name: str, spec: dict[str, Any], path: Path) -> None:
    kind = spec.get("type", "string")
    default = spec.get("default")

    def bad(message: str, key: str, hint: str) -> None:
        report.add(
            "BOS070",
            f"parameter '{name}': {message}",
            (*path, key) if key in spec else path,
            hint,
            at="value" if key in spec else "key",
        )

    pattern = spec.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            bad(f"pattern is not a valid regular expression ({exc})", "pattern", "fix the regular expression")
            compiled = None
        if compiled and isinstance(default, str) and not compiled.search(default):
            bad(f"default {default!r} does not match its pattern {pattern}", "default", "change the default")
    if kind == "enum":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            bad("an enum needs a non-empty list of values", "values", "add 'values: [a, b]'")
        elif default is not None and default not in values:
            bad(f"default {default!r} is not one of {values}", "default", "pick one of the values")
    if kind == "number":
        lo, hi = spec.get("min"), spec.get("max")
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
            bad(f"min {lo} is greater than max {hi}", "min", "swap min and max")
        if default is not None and (not isinstance(default, int | float) or isinstance(default, bool)):
            bad(f"default {default!r} is not a number", "default", "write a number")
        elif isinstance(default, int | float) and (
            (isinstance(lo, int | float) and default < lo) or (isinstance(hi, int | float) and default > hi)
        ):
            bad(f"default {default} is outside [{lo}, {hi}]", "default", "move the default into the range")
    if kind == "boolean" and default is not None and not isinstance(default, bool):
        bad(f"default {default!r} is not true or false", "default", "write true or false")
    if kind == "secret" and default is not None:
        bad(
            "a secret parameter cannot have a default (it would be written to disk)",
            "default",
            "remove the default; the value is asked for when the desk is applied",
        )
    if kind in ("string", "secret") and default is not None and not isinstance(default, str):
        bad(f"default {default!r} is not text", "default", "quote the default")


_RULES = {
    "project": _check_project,
    "agent": _check_agent_file,
    "prompt": _check_prompt,
    "policy": _check_policy,
    "scenario": _check_scenario,
    "eval": _check_eval,
    "desk": _check_desk,
}
