// The Markdown reports of "Compare with…" and "Replay".

import { test } from "node:test";
import assert from "node:assert/strict";
import { replayReport, runDiffReport } from "../src/core/reports";
import { parseWebviewMessage } from "../src/core/messages";

test("a run comparison lists every step and what differs", () => {
  const text = runDiffReport({
    runA: "A1",
    runB: "B2",
    steps: [
      {
        step: "plan",
        a: { status: "succeeded", attempts: 1, duration: 0.5 },
        b: { status: "succeeded", attempts: 1, duration: 0.25 },
        changed: [],
      },
      {
        step: "verify",
        a: { status: "succeeded", attempts: 1, duration: 1 },
        b: { status: "failed", attempts: 2, duration: 3 },
        changed: ["status", "attempts"],
      },
      {
        step: "new|step",
        a: null,
        b: { status: "skipped", attempts: 0, duration: null },
        changed: ["only in B"],
      },
    ],
    outputs: [{ step: "verify", a: { ok: true }, b: { ok: false } }],
    prompts: [],
    artifacts: [],
  });
  assert.match(text, /^# Run A1 compared with B2/);
  assert.ok(text.includes("| plan | succeeded (1 attempt, 0.500 s) | succeeded (1 attempt, 0.250 s) | — |"));
  assert.ok(
    text.includes(
      "| verify | succeeded (1 attempt, 1.000 s) | failed (2 attempts, 3.000 s) | status, attempts |",
    ),
  );
  assert.ok(text.includes("| new\\|step | — | skipped (0 attempts) | only in B |"));
  assert.ok(text.includes('- `{"step":"verify","a":{"ok":true},"b":{"ok":false}}`'));
  assert.ok(text.includes("**Prompts:** the same in both runs."));
});

test("a replay report says there is no divergence, or names the first step that diverges", () => {
  assert.ok(replayReport({ runId: "R", replayRunId: "P", divergences: [] }).includes("No divergence"));
  const text = replayReport({
    runId: "R",
    replayRunId: "P",
    divergences: [
      { stepId: "check", field: "definition", expected: "a", actual: "b", message: "its definition changed" },
    ],
  });
  assert.ok(text.includes("**1 divergence(s)**; the first is at step `check`."));
  assert.ok(text.includes('- step `check`, definition: its definition changed — recorded `"a"`, now `"b"`'));
});

test("the timeline's Compare and Replay buttons send messages the host understands", () => {
  assert.deepEqual(parseWebviewMessage({ type: "compare" }), { type: "compare" });
  assert.deepEqual(parseWebviewMessage({ type: "replay", extra: "ignored" }), { type: "replay" });
});
