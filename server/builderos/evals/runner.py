"""Run eval suites: every case `repeat` times against the suite's prompt version and model profile,
every assertion on every answer, then pass rates (with a Wilson interval), flaky cases, the stored
result and the semver bump the change of results suggests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ulid import ULID

from builderos.evals import results as res
from builderos.evals.assertions import Answer, check
from builderos.evals.cache import AnswerCache
from builderos.evals.responder import AnswerFailed, Model, Responder, make_model
from builderos.evals.stats import wilson
from builderos.model.eval_suite import Assertion, EvalCase, EvalSuite
from builderos.policy.redact import Redactor
from builderos.prompts.refs import parse_prompt_ref, resolve
from builderos.workspace.index import Workspace

OUTPUT_LIMIT = 4_000  # characters of one answer kept in the results


class EvalError(Exception):
    """A suite that cannot run (unknown name, invalid file, unknown prompt or profile): one line + hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class Options:
    no_cache: bool = False
    offline: bool = False  # every model (and judge) is the scripted one: CI without a model


def load_workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    ws.scan()
    return ws


def suite_names(ws: Workspace) -> list[str]:
    return sorted(ws.symbols.evals)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _suite(ws: Workspace, name: str) -> tuple[str, EvalSuite]:
    refs = ws.symbols.evals.get(name)
    if not refs:
        known = ", ".join(suite_names(ws)) or "none"
        raise EvalError(f"unknown eval suite '{name}'", f"suites in this workspace: {known}")
    ref = refs[0]
    try:
        return ref.path, EvalSuite.model_validate(ref.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise EvalError(
            f"{ref.path}: {where}: {first.get('msg')}", f"run 'builderos validate {ref.path}'"
        ) from None


def _prompt(ws: Workspace, suite: EvalSuite, file: str) -> dict[str, Any]:
    ref = parse_prompt_ref(suite.prompt)
    found = resolve(ws.symbols, ref)
    if found is None:
        raise EvalError(
            f"{file}: prompt '{suite.prompt}' is not in this workspace", "run 'builderos prompt list'"
        )
    return dict(found.ref.data)


def _profile(ws: Workspace, name: str | None, file: str, offline: bool) -> tuple[str, dict[str, Any] | None]:
    if offline:
        return (name or "offline", None)
    chosen = name or ws.symbols.default_profile
    if chosen is None:
        return ("scripted", None)
    ref = ws.symbols.profiles.get(chosen)
    if ref is None:
        raise EvalError(
            f"{file}: unknown model profile '{chosen}'", "profiles are defined under models.profiles"
        )
    return chosen, dict(ref.data)


class SuiteRun:
    """One run of one suite."""

    def __init__(self, ws: Workspace, name: str, options: Options) -> None:
        self.ws = ws
        self.file, self.suite = _suite(ws, name)
        self.prompt = _prompt(ws, self.suite, self.file)
        self.options = options
        self.store_dir = ws.root / ".builderos"
        policy = ws.symbols.policy.data if ws.symbols.policy else None
        self.project = dict(ws.symbols.project.data) if ws.symbols.project else {}
        self.packs = {k: dict(v.data) for k, v in ws.symbols.context_packs.items()}
        profile_name, profile = _profile(ws, self.suite.model, self.file, options.offline)
        env_name = profile.get("api_key_env") if profile else None
        self.redactor = Redactor.from_policy(policy, [str(env_name)] if env_name else [])
        self.model = self._model(profile_name, profile)
        self.responder = Responder(
            AnswerCache(self.store_dir, enabled=not options.no_cache), self.redactor, ws.root
        )
        self._judges: dict[str | None, Model] = {}

    def _model(self, name: str, profile: dict[str, Any] | None) -> Model:
        try:
            return make_model(name, profile, project=self.project, packs=self.packs, redactor=self.redactor)
        except AnswerFailed as exc:
            raise EvalError(f"{self.file}: {exc}", "fix the model profile in builderos.yaml") from None

    def _judge_model(self, assertion: Assertion) -> Model:
        if assertion.model is None:
            return self.model
        if assertion.model not in self._judges:
            name, profile = _profile(self.ws, assertion.model, self.file, self.options.offline)
            self._judges[assertion.model] = self._model(name, profile)
        return self._judges[assertion.model]

    @property
    def prompt_sha256(self) -> str:
        blob = json.dumps(self.prompt, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def _one(self, case: EvalCase, index: int) -> tuple[list[str], str]:
        """The failures of run `index` of a case (empty: it passed), and the answer."""
        try:
            text = await self.responder.answer(
                self.model, self.suite.name, self.prompt, case.vars, index, list(case.replies)
            )
        except AnswerFailed as exc:
            return [str(exc)], ""
        answer = Answer.of(text)

        async def judge(assertion: Assertion, _i: int, ans: Answer) -> str | None:
            return await self.responder.judge(
                self._judge_model(assertion), assertion.rubric or "", ans.text, index, list(assertion.replies)
            )

        failures: list[str] = []
        for i, assertion in enumerate(case.assert_):
            try:
                problem = await check(assertion, i, answer, case.vars, judge)
            except AnswerFailed as exc:
                problem = str(exc)
            if problem is not None:
                failures.append(problem)
        return failures, text

    async def run(self) -> res.SuiteResult:
        started = _now()
        previous = res.read_latest(self.store_dir, self.suite.name)
        cases: list[res.CaseResult] = []
        for case in self.suite.cases:
            passes = 0
            failures: list[str] = []
            outputs: list[str] = []
            for index in range(self.suite.repeat):
                problems, text = await self._one(case, index)
                passes += not problems
                failures.extend(p for p in problems if p not in failures)
                outputs.append(self.redactor.text(text)[:OUTPUT_LIMIT])
            runs = self.suite.repeat
            cases.append(
                res.CaseResult(
                    case.name,
                    runs,
                    passes,
                    round(passes / runs, 4),
                    wilson(passes, runs),
                    0 < passes < runs,
                    failures,
                    outputs,
                )
            )
        total = sum(c.runs for c in cases)
        rate = round(sum(c.passes for c in cases) / total, 4) if total else 0.0
        result = res.SuiteResult(
            suite=self.suite.name,
            file=self.file,
            eval_run_id=str(ULID()),
            prompt=f"{self.prompt.get('name')}@{self.prompt.get('version')}",
            prompt_sha256=self.prompt_sha256,
            profile=self.model.profile_name,
            provider=self.model.provider_name,
            model=self.model.model_name,
            pass_rate=rate,
            required=self.suite.require_pass_rate,
            passed=rate + 1e-9 >= self.suite.require_pass_rate,
            cases=cases,
            started_at=started,
            ended_at=_now(),
            requests=self.responder.requests,
            cache_hits=self.responder.cache.hits,
            suggested_bump=res.suggest_bump(previous, cases),
        )
        res.store(self.store_dir, result)
        return result


async def run_suites(ws: Workspace, names: list[str] | None, options: Options) -> list[res.SuiteResult]:
    """Run the named suites (all when None or empty), in name order; errors before anything runs."""
    chosen = names or suite_names(ws)
    runs = [SuiteRun(ws, name, options) for name in chosen]
    return [await r.run() for r in runs]
