"""Where an eval's answers come from: a real model profile through the agent runtime's providers
(the same rendering and system message as a pipeline step), or a case's scripted `replies`.

Every answer goes through the cache first; a provider error is an answer that failed, never cached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builderos.agents.loop import LlmAgent, runtime_for
from builderos.agents.providers import ChatRequest, Message, ProviderError
from builderos.engine.agents import AgentCall
from builderos.engine.interfaces import StepFailed
from builderos.evals.cache import AnswerCache, cache_key
from builderos.policy.redact import Redactor

JUDGE_SYSTEM = (
    "You are a strict evaluator of another model's answer. Read the rubric and the answer. Reply with "
    "one line: PASS or FAIL, then a colon and a one-sentence reason."
)


class AnswerFailed(Exception):
    """No answer for this run (a provider error, or no scripted reply): the run fails with this reason."""


async def _no_emit(_type: str, _data: dict[str, Any]) -> None:
    return None


@dataclass(slots=True)
class Model:
    """One model profile as evals use it: scripted (offline) or an LlmAgent with its provider."""

    profile_name: str
    agent: LlmAgent | None  # None: scripted

    @property
    def label(self) -> str:
        """Provider and model: part of every cache key, shown in results."""
        if self.agent is None:
            return "scripted"
        return f"{self.agent.provider.name}:{self.agent.provider.model}@{self.agent.provider.base_url}"

    @property
    def model_name(self) -> str:
        return "scripted" if self.agent is None else self.agent.provider.model

    @property
    def provider_name(self) -> str:
        return "scripted" if self.agent is None else self.agent.provider.name


def make_model(
    profile_name: str | None,
    profile: Mapping[str, Any] | None,
    *,
    project: Mapping[str, Any],
    packs: Mapping[str, Mapping[str, Any]],
    redactor: Redactor,
    environ: Mapping[str, str] | None = None,
) -> Model:
    """The model of a profile; a profile that cannot work raises AnswerFailed with the reason."""
    if profile is None:
        return Model(profile_name or "scripted", None)
    try:
        runtime = runtime_for(
            profile,
            profile_name=profile_name,
            project=project,
            context_packs=packs,
            redactor=redactor,
            environ=environ,
            max_attempts=2,
        )
    except StepFailed as exc:
        raise AnswerFailed(str(exc)) from None
    if runtime is None:
        return Model(profile_name or "scripted", None)
    assert isinstance(runtime, LlmAgent)
    return Model(profile_name or "?", runtime)


class Responder:
    """Answers of one suite run: cached, redacted, counted."""

    def __init__(self, cache: AnswerCache, redactor: Redactor, workspace: Path) -> None:
        self.cache = cache
        self.redactor = redactor
        self.workspace = workspace
        self.requests = 0  # provider requests actually sent

    def _call(self, model: Model, suite: str, prompt: dict[str, Any], variables: dict[str, Any]) -> AgentCall:
        return AgentCall(
            run_id="eval",
            step_id=suite,
            attempt=1,
            agent={"name": f"eval {suite}"},
            prompt=prompt,
            inputs=dict(variables),
            workspace=self.workspace,
            tools=None,  # type: ignore[arg-type]  # an eval offers no tools
            emit=_no_emit,
            model_profile=model.profile_name,
        )

    async def answer(
        self,
        model: Model,
        suite: str,
        prompt: dict[str, Any],
        variables: dict[str, Any],
        repeat_index: int,
        replies: list[Any],
    ) -> str:
        """The answer of run `repeat_index` of a case."""
        if model.agent is None:
            if not replies:
                raise AnswerFailed(
                    f"the scripted profile '{model.profile_name}' has no answer: add `replies:` to the case"
                )
            reply = replies[repeat_index % len(replies)]
            return reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        agent = model.agent
        call = self._call(model, suite, prompt, variables)
        messages = [
            Message("system", agent.redact_text(agent.system_message(call, []))),
            Message("user", agent.redact_text(agent.render(call).text)),
        ]
        return await self._complete(model, messages, variables, repeat_index)

    async def judge(
        self, model: Model, rubric: str, answer: str, repeat_index: int, replies: list[str]
    ) -> str | None:
        """None when the judge passes the answer, else its reason."""
        if model.agent is None:
            if not replies:
                raise AnswerFailed(
                    f"llm_judge: the scripted judge profile '{model.profile_name}' has no verdicts: add "
                    "`replies: [PASS, …]` to the assertion or name a real model profile under `model:`"
                )
            verdict = replies[repeat_index % len(replies)]
        else:
            messages = [
                Message("system", JUDGE_SYSTEM),
                Message("user", f"Rubric: {rubric}\n\nAnswer:\n{model.agent.redact_text(answer)}"),
            ]
            verdict = await self._complete(model, messages, {"judge": rubric}, repeat_index)
        return parse_verdict(verdict)

    async def _complete(
        self, model: Model, messages: list[Message], variables: Any, repeat_index: int
    ) -> str:
        assert model.agent is not None
        digest = hashlib.sha256(
            json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False).encode()
        ).hexdigest()
        key = cache_key(model.label, digest, variables, repeat_index)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        self.requests += 1
        try:
            response = await model.agent.provider.complete(ChatRequest(messages=messages))
        except ProviderError as exc:
            raise AnswerFailed(f"model: {self.redactor.text(str(exc))}") from None
        text = model.agent.redact_text(response.text)
        self.cache.put(key, model.label, text)
        return text


def parse_verdict(text: str) -> str | None:
    """PASS/FAIL (or JSON `{"pass": bool, "reason": …}`) from a judge's reply; None means pass."""
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("pass"), bool):
        reason = str(data.get("reason") or "")
        return None if data["pass"] else f"llm_judge: {reason or 'the judge failed the answer'}"
    head = stripped.split(None, 1)[0].strip(":.,").upper() if stripped else ""
    if head == "PASS":
        return None
    reason = stripped[4:].lstrip(" :-") if head == "FAIL" else f"unclear verdict {stripped[:80]!r}"
    return f"llm_judge: {reason or 'the judge failed the answer'}"
