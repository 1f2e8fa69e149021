"""Method names of the BuilderOS protocol (LSP + builderos/*), defined once for the daemon."""

from __future__ import annotations

RUN_START = "builderos/runStart"
RUN_CANCEL = "builderos/runCancel"
RUN_RESUME = "builderos/runResume"
RUNS = "builderos/runs"
RUN = "builderos/run"
TIMELINE = "builderos/timeline"
APPROVALS = "builderos/approvals"
APPROVAL_RESOLVE = "builderos/approvalResolve"
PROVENANCE = "builderos/provenance"
AUDIT_VERIFY = "builderos/auditVerify"
DESK_LIST = "builderos/deskList"
DESK_APPLY = "builderos/deskApply"
PROMPT_DIFF = "builderos/promptDiff"
EVAL_RUN = "builderos/evalRun"
SCENARIO_RUN = "builderos/scenarioRun"
SCENARIOS = "builderos/scenarios"
REPLAY = "builderos/replay"
RUN_DIFF = "builderos/runDiff"
APPROVAL_PLAN = "builderos/approvalPlan"

RUN_EVENT = "builderos/runEvent"
APPROVAL_REQUESTED = "builderos/approvalRequested"
RUNS_CHANGED = "builderos/runsChanged"
VALIDATED = "builderos/validated"

#: Requests of the editor's views (lsp/editor_requests.py).
WORKSPACE_INDEX = "builderos/workspaceIndex"
DEPLOYMENTS = "builderos/deployments"
DEPLOYMENT_ROLLBACK = "builderos/deploymentRollback"

#: Commands behind code lenses (workspace/executeCommand).
CMD_RUN_PIPELINE = "builderos.runPipeline"
CMD_APPROVAL_PLAN = "builderos.approvalPlan"
CMD_RUN_SCENARIO = "builderos.runScenario"
CMD_UPDATE_GOLDEN = "builderos.updateGolden"
CMD_RUN_EVAL = "builderos.runEval"
CMD_PROMPT_DIFF = "builderos.diffPromptWithPrevious"
