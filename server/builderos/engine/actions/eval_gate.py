"""`uses: eval.gate` — a release gate: run an eval suite and stop the pipeline when its pass rate is
under the threshold (`with: {suite, threshold?}`; the suite's `require_pass_rate` by default).

A closed gate fails its step (not retryable), so the steps that `need` it — a deploy, a prompt
promotion — do not run. The decision (`evalRunId`, threshold, pass rate) is in the step's outputs,
recorded once in the effect ledger (a resumed run does not re-decide) and in the audit chain.
"""

from __future__ import annotations

from typing import Any

from builderos.engine.actions._common import bad_param, req_str
from builderos.engine.interfaces import ActionInput, Outputs, StepFailed
from builderos.engine.ledger import StoreLedger
from builderos.store.db import AuditEntry, Batch

NAME = "eval.gate"


def _threshold(inp: ActionInput) -> float | None:
    value = inp.params.get("threshold")
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise bad_param(NAME, f"`threshold` must be a number from 0 to 1, got {value!r}") from None
    if not 0 <= number <= 1:
        raise bad_param(NAME, f"`threshold` must be from 0 to 1, got {number:g}")
    return number


class EvalGate:
    name = NAME

    async def run(self, inp: ActionInput) -> Outputs:
        suite = req_str(inp, NAME, "suite")
        threshold = _threshold(inp)

        async def decide() -> Outputs:
            from builderos.evals.runner import EvalError, Options, SuiteRun, load_workspace

            try:
                run = SuiteRun(load_workspace(inp.workspace), suite, Options())
                result = await run.run()
            except EvalError as exc:
                raise StepFailed(f"{NAME}: {exc}", retryable=False) from None
            limit = result.required if threshold is None else threshold
            opened = result.pass_rate + 1e-9 >= limit
            outputs: Outputs = {
                "suite": suite,
                "evalRunId": result.eval_run_id,
                "pass_rate": result.pass_rate,
                "threshold": limit,
                "passed": opened,
                "prompt": result.prompt,
                "model": result.model,
            }
            inp.log(
                f"{NAME}: suite '{suite}' passed {result.pass_rate:.0%} (threshold {limit:.0%}) in eval run "
                f"{result.eval_run_id}: gate {'open' if opened else 'closed'}"
            )
            await _audit(inp, outputs)
            return outputs

        async def nothing_recorded(_intent: Any) -> Outputs | None:
            return None  # an eval has no effect to find: decide again

        outputs = await inp.ledger.once(
            f"{inp.run_id}/{inp.step_id}/{NAME}",
            NAME,
            {"suite": suite, "threshold": threshold},
            decide,
            nothing_recorded,
        )
        if not outputs.get("passed"):
            raise StepFailed(
                f"{NAME}: suite '{suite}' passed {float(outputs['pass_rate']):.0%} of its runs, under the "
                f"threshold {float(outputs['threshold']):.0%} (eval run {outputs['evalRunId']}): the steps "
                "after this gate do not run",
                outputs=outputs,
                retryable=False,
            )
        return outputs


async def _audit(inp: ActionInput, outputs: Outputs) -> None:
    """The gate's decision in the audit chain (when the run has a store behind its ledger)."""
    ledger = inp.ledger
    if not isinstance(ledger, StoreLedger):
        return
    details = {"run_id": inp.run_id, "step_id": inp.step_id, **outputs}
    entry = AuditEntry(
        ledger.actor,
        "eval.gate",
        "eval_run",
        str(outputs["evalRunId"]),
        "success" if outputs["passed"] else "denied",
        details,
    )
    await ledger.store.write(Batch(audit=[entry]))
