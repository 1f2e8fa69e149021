// The timeline's layout from events, live folding, geometry and the virtualised window.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  LiveFeed,
  addEvent,
  buildTimeline,
  emptyTimeline,
  eventSummary,
  spanGeometry,
  visibleWindow,
} from "../src/core/timeline";
import type { RunEvent } from "../src/protocol";

let seq = 0;
const ev = (
  ms: number,
  type: string,
  step: string | null = null,
  data: Record<string, unknown> = {},
): RunEvent => ({
  seq: ++seq,
  run_id: "R",
  step_id: step,
  type,
  ts: new Date(Date.UTC(2026, 0, 1, 10, 0, 0, ms)).toISOString(),
  data,
});

test("steps become lanes in order of first appearance, with their attempts and final state", () => {
  const m = buildTimeline("R", [
    ev(0, "run.started"),
    ev(10, "step.started", "plan"),
    ev(30, "step.finished", "plan", { status: "succeeded" }),
    ev(31, "step.started", "test"),
    ev(35, "step.started", "docs"),
    ev(40, "step.retrying", "test", { attempt: 1, error: "flaky" }),
    ev(60, "step.started", "test"),
    ev(90, "step.finished", "test", { status: "succeeded" }),
    ev(95, "step.skipped", "docs"),
    ev(100, "run.finished", null, { status: "succeeded" }),
  ]);
  assert.deepEqual(
    m.lanes.map((l) => [l.step, l.status, l.retries, l.attempts]),
    [
      ["plan", "succeeded", 0, [{ start: 10, end: 30 }]],
      [
        "test",
        "succeeded",
        1,
        [
          { start: 31, end: 40 },
          { start: 60, end: 90 },
        ],
      ],
      ["docs", "skipped", 0, [{ start: 35, end: 95 }]],
    ],
  );
  assert.equal(m.status, "succeeded");
  assert.equal(m.end, 100);
});

test("approval waits are their own spans and the run shows it is waiting, live", () => {
  const m = emptyTimeline("R");
  addEvent(m, ev(0, "run.started"));
  addEvent(m, ev(5, "step.started", "pr"));
  addEvent(m, ev(8, "approval.requested", "pr", { summary: "open the PR" }));
  assert.equal(m.status, "awaiting_approval");
  assert.deepEqual(m.lanes[0].waits, [{ start: 8, end: null }]);
  assert.equal(m.lanes[0].status, "awaiting_approval");
  addEvent(m, ev(50, "approval.resolved", "pr", { status: "approved" }));
  assert.deepEqual(m.lanes[0].waits, [{ start: 8, end: 50 }]);
  assert.equal(m.status, "running");
});

test("span geometry: proportional, at least 2 px, an open span reaches now", () => {
  assert.deepEqual(spanGeometry({ start: 0, end: 50 }, 100, 600, 100), { x: 0, w: 300 });
  assert.deepEqual(spanGeometry({ start: 50, end: null }, 100, 600, 75), { x: 300, w: 150 });
  assert.deepEqual(spanGeometry({ start: 10, end: 10 }, 100, 600, 100), { x: 60, w: 2 });
  assert.deepEqual(spanGeometry({ start: 0, end: 0 }, 0, 600, 0), { x: 0, w: 2 });
});

test("only the rows in view (plus overscan) are rendered, whatever the list's length", () => {
  assert.deepEqual(visibleWindow(0, 400, 20, 10_000, 5), { first: 0, last: 25, offset: 0, total: 200_000 });
  const w = visibleWindow(100_000, 400, 20, 10_000, 5);
  assert.deepEqual([w.first, w.last, w.offset], [4995, 5025, 99_900]);
  assert.equal(visibleWindow(199_900, 400, 20, 10_000, 5).last, 10_000);
  assert.deepEqual(visibleWindow(0, 400, 20, 0), { first: 0, last: 0, offset: 0, total: 0 });
});

test("10,000 events fold into the model quickly", () => {
  const events: RunEvent[] = [ev(0, "run.started")];
  for (let i = 0; i < 10_000; i++)
    events.push(ev(i, i % 50 === 0 ? "step.started" : "log", `s${i % 40}`, { line: `l${i}` }));
  const t0 = performance.now();
  const m = buildTimeline("R", events);
  assert.equal(m.lanes.length, 40);
  assert.ok(performance.now() - t0 < 200, "folding 10,000 events took too long");
});

test("event summaries name the tool, the approval and log lines", () => {
  assert.match(
    eventSummary(ev(0, "tool.call", "g", { tool: "fs.write", args: { path: "a.py" } })),
    /^fs\.write .*a\.py/,
  );
  assert.equal(
    eventSummary(ev(0, "approval.requested", "g", { summary: "write a.py" })),
    "waits for approval: write a.py",
  );
  assert.equal(eventSummary(ev(0, "log", "g", { line: "hello" })), "hello");
  assert.equal(eventSummary(ev(0, "run.started")), "");
});

test("live events: held until the panel has its first batch, then batched, in order, each once", () => {
  const feed = new LiveFeed();
  const e = (n: number) => ({ seq: n, run_id: "R", step_id: null, type: "log", ts: "", data: {} });
  assert.equal(feed.push(e(3)), false, "nothing to send before init");
  assert.equal(feed.push(e(5)), false);
  assert.deepEqual(feed.take(), []);
  feed.init([e(1), e(2), e(3), e(4)]);
  assert.deepEqual(
    feed.take().map((x) => x.seq),
    [5],
  );
  assert.equal(feed.push(e(5)), false, "already sent");
  assert.equal(feed.push(e(7)), true);
  feed.push(e(6));
  feed.push(e(7));
  assert.deepEqual(
    feed.take().map((x) => x.seq),
    [6, 7],
  );
  assert.deepEqual(feed.take(), []);
});
