// View models: runs grouped by pipeline, durations, icons, approvals, deployments, interpreters.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Coalescer,
  applyUnifiedDiff,
  approvalsStatusText,
  deploymentRow,
  formatDuration,
  groupRuns,
  installSpec,
  interpreterCandidates,
  runLabel,
  statusIcon,
} from "../src/core/models";
import type { Approval, RunSummary } from "../src/protocol";

const run = (
  id: string,
  pipeline: string,
  status: string,
  started: string | null,
  ended: string | null = null,
) => ({ id, pipeline, status, started_at: started, ended_at: ended }) as RunSummary;

test("runs are grouped by pipeline, pipelines by name, newest run first", () => {
  const groups = groupRuns([
    run("A", "hotfix", "succeeded", "2026-01-01T10:00:00Z"),
    run("B", "feature", "failed", "2026-01-01T09:00:00Z"),
    run("C", "feature", "running", "2026-01-01T11:00:00Z"),
  ]);
  assert.deepEqual(
    groups.map((g) => [g.pipeline, g.runs.map((r) => r.id)]),
    [
      ["feature", ["C", "B"]],
      ["hotfix", ["A"]],
    ],
  );
});

test("durations: short in tenths, minutes padded, hours; a running run counts to now", () => {
  const t = "2026-01-01T10:00:00.000Z";
  assert.equal(formatDuration(t, "2026-01-01T10:00:01.250Z", 0), "1.3 s");
  assert.equal(formatDuration(t, "2026-01-01T10:03:05.000Z", 0), "3 m 05 s");
  assert.equal(formatDuration(t, "2026-01-01T11:02:00.000Z", 0), "1 h 02 m");
  assert.equal(formatDuration(t, null, Date.parse("2026-01-01T10:00:02.000Z")), "2.0 s");
  assert.equal(formatDuration(null, null, 0), "");
  assert.equal(formatDuration("garbage", null, 0), "");
});

test("each run state has its own icon and a readable label", () => {
  const states = ["succeeded", "failed", "cancelled", "awaiting_approval", "running", "skipped", "queued"];
  assert.equal(new Set(states.map(statusIcon)).size, states.length);
  const label = runLabel(run("01M80VKZKG0YBHRECN2CFHPMM4", "feature", "awaiting_approval", null), 0);
  assert.deepEqual(label, { label: "2CFHPMM4 awaiting approval", description: "" });
});

test("the approvals status item counts pending requests only and hides at zero", () => {
  const a = (status: string) => ({ status }) as Approval;
  assert.equal(approvalsStatusText([]), undefined);
  assert.equal(approvalsStatusText([a("pending")]), "$(shield) 1 approval");
  assert.equal(approvalsStatusText([a("pending"), a("pending"), a("approved")]), "$(shield) 2 approvals");
});

test("a deployment can be rolled back only when it has a previous release", () => {
  assert.deepEqual(deploymentRow({ env: "stage", current: "r2", previous: "r1", history: [] }), {
    label: "stage",
    description: "r2 ← r1",
    canRollback: true,
  });
  assert.equal(deploymentRow({ env: "prod", current: "r1", previous: null, history: [] }).canRollback, false);
  assert.equal(
    deploymentRow({ env: "dev", current: null, previous: null, history: [] }).description,
    "not deployed",
  );
});

test("interpreters: the setting, then the workspace .venv, then the Python extension, then python3", () => {
  const found = interpreterCandidates({
    setting: " /opt/py/bin/python ",
    workspaceFolder: "/ws/",
    pythonExtension: "/usr/bin/python3.12",
    exists: (p) => p === "/ws/.venv/bin/python",
  });
  assert.deepEqual(found, ["/opt/py/bin/python", "/ws/.venv/bin/python", "/usr/bin/python3.12", "python3"]);
  assert.deepEqual(
    interpreterCandidates({
      setting: "",
      workspaceFolder: "/ws",
      pythonExtension: undefined,
      exists: () => false,
    }),
    ["python3"],
  );
});

test("install: the setting, else the newest wheel in the .vsix, else the package name", () => {
  const wheels = [
    "builderos-0.9.0-py3-none-any.whl",
    "builderos-0.10.0-py3-none-any.whl",
    "README.txt",
    "other-1.0-py3-none-any.whl",
  ];
  assert.equal(
    installSpec({ setting: " builderos==0.8 ", bundledWheels: wheels, extensionPath: "/ext" }),
    "builderos==0.8",
  );
  assert.equal(
    installSpec({ setting: "", bundledWheels: wheels, extensionPath: "/ext/" }),
    "/ext/python/builderos-0.10.0-py3-none-any.whl",
  );
  assert.equal(installSpec({ setting: undefined, bundledWheels: [], extensionPath: "/ext" }), "builderos");
});

test("the proposed file is the current one with the approval's unified diff applied", () => {
  assert.equal(
    applyUnifiedDiff(
      "",
      "--- /dev/null\n+++ b/src/app/health.py\n@@ -0,0 +1,2 @@\n+def health():\n+    return 'ok'\n",
    ),
    "def health():\n    return 'ok'\n",
  );
  const before = "a\nb\nc\nd\ne\nf\ng\n";
  const diff = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -6,2 +6,3 @@\n f\n g\n+h\n";
  assert.equal(applyUnifiedDiff(before, diff), "a\nB\nc\nd\ne\nf\ng\nh\n");
  assert.equal(applyUnifiedDiff("x\ny\n", "--- a/x\n+++ b/x\n@@ -1,2 +1,1 @@\n-x\n y\n"), "y\n");
});

test("restarts are coalesced: calls during a restart share one follow-up restart", async () => {
  let runs = 0;
  let release: () => void = () => undefined;
  const c = new Coalescer(
    () =>
      new Promise<void>((resolve) => {
        runs++;
        release = resolve;
      }),
  );
  const first = c.run();
  const second = c.run();
  const third = c.run();
  assert.equal(second, third);
  assert.equal(runs, 1);
  release();
  await first;
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2);
  release();
  await second;
  assert.equal(runs, 2);
  const fourth = c.run();
  assert.equal(runs, 3);
  release();
  await fourth;
});
