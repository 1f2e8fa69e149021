// View models of the trees: pure functions of the daemon's answers, tested without VS Code.

import type { Approval, Deployment, RunSummary } from "../protocol";

export const FINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);

/** Runs grouped by pipeline (pipelines by name, newest run first). */
export function groupRuns(runs: RunSummary[]): { pipeline: string; runs: RunSummary[] }[] {
  const groups = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const list = groups.get(run.pipeline) ?? [];
    list.push(run);
    groups.set(run.pipeline, list);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([pipeline, list]) => ({
      pipeline,
      runs: list.sort((a, b) => (b.started_at ?? b.id).localeCompare(a.started_at ?? a.id)),
    }));
}

/** "1.2 s", "3 m 05 s", "1 h 02 m"; a running run counts up to `now`. */
export function formatDuration(startIso: string | null, endIso: string | null, now: number): string {
  if (!startIso) return "";
  const start = Date.parse(startIso);
  const end = endIso ? Date.parse(endIso) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return "";
  const ms = Math.max(0, end - start);
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
}

/** The codicon of a run or step state. */
export function statusIcon(status: string): string {
  switch (status) {
    case "succeeded":
      return "pass";
    case "failed":
      return "error";
    case "cancelled":
      return "circle-slash";
    case "awaiting_approval":
      return "shield";
    case "running":
    case "retrying":
      return "sync~spin";
    case "skipped":
      return "debug-step-over";
    default:
      return "circle-outline";
  }
}

/** The label of a run in the Runs view. */
export function runLabel(run: RunSummary, now: number): { label: string; description: string } {
  const duration = formatDuration(run.started_at, run.ended_at, now);
  const status = run.status.replace(/_/g, " ");
  return { label: `${run.id.slice(-8)} ${status}`, description: duration };
}

/** The text of the pending-approvals status bar item, or undefined to hide it. */
export function approvalsStatusText(approvals: Approval[]): string | undefined {
  const n = approvals.filter((a) => a.status === "pending").length;
  return n === 0 ? undefined : `$(shield) ${n} approval${n === 1 ? "" : "s"}`;
}

/** A deployment row: "stage  r2-…  (rollback to r1-…)". */
export function deploymentRow(d: Deployment): { label: string; description: string; canRollback: boolean } {
  return {
    label: d.env,
    description: d.current ? `${d.current}${d.previous ? ` ← ${d.previous}` : ""}` : "not deployed",
    canRollback: Boolean(d.current && d.previous),
  };
}

/** The interpreters to try, in order: the setting, the workspace's .venv, the Python extension's, python3. */
export function interpreterCandidates(opts: {
  setting: string | undefined;
  workspaceFolder: string | undefined;
  pythonExtension: string | undefined;
  exists: (path: string) => boolean;
}): string[] {
  const out: string[] = [];
  if (opts.setting && opts.setting.trim()) out.push(opts.setting.trim());
  if (opts.workspaceFolder) {
    for (const rel of [".venv/bin/python", ".venv/Scripts/python.exe"]) {
      const p = `${opts.workspaceFolder.replace(/[\\/]+$/, "")}/${rel}`;
      if (opts.exists(p)) out.push(p);
    }
  }
  if (opts.pythonExtension) out.push(opts.pythonExtension);
  out.push("python3");
  return [...new Set(out)];
}

/**
 * What `pip install` gets for the private environment: the `builderos.installSpec` setting if set,
 * else the newest wheel the .vsix carries (`python/builderos-X.Y.Z-py3-none-any.whl`), else the
 * package name (for a build packaged without one).
 */
export function installSpec(opts: {
  setting: string | undefined;
  bundledWheels: string[];
  extensionPath: string;
}): string {
  if (opts.setting && opts.setting.trim()) return opts.setting.trim();
  const version = (name: string): number[] =>
    (/^builderos-(\d+(?:\.\d+)*)-/.exec(name)?.[1] ?? "0").split(".").map(Number);
  const newerFirst = (a: string, b: string): number => {
    const va = version(a);
    const vb = version(b);
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      const d = (vb[i] ?? 0) - (va[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  };
  const wheels = opts.bundledWheels.filter((n) => /^builderos-.*\.whl$/.test(n)).sort(newerFirst);
  if (wheels.length) return `${opts.extensionPath.replace(/[\\/]+$/, "")}/python/${wheels[0]}`;
  return "builderos";
}

/** The proposed text of a file: `before` with a unified diff applied (hunks in order). */
export function applyUnifiedDiff(before: string, diff: string): string {
  const src = before === "" ? [] : before.split("\n");
  const out: string[] = [];
  let at = 0; // index into src of the next line not yet copied
  const lines = diff.split("\n");
  let i = 0;
  while (i < lines.length && !lines[i].startsWith("@@")) i++;
  while (i < lines.length) {
    const m = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@/.exec(lines[i]);
    if (!m) {
      i++;
      continue;
    }
    const oldStart = Number(m[1]);
    const oldLen = m[2] === undefined ? 1 : Number(m[2]);
    const from = oldLen === 0 ? oldStart : oldStart - 1;
    while (at < from && at < src.length) out.push(src[at++]);
    i++;
    while (i < lines.length && !lines[i].startsWith("@@")) {
      const line = lines[i];
      if (line.startsWith("+")) out.push(line.slice(1));
      else if (line.startsWith("-")) at++;
      else if (line.startsWith(" ")) {
        out.push(line.slice(1));
        at++;
      } else if (line.startsWith("\\")) {
        // "\ No newline at end of file"
      } else if (line === "" && i === lines.length - 1) {
        // the diff's own trailing newline
      }
      i++;
    }
  }
  while (at < src.length) out.push(src[at++]);
  if (before === "" && out.length > 0 && !diff.includes("\\ No newline")) return out.join("\n") + "\n";
  return out.join("\n");
}

/**
 * Runs `task` at most once at a time; calls made while it runs share one follow-up run.
 * That is what "restarts coalesced" means: ten restart clicks give one restart after the current one.
 */
export class Coalescer {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly task: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.queued) return this.queued;
    if (this.running) {
      const after = this.running.then(
        () => undefined,
        () => undefined,
      );
      this.queued = after.then(() => {
        this.queued = undefined;
        return this.start();
      });
      return this.queued;
    }
    return this.start();
  }

  private start(): Promise<void> {
    const p = this.task().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}
