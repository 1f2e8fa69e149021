// The extension's entry: wires the daemon, the views, the panels, approvals and the Test Explorer.

import * as vscode from "vscode";
import { Approvals, PROPOSED_SCHEME } from "./approvals";
import { lensMiddleware, registerCommands, type Parts } from "./commands";
import { approvalsStatusText } from "./core/models";
import { Daemon } from "./daemon";
import { provenanceHover } from "./hover";
import { EvalDashboard } from "./panels/evals";
import { ProvenancePanel } from "./panels/provenance";
import { TimelinePanels } from "./panels/timeline";
import { registerBenchmark } from "./bench";
import { ScenarioTests } from "./testing";
import { createViews, type Views } from "./views/trees";

export interface Api {
  daemon: Daemon;
  timelines: TimelinePanels;
  activatedIn: number;
}

export function activate(context: vscode.ExtensionContext): Api {
  const t0 = performance.now();
  const late: { parts?: Parts } = {};
  const daemon = new Daemon(
    context,
    lensMiddleware(() => late.parts as Parts),
  );
  const approvals = new Approvals(daemon);
  const provenance = new ProvenancePanel(daemon, context.extensionUri);
  const timelines = new TimelinePanels(daemon, context.extensionUri, async (runId, step) => {
    await provenance.showRun(runId, step);
  });
  const evals = new EvalDashboard(daemon, context.extensionUri);
  const views: Views = createViews(daemon, context);
  const parts: Parts = {
    daemon,
    views: () => views,
    approvals,
    timelines: () => timelines,
    provenance: () => provenance,
    evals: () => evals,
  };
  late.parts = parts;
  registerCommands(context, parts);
  const tests = new ScenarioTests(daemon);

  const approvalsItem = vscode.window.createStatusBarItem(
    "builderos.approvals",
    vscode.StatusBarAlignment.Left,
    50,
  );
  approvalsItem.name = "BuilderOS approvals";
  approvalsItem.command = "builderos.reviewApproval";
  const updateApprovals = () => {
    approvals.remember(views.pendingApprovals);
    const text = approvalsStatusText(views.pendingApprovals);
    if (text) {
      approvalsItem.text = text;
      approvalsItem.tooltip = "BuilderOS: approvals waiting (click to review)";
      approvalsItem.show();
    } else approvalsItem.hide();
  };
  views.approvals.onDidChangeTreeData(updateApprovals);

  context.subscriptions.push(
    daemon,
    tests,
    approvalsItem,
    vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, approvals),
    vscode.languages.registerHoverProvider({ scheme: "file" }, provenanceHover(daemon)),
    daemon.onState((s) => {
      // the palette shows Approve / Deny while a daemon is there to take the decision
      void vscode.commands.executeCommand("setContext", "builderos.active", s === "ready");
      if (s === "ready") {
        for (const t of views.all()) void t.refresh();
        void tests.refresh();
      }
    }),
    daemon.onRunsChanged(() => {
      void views.runs.refresh();
      void views.approvals.refresh();
      void views.deployments.refresh();
    }),
    daemon.onApprovalRequested(async (p) => {
      await views.approvals.refresh();
      const id = String(p["id"] ?? "");
      const choice = await vscode.window.showInformationMessage(
        `BuilderOS: approval needed: ${String(p["summary"] ?? p["action"] ?? id)}`,
        "Review",
      );
      if (choice === "Review") await approvals.review(id);
    }),
    vscode.workspace.onDidSaveTextDocument((d) => {
      if (/\.(ya?ml)$/.test(d.fileName)) {
        for (const t of [views.pipelines, views.agents, views.prompts, views.policies]) void t.refresh();
        void tests.refresh();
      }
    }),
  );
  registerBenchmark(context, daemon, timelines, t0);
  void daemon.start();
  const activatedIn = performance.now() - t0;
  daemon.log.info(`activated in ${activatedIn.toFixed(1)} ms`);
  return { daemon, timelines, activatedIn };
}

export function deactivate(): void {
  // the daemon is disposed with the context's subscriptions
}
