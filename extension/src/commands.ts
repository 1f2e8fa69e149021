// The command palette (SPEC §10) and the code lenses' commands, with the inputs they need asked for.

import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import type { Daemon } from "./daemon";
import type { Approvals } from "./approvals";
import type { EvalDashboard } from "./panels/evals";
import type { ProvenancePanel } from "./panels/provenance";
import type { TimelinePanels } from "./panels/timeline";
import type { Node, Views } from "./views/trees";
import { Method, ServerCommand, type PipelineInfo, type RunSummary, type WorkspaceIndex } from "./protocol";
import { replayReport, runDiffReport, type ReplayResult, type RunDiff } from "./core/reports";

export interface Parts {
  daemon: Daemon;
  views: () => Views;
  approvals: Approvals;
  timelines: () => TimelinePanels;
  provenance: () => ProvenancePanel;
  evals: () => EvalDashboard;
}

function argOf(args: unknown[]): Record<string, unknown> {
  const first = args[0];
  return typeof first === "object" && first !== null ? (first as Record<string, unknown>) : {};
}

/** The code lenses' commands that need the editor first (inputs, panels) go through here. */
export function lensMiddleware(parts: () => Parts): Middleware {
  return {
    executeCommand: async (command, args, next) => {
      if (command === ServerCommand.runPipeline) {
        const a = argOf(args);
        return runPipeline(parts(), typeof a["pipeline"] === "string" ? a["pipeline"] : undefined);
      }
      if (command === ServerCommand.approvalPlan) {
        const plan = (await next(command, args)) as { step: string; rules: string[] }[] | undefined;
        return showApprovalPlan(String(argOf(args)["pipeline"] ?? ""), plan ?? []);
      }
      if (command === ServerCommand.runScenario || command === ServerCommand.updateGolden) {
        const name = String(argOf(args)["scenario"] ?? "");
        return runScenarios(parts(), [name], command === ServerCommand.updateGolden);
      }
      if (command === ServerCommand.runEval) {
        const suite = argOf(args)["suite"];
        await parts()
          .evals()
          .run(typeof suite === "string" ? [suite] : undefined);
        return undefined;
      }
      if (command === ServerCommand.promptDiff) {
        const a = argOf(args);
        return showPromptDiff(parts(), String(a["prompt"]), String(a["previous"]), String(a["version"]));
      }
      try {
        return await next(command, args);
      } catch (err) {
        void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
        return undefined;
      }
    },
  };
}

async function showApprovalPlan(pipeline: string, plan: { step: string; rules: string[] }[]): Promise<void> {
  if (plan.length === 0) {
    void vscode.window.showInformationMessage(`${pipeline}: no step will stop for approval.`);
    return;
  }
  await vscode.window.showQuickPick(
    plan.map((p) => ({ label: `$(shield) ${p.step}`, description: p.rules.join("; ") })),
    {
      title: `Approval plan of ${pipeline}: ${plan.length} step(s) will wait for a human`,
      canPickMany: false,
    },
  );
}

async function pickPipeline(index: WorkspaceIndex, name?: string): Promise<PipelineInfo | undefined> {
  if (name) return index.pipelines.find((p) => p.name === name);
  const pick = await vscode.window.showQuickPick(
    index.pipelines.map((p) => ({ label: p.name, description: p.description, pipeline: p })),
    { title: "Run pipeline" },
  );
  return pick?.pipeline;
}

/** ▶ Run: a quick input per declared input (defaults filled in), a scenario if any, then the timeline. */
export async function runPipeline(parts: Parts, name?: string): Promise<string | undefined> {
  const index = await parts.daemon.request<WorkspaceIndex>(Method.workspaceIndex);
  const pipeline = await pickPipeline(index, name);
  if (!pipeline) {
    if (name) void vscode.window.showErrorMessage(`BuilderOS: no pipeline named '${name}'.`);
    return undefined;
  }
  const inputs: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(pipeline.inputs)) {
    const value = await vscode.window.showInputBox({
      title: `Run ${pipeline.name}: ${key}`,
      prompt: `${spec.description ?? key} (${spec.type}${spec.required ? ", required" : ""})`,
      value: spec.default === undefined ? "" : String(spec.default),
      ignoreFocusOut: true,
      validateInput: (v) => (spec.required && !v.trim() ? `${key} is required` : undefined),
    });
    if (value === undefined) return undefined;
    if (value !== "" || spec.required) inputs[key] = spec.type === "number" ? Number(value) : value;
  }
  let scenario: string | undefined;
  const scenarios = index.scenarios.filter((s) => s.pipeline === pipeline.name);
  if (scenarios.length) {
    const pick = await vscode.window.showQuickPick(
      [
        {
          label: "Configured models",
          description: "run with the models of builderos.yaml",
          scenario: undefined,
        },
        ...scenarios.map((s) => ({ label: `Scenario ${s.name}`, description: s.file, scenario: s.name })),
      ],
      { title: `Run ${pipeline.name} with`, ignoreFocusOut: true },
    );
    if (!pick) return undefined;
    scenario = pick.scenario;
  }
  try {
    const { runId } = await parts.daemon.request<{ runId: string }>(Method.runStart, {
      pipeline: pipeline.name,
      inputs,
      scenario: scenario ?? null,
    });
    await parts.timelines().show(runId);
    void parts.views().runs.refresh();
    return runId;
  } catch (err) {
    void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
    return undefined;
  }
}

