// Readable reports of two daemon answers, shown as Markdown documents: pure functions, unit-tested.

export interface StepSide {
  status: string;
  attempts: number;
  duration: number | null;
}

export interface RunDiff {
  runA: string;
  runB: string;
  steps: { step: string; a: StepSide | null; b: StepSide | null; changed: string[] }[];
  outputs: unknown[];
  prompts: unknown[];
  artifacts: unknown[];
}

export interface ReplayResult {
  runId: string;
  replayRunId: string;
  divergences: { stepId: string; field: string; expected: unknown; actual: unknown; message?: string }[];
}

function side(s: StepSide | null): string {
  if (!s) return "—";
  const d = s.duration === null || s.duration === undefined ? "" : `, ${s.duration.toFixed(3)} s`;
  return `${s.status} (${s.attempts} attempt${s.attempts === 1 ? "" : "s"}${d})`;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function list(title: string, items: unknown[]): string[] {
  if (!items.length) return [`**${title}:** the same in both runs.`, ""];
  return [`**${title}** that differ:`, "", ...items.map((i) => `- \`${cell(JSON.stringify(i))}\``), ""];
}

/** The comparison of two runs: a table of steps (what changed first), then outputs, prompts, artifacts. */
export function runDiffReport(d: RunDiff): string {
  const lines = [
    `# Run ${d.runA} compared with ${d.runB}`,
    "",
    "| step | run A | run B | what differs |",
    "|---|---|---|---|",
    ...d.steps.map(
      (s) =>
        `| ${cell(s.step)} | ${side(s.a)} | ${side(s.b)} | ${s.changed.length ? cell(s.changed.join(", ")) : "—"} |`,
    ),
    "",
    ...list("Outputs", d.outputs),
    ...list("Prompts", d.prompts),
    ...list("Artifacts", d.artifacts),
  ];
  return lines.join("\n");
}

/** What a replay found: no divergence, or each step where the current code departs from the record. */
export function replayReport(r: ReplayResult): string {
  const head = [
    `# Replay of run ${r.runId}`,
    "",
    `Replayed as run ${r.replayRunId}, without side effects.`,
    "",
  ];
  if (!r.divergences.length)
    return [...head, "No divergence: the current pipeline, prompts and policy reproduce the run."].join("\n");
  return [
    ...head,
    `**${r.divergences.length} divergence(s)**; the first is at step \`${r.divergences[0].stepId}\`.`,
    "",
    ...r.divergences.map(
      (v) =>
        `- step \`${v.stepId}\`, ${v.field}${v.message ? `: ${v.message}` : ""} — recorded \`${cell(JSON.stringify(v.expected))}\`, now \`${cell(JSON.stringify(v.actual))}\``,
    ),
  ].join("\n");
}
