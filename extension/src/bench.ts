// "BuilderOS: Benchmark" (palette only with builderos.benchmark.out set): measures, in this VS Code,
// activation, daemon start to first diagnostics, and the timeline's first paint and scroll frames for
// the run with the most events; writes the figures as JSON to the configured file.

import * as fs from "node:fs";
import * as vscode from "vscode";
import type { Daemon } from "./daemon";
import type { TimelinePanels } from "./panels/timeline";
import { Method, type RunSummary } from "./protocol";

async function until<T>(get: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("benchmark: timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function registerBenchmark(
  context: vscode.ExtensionContext,
  daemon: Daemon,
  timelines: TimelinePanels,
  activationStart: number,
): void {
  const activated = performance.now();
  context.subscriptions.push(
    vscode.commands.registerCommand("builderos.benchmark", async () => {
      const out = vscode.workspace.getConfiguration("builderos").get<string>("benchmark.out");
      if (!out) return;
      const step = (name: string) => daemon.log.info(`benchmark: ${name}`);
      await until(() => (daemon.state === "ready" ? true : undefined), 60_000);
      step("ready");
      const firstDiagnostics = await until(() => daemon.marks.firstDiagnostics, 60_000);
      const runs = await daemon.request<RunSummary[]>(Method.runs);
      const run = runs.find((r) => r.pipeline === "bench") ?? runs[runs.length - 1];
      const result: Record<string, unknown> = {
        activateMs: activated - activationStart,
        activationToReadyMs: (daemon.marks.ready ?? NaN) - activationStart,
        daemonStartToFirstDiagnosticsMs: firstDiagnostics - (daemon.marks.start ?? NaN),
      };
      step(`diagnostics; run ${run?.id}`);
      if (run) {
        const tr = performance.now();
        const answer = await daemon.request<{ events: unknown[] }>(Method.timeline, { runId: run.id });
        result.daemonTimelineRequestMs = performance.now() - tr;
        result.events = answer.events.length;
        const before = timelines.stats.painted.length;
        const t0 = performance.now();
        await timelines.show(run.id);
        step("panel shown");
        const painted = await until(() => timelines.stats.painted[before], 60_000);
        step("painted");
        result.runId = run.id;
        result.timelineOpenToPaintMs = performance.now() - t0;
        result.timelinePaintInWebviewMs = painted;
        const scrolls = timelines.stats.scroll.length;
        void timelines.panel(run.id)?.webview.postMessage({ type: "benchScroll", frames: 120 });
        const frames = await until(() => timelines.stats.scroll[scrolls], 60_000);
        const sorted = [...frames].sort((a, b) => a - b);
        result.scrollFrameMedianMs = sorted[Math.floor(sorted.length / 2)];
        result.scrollFrameP95Ms = sorted[Math.floor(sorted.length * 0.95)];
      }
      fs.writeFileSync(out, JSON.stringify(result, null, 2));
      daemon.log.info(`benchmark: ${JSON.stringify(result)}`);
    }),
  );
}
