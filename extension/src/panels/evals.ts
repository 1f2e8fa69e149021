// The Eval dashboard (SPEC §10): runs eval suites through the daemon and shows their results in one
// reusable, script-free webview.

import * as vscode from "vscode";
import type { Daemon } from "../daemon";
import { contentSecurityPolicy, escapeHtml, nonce } from "../core/messages";
import { evalDashboardBody, type EvalRunAnswer } from "../core/evals";
import { Method } from "../protocol";

export class EvalDashboard {
  static readonly viewType = "builderos.evals";
  static readonly title = "Eval dashboard";
  private panel: vscode.WebviewPanel | undefined;

  constructor(
    private readonly daemon: Daemon,
    private readonly extensionUri: vscode.Uri,
  ) {}

  /** Runs the named suites (all when none are named) and shows the results. */
  async run(suites?: string[]): Promise<vscode.WebviewPanel | undefined> {
    let answer: EvalRunAnswer;
    try {
      answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Running evals…" },
        () => this.daemon.request<EvalRunAnswer>(Method.evalRun, { suites }),
      );
    } catch (err) {
      void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
      return undefined;
    }
    return this.render(evalDashboardBody(Array.isArray(answer?.results) ? answer.results : []));
  }

  private render(body: string): vscode.WebviewPanel {
    let panel = this.panel;
    if (panel) panel.reveal();
    else {
      panel = vscode.window.createWebviewPanel(
        EvalDashboard.viewType,
        EvalDashboard.title,
        vscode.ViewColumn.Active,
        {
          enableScripts: false,
          localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, "media")],
        },
      );
      this.panel = panel;
      const created = panel;
      created.onDidDispose(() => {
        if (this.panel === created) this.panel = undefined;
      });
    }
    const style = panel.webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "media", "evals.css"));
    panel.webview.html = `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(panel.webview.cspSource, nonce())}">
<link rel="stylesheet" href="${style}"><title>${escapeHtml(EvalDashboard.title)}</title></head><body class="eval-dashboard">${body}</body></html>`;
    return panel;
  }
}
