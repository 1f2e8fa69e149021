// Method names and payloads of the BuilderOS daemon protocol (mirrors server/builderos/protocol.py).

export const Method = {
  runStart: "builderos/runStart",
  runCancel: "builderos/runCancel",
  runResume: "builderos/runResume",
  runs: "builderos/runs",
  run: "builderos/run",
  timeline: "builderos/timeline",
  approvals: "builderos/approvals",
  approvalResolve: "builderos/approvalResolve",
  provenance: "builderos/provenance",
  auditVerify: "builderos/auditVerify",
  deskList: "builderos/deskList",
  deskApply: "builderos/deskApply",
  promptDiff: "builderos/promptDiff",
  evalRun: "builderos/evalRun",
  scenarioRun: "builderos/scenarioRun",
  scenarios: "builderos/scenarios",
  workspaceIndex: "builderos/workspaceIndex",
  deployments: "builderos/deployments",
  deploymentRollback: "builderos/deploymentRollback",
  replay: "builderos/replay",
  runDiff: "builderos/runDiff",
} as const;

export const Notification = {
  runEvent: "builderos/runEvent",
  runsChanged: "builderos/runsChanged",
  approvalRequested: "builderos/approvalRequested",
} as const;

export const ServerCommand = {
  runPipeline: "builderos.runPipeline",
  approvalPlan: "builderos.approvalPlan",
  runScenario: "builderos.runScenario",
  updateGolden: "builderos.updateGolden",
  runEval: "builderos.runEval",
  promptDiff: "builderos.diffPromptWithPrevious",
} as const;

export interface RunEvent {
  seq: number;
  run_id: string;
  step_id: string | null;
  type: string;
  ts: string;
  data: Record<string, unknown>;
}

export interface RunSummary {
  id: string;
  pipeline: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  scenario?: string | null;
}

export interface Change {
  path: string;
  before_sha256: string | null;
  after_sha256: string | null;
  diff: string;
}

export interface Approval {
  id: string;
  run_id: string;
  step_id: string;
  action: string;
  rule: string;
  risk: string;
  summary: string;
  changes: Change[];
  status: string;
  created_at: string;
}

export interface PipelineInfo {
  name: string;
  file: string;
  description: string;
  inputs: Record<string, { type: string; required: boolean; default?: unknown; description?: string }>;
  steps: string[];
}

export interface WorkspaceIndex {
  pipelines: PipelineInfo[];
  agents: { name: string; file: string; role: string; prompt: string; model: string }[];
  prompts: { name: string; versions: { version: string; file: string; snapshot: boolean }[] }[];
  scenarios: { name: string; file: string; pipeline: string }[];
  policies: { file: string; default: string; agents: string[]; approvals: Record<string, unknown>[] }[];
  envs: string[];
}

export interface Deployment {
  env: string;
  current: string | null;
  previous: string | null;
  history: Record<string, unknown>[];
}

export interface Desk {
  name: string;
  version: string;
  description: string;
  source: string;
}

export interface LspRange {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

export interface ScenarioInfo {
  name: string;
  file: string;
  pipeline: string;
  range: LspRange;
}

export interface ScenarioResult {
  name: string;
  file: string;
  passed: boolean;
  runId: string | null;
  failures: { message: string; file: string; range: LspRange }[];
  diff?: string;
}