export async function runScenarios(
  parts: Parts,
  names: string[] | undefined,
  updateGolden = false,
): Promise<unknown> {
  try {
    const answer = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `BuilderOS: running ${names?.join(", ") || "scenarios"}`,
      },
      () =>
        parts.daemon.request<{ results: { name: string; passed: boolean }[] }>(Method.scenarioRun, {
          names,
          updateGolden,
        }),
    );
    const failed = answer.results.filter((r) => !r.passed);
    const text = `${answer.results.length - failed.length} passed, ${failed.length} failed${updateGolden ? " (golden updated)" : ""}`;
    if (failed.length)
      void vscode.window.showWarningMessage(`Scenarios: ${text}: ${failed.map((f) => f.name).join(", ")}`);
    else void vscode.window.showInformationMessage(`Scenarios: ${text}`);
    return answer;
  } catch (err) {
    void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
    return undefined;
  }
}

async function showPromptDiff(parts: Parts, name: string, from: string, to: string): Promise<void> {
  try {
    const d = await parts.daemon.request<{ fromText: string; toText: string }>(Method.promptDiff, {
      name,
      from,
      to,
    });
    const left = await vscode.workspace.openTextDocument({ content: d.fromText, language: "yaml" });
    const right = await vscode.workspace.openTextDocument({ content: d.toText, language: "yaml" });
    await vscode.commands.executeCommand("vscode.diff", left.uri, right.uri, `${name}: ${from} ↔ ${to}`);
  } catch (err) {
    void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
  }
}

async function showReport(markdown: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument({ content: markdown, language: "markdown" });
  await vscode.window.showTextDocument(doc, { preview: true });
}

async function pickRun(parts: Parts, title: string, except?: string): Promise<string | undefined> {
  const runs = await parts.daemon.request<RunSummary[]>(Method.runs);
  const pick = await vscode.window.showQuickPick(
    runs
      .filter((r) => r.id !== except)
      .reverse()
      .map((r) => ({ label: r.id, description: `${r.pipeline} · ${r.status}` })),
    { title },
  );
  return pick?.label;
}

function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === "string") return arg;
  const node = arg as Node | undefined;
  const payload = node?.payload as { id?: string; run_id?: string } | undefined;
  return payload?.id ?? payload?.run_id;
}

function approvalIdOf(arg: unknown): string | undefined {
  if (typeof arg === "string") return arg;
  if (arg instanceof vscode.Uri) return arg.query.split("&")[0];
  const node = arg as Node | undefined;
  return (node?.payload as { id?: string } | undefined)?.id;
}

async function activeApprovalId(parts: Parts, arg: unknown): Promise<string | undefined> {
  const direct = approvalIdOf(arg);
  if (direct) return direct;
  const tab = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (tab instanceof vscode.TabInputTextDiff) return tab.modified.query.split("&")[0];
  const pending = parts.views().pendingApprovals;
  const pick = await vscode.window.showQuickPick(
    pending.map((a) => ({ label: a.summary, description: a.step_id, id: a.id })),
    { title: "Which approval?" },
  );
  return pick?.id;
}

