// The Run timeline panel: one webview per run, fed with the run's events and then live ones.

import * as vscode from "vscode";
import type { Daemon } from "../daemon";
import { contentSecurityPolicy, nonce, parseWebviewMessage } from "../core/messages";
import { LiveFeed } from "../core/timeline";
import { Method, type RunEvent, type RunSummary } from "../protocol";

interface TimelineAnswer {
  runId: string;
  status: string;
  events: RunEvent[];
}

export class TimelinePanels {
  private readonly open = new Map<string, vscode.WebviewPanel>();
  private readonly feeds = new Map<string, { feed: LiveFeed; timer?: NodeJS.Timeout }>();
  /** Live events are sent at most this often, in one message per panel. */
  static readonly BATCH_MS = 50;
  /** Paint and scroll figures reported by the webviews (read by the benchmark). */
  readonly stats: { painted: number[]; scroll: number[][] } = { painted: [], scroll: [] };

  constructor(
    private readonly daemon: Daemon,
    private readonly extensionUri: vscode.Uri,
    private readonly openProvenance: (runId: string, step?: string) => Promise<void>,
  ) {
    daemon.onRunEvent(({ runId, event }) => {
      const live = this.feeds.get(runId);
      if (live?.feed.push(event) && !live.timer) {
        live.timer = setTimeout(() => this.flush(runId), TimelinePanels.BATCH_MS);
      }
    });
  }

  private flush(runId: string): void {
    const live = this.feeds.get(runId);
    if (!live) return;
    live.timer = undefined;
    const batch = live.feed.take();
    if (batch.length) void this.open.get(runId)?.webview.postMessage({ type: "events", events: batch });
  }

  async show(runId: string, events?: RunEvent[]): Promise<vscode.WebviewPanel> {
    const existing = this.open.get(runId);
    if (existing) {
      existing.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(
      "builderos.timeline",
      `Run ${runId.slice(-8)}`,
      vscode.ViewColumn.Active,
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [
          vscode.Uri.joinPath(this.extensionUri, "dist", "webview"),
          vscode.Uri.joinPath(this.extensionUri, "media"),
        ],
      },
    );
    this.open.set(runId, panel);
    const live: { feed: LiveFeed; timer?: NodeJS.Timeout } = { feed: new LiveFeed() };
    this.feeds.set(runId, live);
    panel.onDidDispose(() => {
      this.open.delete(runId);
      clearTimeout(live.timer);
      this.feeds.delete(runId);
    });
    panel.webview.html = this.html(panel.webview);
    let pipeline = "";
    panel.webview.onDidReceiveMessage(async (raw) => {
      const msg = parseWebviewMessage(raw);
      if (!msg) return;
      if (msg.type === "ready") {
        const answer = events
          ? { runId, status: "", events }
          : await this.daemon.request<TimelineAnswer>(Method.timeline, { runId });
        if (!events) {
          // the summary, not the whole record: cheap however long the run
          const runs = await this.daemon.request<RunSummary[]>(Method.runs).catch(() => []);
          pipeline = runs.find((r) => r.id === runId)?.pipeline ?? "";
        }
        live.feed.init(answer.events);
        void panel.webview.postMessage({ type: "init", runId, pipeline, events: answer.events });
        this.flush(runId); // what arrived while the panel loaded
      } else if (msg.type === "selectStep") {
        void panel.webview.postMessage({ type: "stepDetail", ...(await this.stepDetail(runId, msg.step)) });
      } else if (msg.type === "openProvenance") {
        await this.openProvenance(runId, msg.step);
      } else if (msg.type === "compare") {
        await vscode.commands.executeCommand("builderos.compareRuns", runId);
      } else if (msg.type === "replay") {
        await vscode.commands.executeCommand("builderos.replayRun", runId);
      } else if (msg.type === "painted") {
        this.stats.painted.push(msg.ms);
      } else if (msg.type === "scrollStats") {
        this.stats.scroll.push(msg.frames);
      }
    });
    return panel;
  }

  panel(runId: string): vscode.WebviewPanel | undefined {
    return this.open.get(runId);
  }

  private async stepDetail(runId: string, step: string): Promise<Record<string, unknown>> {
    const [timeline, record, provenance] = await Promise.all([
      this.daemon.request<TimelineAnswer>(Method.timeline, { runId }),
      this.daemon.request<{ steps: { id: string; outputs: unknown }[] }>(Method.run, { runId }),
      this.daemon.request<Record<string, unknown>>(Method.provenance, { runId, stepId: step }),
    ]);
    const logs = timeline.events
      .filter((e) => e.step_id === step)
      .map((e) =>
        `${e.ts.slice(11, 23)} ${e.type} ${e.type === "log" ? String(e.data["line"] ?? e.data["message"] ?? "") : ""}`.trimEnd(),
      );
    const outputs = record.steps.find((s) => s.id === step)?.outputs ?? {};
    return { step, logs, outputs, provenance };
  }

  private html(webview: vscode.Webview): string {
    const n = nonce();
    const script = webview.asWebviewUri(
      vscode.Uri.joinPath(this.extensionUri, "dist", "webview", "timeline.js"),
    );
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "media", "timeline.css"));
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(webview.cspSource, n)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}"><title>Run timeline</title></head>
<body>
<header><h1 id="run">Run</h1><span id="status" class="status">loading</span><span id="count"></span><button id="compare" class="link">Compare with…</button><button id="replay" class="link">Replay</button></header>
<section aria-label="Steps" id="lanes" role="grid"><div id="lanes-inner"></div></section>
<section aria-label="Events" id="events" tabindex="0"><div id="events-inner"></div></section>
<section aria-label="Step details" id="detail"><p>Select a step to see its logs, outputs and provenance.</p></section>
<script nonce="${n}" src="${script}"></script>
</body></html>`;
  }
}
