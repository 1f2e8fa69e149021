// Approvals as diffs: the proposed file through a read-only content provider, VS Code's diff editor,
// Approve and Deny in the editor title, and the decision sent to the daemon.

import * as vscode from "vscode";
import type { Daemon } from "./daemon";
import { applyUnifiedDiff } from "./core/models";
import { Method, type Approval } from "./protocol";

export const PROPOSED_SCHEME = "builderos-proposed";

export class Approvals implements vscode.TextDocumentContentProvider {
  private readonly known = new Map<string, Approval>();

  constructor(private readonly daemon: Daemon) {}

  remember(list: Approval[]): void {
    for (const a of list) this.known.set(a.id, a);
  }

  async get(id: string): Promise<Approval | undefined> {
    if (!this.known.has(id)) this.remember(await this.daemon.request<Approval[]>(Method.approvals));
    return this.known.get(id);
  }

  /** builderos-proposed:/<path>?<approval id>&before|after */
  static uri(approval: Approval, path: string, side: "before" | "after"): vscode.Uri {
    return vscode.Uri.from({ scheme: PROPOSED_SCHEME, path: `/${path}`, query: `${approval.id}&${side}` });
  }

  static idOf(uri: vscode.Uri): string | undefined {
    return uri.scheme === PROPOSED_SCHEME ? uri.query.split("&")[0] : undefined;
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const [id, side] = uri.query.split("&");
    const approval = await this.get(id);
    const rel = uri.path.replace(/^\//, "");
    const change = approval?.changes.find((c) => c.path === rel);
    if (!change) return "";
    const current = await this.currentText(rel, change.before_sha256 === null);
    return side === "before" ? current : applyUnifiedDiff(current, change.diff);
  }

  private async currentText(rel: string, isNew: boolean): Promise<string> {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (!root || isNew) return "";
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(root, rel)));
    } catch {
      return "";
    }
  }

  /** Opens each file of the request in the diff editor; a request without files asks directly. */
  async review(id: string): Promise<void> {
    const approval = await this.get(id);
    if (!approval) {
      void vscode.window.showWarningMessage(`Approval ${id} is no longer pending.`);
      return;
    }
    if (approval.changes.length === 0) {
      const choice = await vscode.window.showInformationMessage(
        `${approval.summary} (${approval.rule})`,
        { modal: true, detail: `Run ${approval.run_id}, step ${approval.step_id}, risk ${approval.risk}` },
        "Approve",
        "Deny",
      );
      if (choice === "Approve") await this.decide(id, "approve");
      if (choice === "Deny") await this.deny(id);
      return;
    }
    for (const change of approval.changes) {
      const root = vscode.workspace.workspaceFolders?.[0]?.uri;
      const left =
        change.before_sha256 === null || !root
          ? Approvals.uri(approval, change.path, "before")
          : vscode.Uri.joinPath(root, change.path);
      await vscode.commands.executeCommand(
        "vscode.diff",
        left,
        Approvals.uri(approval, change.path, "after"),
        `${change.path}: current ↔ proposed (${approval.step_id})`,
        { preview: false },
      );
    }
  }

  async decide(id: string, decision: "approve" | "deny", comment?: string): Promise<boolean> {
    try {
      await this.daemon.request(Method.approvalResolve, { id, decision, comment: comment ?? null });
    } catch (err) {
      void vscode.window.showErrorMessage(`BuilderOS: ${(err as Error).message}`);
      return false;
    }
    this.known.delete(id);
    await closeDiffsOf(id);
    void vscode.window.setStatusBarMessage(
      `BuilderOS: ${decision === "approve" ? "approved" : "denied"}`,
      3000,
    );
    return true;
  }

  async deny(id: string): Promise<boolean> {
    const reason = await vscode.window.showInputBox({
      title: "Deny the change",
      prompt: "Why? (recorded in the audit log)",
      validateInput: (v) => (v.trim() ? undefined : "A reason is required"),
    });
    if (!reason) return false;
    return this.decide(id, "deny", reason);
  }
}

async function closeDiffsOf(id: string): Promise<void> {
  const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
  const mine = tabs.filter((t) => {
    const input = t.input;
    return input instanceof vscode.TabInputTextDiff && Approvals.idOf(input.modified) === id;
  });
  if (mine.length) await vscode.window.tabGroups.close(mine);
}
