// Scenarios in the Test Explorer: listed by builderos/scenarios, run by builderos/scenarioRun,
// failures shown at the line of the failing expectation.

import * as vscode from "vscode";
import type { Daemon } from "./daemon";
import { Method, type LspRange, type ScenarioInfo, type ScenarioResult } from "./protocol";

function range(r: LspRange | undefined): vscode.Range | undefined {
  return r ? new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character) : undefined;
}

export class ScenarioTests implements vscode.Disposable {
  readonly controller: vscode.TestController;

  constructor(private readonly daemon: Daemon) {
    this.controller = vscode.tests.createTestController("builderos.scenarios", "BuilderOS scenarios");
    this.controller.resolveHandler = () => this.refresh();
    this.controller.createRunProfile(
      "Run",
      vscode.TestRunProfileKind.Run,
      (req, token) => this.run(req, token),
      true,
    );
  }

  async refresh(): Promise<void> {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (!root) return;
    let scenarios: ScenarioInfo[];
    try {
      scenarios = (await this.daemon.request<{ scenarios: ScenarioInfo[] }>(Method.scenarios)).scenarios;
    } catch {
      return; // an older daemon without scenario requests: nothing to list
    }
    const items = scenarios.map((s) => {
      const item = this.controller.createTestItem(s.name, s.name, vscode.Uri.joinPath(root, s.file));
      item.range = range(s.range);
      item.description = s.pipeline;
      return item;
    });
    this.controller.items.replace(items);
  }

  private async run(request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const run = this.controller.createTestRun(request);
    const chosen: vscode.TestItem[] = [];
    if (request.include) chosen.push(...request.include);
    else this.controller.items.forEach((i) => chosen.push(i));
    const wanted = chosen.filter((i) => !request.exclude?.includes(i));
    for (const item of wanted) run.started(item);
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    try {
      const answer = await this.daemon.request<{ results: ScenarioResult[] }>(Method.scenarioRun, {
        names: wanted.map((i) => i.id),
      });
      for (const result of answer.results) {
        const item = wanted.find((i) => i.id === result.name);
        if (!item || token.isCancellationRequested) continue;
        if (result.passed) run.passed(item);
        else {
          const messages = result.failures.map((f) => {
            const m = new vscode.TestMessage(f.message);
            if (root)
              m.location = new vscode.Location(
                vscode.Uri.joinPath(root, f.file),
                range(f.range) ?? new vscode.Range(0, 0, 0, 0),
              );
            return m;
          });
          if (result.diff) messages.push(new vscode.TestMessage(result.diff));
          run.failed(item, messages.length ? messages : [new vscode.TestMessage("failed")]);
        }
      }
    } catch (err) {
      for (const item of wanted) run.errored(item, new vscode.TestMessage((err as Error).message));
    } finally {
      run.end();
    }
  }

  dispose(): void {
    this.controller.dispose();
  }
}
