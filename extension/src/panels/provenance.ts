// The Provenance panel: for a run, a step or a file, as a readable page (no scripts at all).

import * as vscode from "vscode";
import type { Daemon } from "../daemon";
import { contentSecurityPolicy, escapeHtml, nonce } from "../core/messages";
import { Method } from "../protocol";

type Json = Record<string, unknown>;

function list(items: unknown): unknown[] {
  return Array.isArray(items) ? items : [];
}

/** The HTML body of one step's provenance. */
export function stepSection(step: string, p: Json): string {
  const prompt = typeof p["prompt"] === "string" ? p["prompt"] : "";
  const promptLink = prompt
    ? `<a href="command:builderos.openPromptSnapshot?${encodeURIComponent(JSON.stringify([prompt]))}">${escapeHtml(prompt)}</a>`
    : "—";
  const rows: [string, string][] = [
    [
      "Agent",
      escapeHtml(String(p["agent"] ?? "—")) + (p["role"] ? ` (${escapeHtml(String(p["role"]))})` : ""),
    ],
    [
      "Prompt",
      promptLink +
        (p["prompt_sha256"] ? ` <code>${escapeHtml(String(p["prompt_sha256"]).slice(0, 12))}</code>` : ""),
    ],
    ["Model", escapeHtml([p["model_profile"], p["model"]].filter(Boolean).join(" / ") || "—")],
  ];
  const trace = list(p["tool_trace"])
    .map((t) => {
      const c = t as Json;
      return `<li>${escapeHtml(String(c["type"]))} <b>${escapeHtml(String(c["tool"] ?? ""))}</b> #${escapeHtml(String(c["n"] ?? ""))} <code>${escapeHtml(String(c["args_sha256"] ?? c["result_sha256"] ?? "").slice(0, 12))}</code></li>`;
    })
    .join("");
  const artifacts = list(p["artifacts"])
    .map((a) => {
      const x = a as Json;
      return `<li>${escapeHtml(String(x["name"] ?? x["path"] ?? ""))} <code>${escapeHtml(String(x["sha256"] ?? ""))}</code></li>`;
    })
    .join("");
  const approvals = list(p["approvals"])
    .map((a) => {
      const x = a as Json;
      return `<li>${escapeHtml(String(x["summary"] ?? x["id"] ?? ""))}: ${escapeHtml(String(x["status"] ?? ""))} ${escapeHtml(String(x["resolved_by"] ?? ""))}</li>`;
    })
    .join("");
  return `<section><h2>Step ${escapeHtml(step)}</h2><table>${rows
    .map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`)
    .join("")}</table>
<h3>Tool trace</h3><ul>${trace || "<li>none</li>"}</ul>
<h3>Artifacts</h3><ul>${artifacts || "<li>none</li>"}</ul>
<h3>Approvals</h3><ul>${approvals || "<li>none</li>"}</ul></section>`;
}

export class ProvenancePanel {
  constructor(
    private readonly daemon: Daemon,
    private readonly extensionUri: vscode.Uri,
  ) {}

  async showRun(runId: string, step?: string): Promise<vscode.WebviewPanel> {
    const p = await this.daemon.request<Json>(Method.provenance, step ? { runId, stepId: step } : { runId });
    const steps: [string, Json][] = step
      ? [[step, p]]
      : Object.entries((p["steps"] as Record<string, Json>) ?? {});
    const head = step
      ? `<h1>Provenance of step ${escapeHtml(step)} · run ${escapeHtml(runId)}</h1>`
      : `<h1>Provenance of run ${escapeHtml(runId)}</h1>
<table><tr><th>Pipeline</th><td>${escapeHtml(String(p["pipeline_path"] ?? ""))} <code>${escapeHtml(String(p["pipeline_sha256"] ?? "").slice(0, 12))}</code></td></tr>
<tr><th>Git before</th><td><code>${escapeHtml(String(p["git_before"] ?? "—"))}</code></td></tr>
<tr><th>Git after</th><td><code>${escapeHtml(String(p["git_after"] ?? "—"))}</code></td></tr></table>`;
    return this.render(
      step ? "provenance-step" : "provenance-run",
      `Provenance ${step ?? runId.slice(-8)}`,
      head + steps.map(([s, x]) => stepSection(s, x)).join(""),
    );
  }

  async showFile(uri: vscode.Uri): Promise<vscode.WebviewPanel | undefined> {
    const rel = vscode.workspace.asRelativePath(uri, false);
    const found = await this.daemon.request<Json | null>(Method.provenance, { path: rel });
    if (!found) {
      void vscode.window.showInformationMessage(`No run has written ${rel}.`);
      return undefined;
    }
    return this.showRun(String(found["runId"]), String(found["stepId"]));
  }

  private render(kind: string, title: string, body: string): vscode.WebviewPanel {
    const panel = vscode.window.createWebviewPanel("builderos.provenance", title, vscode.ViewColumn.Active, {
      enableScripts: false,
      enableCommandUris: ["builderos.openPromptSnapshot"],
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, "media")],
    });
    const style = panel.webview.asWebviewUri(
      vscode.Uri.joinPath(this.extensionUri, "media", "provenance.css"),
    );
    panel.webview.html = `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(panel.webview.cspSource, nonce())}">
<link rel="stylesheet" href="${style}"><title>${escapeHtml(title)}</title></head><body class="${kind}">${body}</body></html>`;
    return panel;
  }
}
