// The Eval dashboard's page (SPEC §10): the answer of builderos/evalRun as HTML, every string escaped.

import { escapeHtml } from "./messages";

/** One case of a suite: its pass rate over `repeat` runs and the failures seen. */
export interface EvalCase {
  name: string;
  /** 0..1 */
  passRate: number;
  flaky: boolean;
  failures: string[];
}

/** The semver bump a change of results suggests for the suite's prompt. */
export interface SuggestedBump {
  level: string;
  reason: string;
}

/** One suite's result, as `builderos/evalRun` answers it. */
export interface EvalResult {
  suite: string;
  file: string;
  /** 0..1 */
  passRate: number;
  /** 0..1: the rate the suite must reach */
  required: number;
  passed: boolean;
  evalRunId: string;
  prompt: string;
  model: string;
  requests: number;
  suggestedBump: SuggestedBump | null;
  cases: EvalCase[];
}

export interface EvalRunAnswer {
  results: EvalResult[];
}

export interface DashboardOptions {
  /** The page's heading (default "Eval dashboard"). */
  title?: string;
}

/** A rate of 0..1 as a percentage with at most one decimal: 0.6667 → "66.7%". */
export function percent(rate: number): string {
  if (!Number.isFinite(rate)) return "—";
  return `${Number((rate * 100).toFixed(1))}%`;
}

function badge(passed: boolean): string {
  return passed
    ? `<span class="badge badge-passed">PASSED</span>`
    : `<span class="badge badge-failed">FAILED</span>`;
}

function bumpText(bump: SuggestedBump | null | undefined): string {
  if (!bump) return "none";
  return `<b>${escapeHtml(String(bump.level))}</b>${bump.reason ? ` (${escapeHtml(String(bump.reason))})` : ""}`;
}

function caseRow(c: EvalCase): string {
  const failures = Array.isArray(c.failures) ? c.failures : [];
  const list = failures.length
    ? `<ul class="failures">${failures.map((f) => `<li>${escapeHtml(String(f))}</li>`).join("")}</ul>`
    : "—";
  const flaky = c.flaky ? ` <span class="flaky" title="passed in some runs only">flaky</span>` : "";
  return `<tr class="${failures.length ? "case-failed" : "case-passed"}"><td>${escapeHtml(String(c.name))}${flaky}</td><td class="rate">${percent(c.passRate)}</td><td>${list}</td></tr>`;
}

/** The section of one suite: its figures, then a table of its cases. */
export function suiteSection(r: EvalResult): string {
  const rows: [string, string][] = [
    ["File", `<code>${escapeHtml(String(r.file))}</code>`],
    ["Prompt", escapeHtml(String(r.prompt || "—"))],
    ["Model", escapeHtml(String(r.model || "—"))],
    [
      "Pass rate",
      `<span class="rate">${percent(r.passRate)}</span> (required ${percent(r.required)}) ${badge(r.passed)}`,
    ],
    ["Requests", escapeHtml(String(r.requests ?? 0))],
    ["Suggested prompt bump", bumpText(r.suggestedBump)],
    ["Eval run", `<code>${escapeHtml(String(r.evalRunId))}</code>`],
  ];
  const cases = Array.isArray(r.cases) ? r.cases : [];
  const table = cases.length
    ? `<table class="cases"><thead><tr><th>Case</th><th>Pass rate</th><th>Failures</th></tr></thead><tbody>${cases
        .map(caseRow)
        .join("")}</tbody></table>`
    : `<p>No cases.</p>`;
  return `<section class="suite ${r.passed ? "suite-passed" : "suite-failed"}"><h2>${escapeHtml(String(r.suite))}</h2>
<table class="summary">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join("")}</table>
<h3>Cases</h3>${table}</section>`;
}

/** The HTML body of the dashboard: a heading, then one section per suite. */
export function evalDashboardBody(results: EvalResult[], opts: DashboardOptions = {}): string {
  const head = `<h1>${escapeHtml(opts.title ?? "Eval dashboard")}</h1>`;
  if (!results.length) return `${head}<p class="empty">No eval suites in this workspace (evals/*.yaml)</p>`;
  const failed = results.filter((r) => !r.passed).length;
  const summary = `<p class="overview">${results.length - failed} passed, ${failed} failed</p>`;
  return head + summary + results.map(suiteSection).join("");
}