export function registerCommands(context: vscode.ExtensionContext, parts: Parts): void {
  const reg = (id: string, fn: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg("builderos.restartDaemon", () => parts.daemon.restart());
  reg("builderos.showLog", () => parts.daemon.log.show());
  reg("builderos.startPipeline", (name?: unknown) => {
    const n =
      typeof name === "string"
        ? name
        : ((name as Node | undefined)?.payload as PipelineInfo | undefined)?.name;
    return runPipeline(parts, n);
  });
  reg("builderos.showApprovalPlan", async (name?: unknown) => {
    const n = typeof name === "string" ? name : undefined;
    const plan = await vscode.commands.executeCommand<{ step: string; rules: string[] }[]>(
      ServerCommand.approvalPlan,
      { pipeline: n },
    );
    return plan;
  });
  reg("builderos.pickScenario", async (name?: unknown) => {
    const index = parts.views().index ?? (await parts.daemon.request<WorkspaceIndex>(Method.workspaceIndex));
    const n =
      typeof name === "string"
        ? name
        : await vscode.window.showQuickPick(
            index.scenarios.map((s) => s.name),
            { title: "Run scenario" },
          );
    return n ? runScenarios(parts, [n]) : undefined;
  });
  reg("builderos.runEvals", async () => {
    await parts.evals().run();
  });
  reg("builderos.showTimeline", async (arg?: unknown) => {
    const id = runIdOf(arg) ?? (await pickRun(parts, "Show timeline of run"));
    if (id) await parts.timelines().show(id);
  });
  reg("builderos.showProvenance", async (arg?: unknown) => {
    if (arg instanceof vscode.Uri) return parts.provenance().showFile(arg);
    const id = runIdOf(arg) ?? (await pickRun(parts, "Show provenance of run"));
    if (id) await parts.provenance().showRun(id);
    return undefined;
  });
  reg("builderos.showFileProvenance", async (arg?: unknown) => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (uri) await parts.provenance().showFile(uri);
  });
  reg("builderos.compareRuns", async (arg?: unknown) => {
    const a = runIdOf(arg) ?? (await pickRun(parts, "Compare run…"));
    if (!a) return;
    const b = await pickRun(parts, `Compare run ${a} with…`, a);
    if (!b) return;
    try {
      const diff = await parts.daemon.request<RunDiff>(Method.runDiff, { runA: a, runB: b });
      await showReport(runDiffReport(diff));
    } catch (err) {
      void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
    }
  });
  reg("builderos.replayRun", async (arg?: unknown) => {
    const id = runIdOf(arg) ?? (await pickRun(parts, "Replay run"));
    if (!id) return;
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Replaying run ${id}…` },
        () => parts.daemon.request<ReplayResult>(Method.replay, { runId: id }),
      );
      await showReport(replayReport(result));
    } catch (err) {
      void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
    }
  });
  reg("builderos.cancelRun", async (arg?: unknown) => {
    const id = runIdOf(arg) ?? (await pickRun(parts, "Cancel run"));
    if (id) await parts.daemon.request(Method.runCancel, { runId: id });
  });
  reg("builderos.reviewApproval", async (arg?: unknown) => {
    const id = await activeApprovalId(parts, arg);
    if (id) await parts.approvals.review(id);
  });
  reg("builderos.approve", async (arg?: unknown) => {
    const id = await activeApprovalId(parts, arg);
    if (id) await parts.approvals.decide(id, "approve");
  });
  reg("builderos.deny", async (arg?: unknown) => {
    const id = await activeApprovalId(parts, arg);
    if (id) await parts.approvals.deny(id);
  });
  reg("builderos.rollback", async (arg?: unknown) => {
    const env =
      typeof arg === "string"
        ? arg
        : ((arg as Node | undefined)?.payload as { env?: string } | undefined)?.env;
    if (!env) return;
    const ok = await vscode.window.showWarningMessage(
      `Roll ${env} back to its previous release?`,
      { modal: true },
      "Roll back",
    );
    if (ok !== "Roll back") return;
    try {
      const r = await parts.daemon.request<{ current: string }>(Method.deploymentRollback, { env });
      void vscode.window.showInformationMessage(`${env} is back on ${r.current}.`);
    } catch (err) {
      void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
    }
    void parts.views().deployments.refresh();
  });
  reg("builderos.verifyAudit", async () => {
    const r = await parts.daemon.request<{
      ok: boolean;
      count: number;
      firstBadSeq: number | null;
      reason: string | null;
    }>(Method.auditVerify);
    if (r.ok) void vscode.window.showInformationMessage(`Audit log intact: ${r.count} records.`);
    else void vscode.window.showErrorMessage(`Audit log broken at record ${r.firstBadSeq}: ${r.reason}`);
  });
  reg("builderos.exportAudit", async () => {
    const term = vscode.window.createTerminal({
      name: "BuilderOS audit",
      cwd: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    term.show();
    term.sendText("builderos audit export > audit.ndjson && echo exported to audit.ndjson");
  });
  reg("builderos.applyDesk", async () => {
    try {
      const { desks } = await parts.daemon.request<{ desks: { name: string; description: string }[] }>(
        Method.deskList,
      );
      const pick = await vscode.window.showQuickPick(
        desks.map((d) => ({ label: d.name, description: d.description })),
        {
          title: "Apply desk",
        },
      );
      if (!pick) return;
      const dry = await parts.daemon.request<{ plan: { create: string[]; overwrite: string[] } }>(
        Method.deskApply,
        {
          name: pick.label,
          params: {},
          dryRun: true,
        },
      );
      const go = await vscode.window.showInformationMessage(
        `${pick.label}: creates ${dry.plan.create.length} file(s), overwrites ${dry.plan.overwrite.length}.`,
        { modal: true },
        "Apply",
      );
      if (go === "Apply") await parts.daemon.request(Method.deskApply, { name: pick.label, params: {} });
    } catch (err) {
      void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
    }
  });
  reg("builderos.refreshViews", () =>
    Promise.all(
      parts
        .views()
        .all()
        .map((t) => t.refresh()),
    ),
  );
  reg("builderos.openPromptSnapshot", async (ref?: unknown) => {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (typeof ref !== "string" || !root) return;
    const snapshot = vscode.Uri.joinPath(root, ".builderos", "prompts", `${ref}.yaml`);
    await vscode.window.showTextDocument(snapshot, { preview: false });
  });
}
