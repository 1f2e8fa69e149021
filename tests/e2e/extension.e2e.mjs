// End to end in a real VS Code: the views, BOS020 in the Problems panel and cleared by a fix, ▶ Run on the
// feature pipeline with its input, the live timeline, every approval reviewed in the diff editor and
// approved, the run succeeded in the Runs view, its provenance, and the scenario in the Test Explorer.
// Each step saves a screenshot under test-artifacts/e2e/. Prints "N passed, M failed".
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  PYTHON,
  ROOT,
  ensureTools,
  exactly,
  makeWorkspace,
  openBrowser,
  palette,
  startCodeServer,
  typeInQuickInput,
  webviewFrame,
} from "./vscode.mjs";

const SHOTS = join(ROOT, "test-artifacts", "e2e");
const BROKEN = `kind: pipeline
name: broken
description: a pipeline with a typo in an agent name
steps:
  - id: plan
    agent: buildr
`;
const SCENARIO = readFileSync(
  join(ROOT, "tests", "e2e", "fixtures", "e2e-feature.yaml"),
  "utf8",
);

let passed = 0;
let failed = 0;
let step = 0;

async function check(name, page, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message.split("\n")[0]}`);
  }
  step++;
  const file = join(
    SHOTS,
    `${String(step).padStart(2, "0")}-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}.png`,
  );
  await page.screenshot({ path: file }).catch(() => undefined);
}

/** Clicks the first code lens of the open editor whose text contains `text`, once it is shown. */
async function clickLens(page, text, timeout) {
  const lens = page
    .locator(".codelens-decoration a", { hasText: text })
    .first();
  await lens.waitFor({ timeout });
  await lens.click();
}

/** Whether `promise` settles fulfilled (a bounded wait that may fail without failing the step). */
function succeeds(promise) {
  return promise.then(
    () => true,
    () => false,
  );
}

/** The first editor tab among `tabs` (a selector) whose name is exactly `name`. */
function tabNamed(page, tabs, name) {
  return page
    .locator(tabs)
    .filter({ has: page.locator(".label-name", { hasText: exactly(name) }) })
    .first();
}

/** The texts of the list rows `selector` matches, each on one line (for failure messages). */
async function rowTexts(page, selector) {
  const rows = await page
    .locator(selector)
    .allInnerTexts()
    .catch(() => []);
  return JSON.stringify(rows.map((r) => r.replace(/\s+/g, " ")));
}

/**
 * Opens a workspace file: its tab when one is already open (a click on a tab never misses), else the
 * quick open in the title bar, clicking the row whose path matches (Enter would open whichever row had
 * the focus while the file search was still filling the list).
 */
async function quickOpen(page, text) {
  const name = text.split("/").pop();
  const dir = text.includes("/") ? text.slice(0, text.lastIndexOf("/")) : "";
  const opened = (timeout) =>
    succeeds(tabNamed(page, ".tab.active", name).waitFor({ timeout }));
  const seen = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    await page.keyboard.press("Escape"); // a quick input left open by a failed step
    const tab = tabNamed(page, ".tabs-container .tab", name);
    if (await tab.isVisible().catch(() => false)) {
      await tab.click().catch(() => undefined);
      if (await opened(3_000)) return;
    }
    await page
      .locator(".command-center .command-center-center")
      .first()
      .click(); // the title bar's search box
    if (!(await succeeds(typeInQuickInput(page, text)))) {
      seen.push(
        `attempt ${attempt + 1}: the quick input did not take the text`,
      );
      continue;
    }
    const row = page
      .locator(".quick-input-list .monaco-list-row", { hasText: name })
      .filter({ hasText: dir || name })
      .first();
    if (!(await succeeds(row.waitFor({ timeout: 10_000 })))) {
      const rows = await rowTexts(page, ".quick-input-list .monaco-list-row");
      seen.push(`attempt ${attempt + 1}: no row for it among ${rows}`);
      continue;
    }
    await row.click().catch(() => undefined);
    if (await opened(5_000)) return;
    seen.push(
      `attempt ${attempt + 1}: clicked its row, no active tab followed`,
    );
  }
  throw new Error(`could not open ${text} (${seen.join("; ")})`);
}

/** Opens the BuilderOS view container unless it is already showing (a second click would hide it). */
async function showBuilderOS(page) {
  if (
    await page
      .locator(".part.sidebar .pane-header", { hasText: "Runs" })
      .first()
      .isVisible()
  )
    return;
  await page
    .locator(
      '.activitybar a[aria-label^="BuilderOS"], .activitybar li[aria-label^="BuilderOS"]',
    )
    .first()
    .click({ timeout: 30_000 });
}

/** What the Runs view lists and what the store says about the runs: for a step's failure message. */
async function runsSeen(page, ws) {
  const rows = await rowTexts(page, ".pane-body .monaco-list-row");
  let store;
  try {
    store = execFileSync(PYTHON, ["-m", "builderos", "runs"], {
      cwd: ws,
      encoding: "utf8",
      timeout: 30_000,
    }).replace(/\s+/g, " ");
  } catch (err) {
    store = `builderos runs failed: ${String(err.message).split("\n")[0]}`;
  }
  return `the view rows: ${rows}; builderos runs: ${store}`;
}

function must(cond, message) {
  if (!cond) throw new Error(message);
}

async function main() {
  ensureTools();
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  const { base, ws } = makeWorkspace({
    "ship/broken.yaml": BROKEN,
    "scenarios/e2e-feature.yaml": SCENARIO,
  });
  const logs = [];
  const server = await startCodeServer(base, ws, (l) => logs.push(l));
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      server.stop();
      rmSync(base, { recursive: true, force: true });
      process.exit(130);
    });
  }
  let browser;
  try {
    const opened = await openBrowser(server.port, ws);
    browser = opened.browser;
    const page = opened.page;

    await check("BuilderOS views", page, async () => {
      await showBuilderOS(page);
      for (const title of [
        "Runs",
        "Approvals",
        "Pipelines",
        "Agents",
        "Prompts",
        "Policies",
        "Desks",
        "Deployments",
      ]) {
        await page
          .locator(".pane-header", { hasText: title })
          .first()
          .waitFor({ timeout: 20_000 });
      }
      await page
        .locator(".monaco-list-row", { hasText: "feature" })
        .first()
        .waitFor({ timeout: 30_000 });
      await page
        .locator(".monaco-list-row", { hasText: "builder" })
        .first()
        .waitFor({ timeout: 10_000 });
    });

    await check("BOS020 in the Problems panel", page, async () => {
      await quickOpen(page, "ship/broken.yaml");
      await page
        .locator(".monaco-editor .view-lines", { hasText: "buildr" })
        .first()
        .waitFor({ timeout: 10_000 });
      await page.keyboard.press("Control+Shift+M");
      await page
        .locator(".markers-panel", { hasText: "BOS020" })
        .first()
        .waitFor({ timeout: 30_000 });
    });

    await check("BOS020 clears once fixed", page, async () => {
      await page
        .locator(".markers-panel", { hasText: "BOS020" })
        .first()
        .waitFor({ timeout: 5_000 });
      await page
        .locator(".monaco-editor .view-lines", { hasText: "buildr" })
        .first()
        .click();
      await page.keyboard.press("Control+G");
      await page.keyboard.type("6");
      await page.keyboard.press("Enter");
      await page.keyboard.press("End");
      for (let i = 0; i < "buildr".length; i++)
        await page.keyboard.press("Backspace");
      await page.keyboard.type("builder");
      await page.keyboard.press("Control+S");
      await page
        .locator(".markers-panel", { hasText: "BOS020" })
        .first()
        .waitFor({ state: "detached", timeout: 30_000 });
      const text = await page.locator(".markers-panel").first().innerText();
      must(!text.includes("BOS020"), "BOS020 still shown");
    });

    let runFrame;
    await check(
      "▶ Run the feature pipeline opens its timeline",
      page,
      async () => {
        await quickOpen(page, "ship/feature.yaml");
        await clickLens(page, "▶ Run", 30_000);
        const input = page.locator(".quick-input-widget input");
        await page
          .locator(".quick-input-widget", { hasText: "goal" })
          .first()
          .waitFor({ timeout: 15_000 });
        await typeInQuickInput(page, "Add a /health endpoint");
        await page.keyboard.press("Enter");
        await page
          .locator(".quick-input-list .monaco-list-row", {
            hasText: "Scenario e2e-feature",
          })
          .first()
          .waitFor({ timeout: 15_000 });
        await typeInQuickInput(page, "e2e-feature");
        await page.keyboard.press("Enter");
        runFrame = await webviewFrame(page, "#lanes .lane", 30_000);
        await runFrame
          .locator(".lane-label", { hasText: "plan" })
          .waitFor({ timeout: 20_000 });
        await runFrame
          .locator(".lane-label", { hasText: "generate" })
          .waitFor({ timeout: 20_000 });
      },
    );

    let approved = 0;
    await check("Approvals reviewed as diffs and approved", page, async () => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && approved < 3) {
        const review = page
          .locator(".notification-toast", { hasText: "approval needed" })
          .locator("a.monaco-button, .monaco-button", { hasText: "Review" })
          .first();
        await review.waitFor({ timeout: 60_000 });
        await review.click();
        const dialog = page.locator(".monaco-dialog-box");
        const approveTitle = page
          .locator(
            '.editor-actions [aria-label="Approve"], .editor-actions a[aria-label^="Approve"]',
          )
          .first();
        await Promise.race([
          dialog.waitFor({ timeout: 20_000 }),
          approveTitle.waitFor({ timeout: 20_000 }),
        ]);
        if (await dialog.isVisible()) {
          await page.screenshot({
            path: join(SHOTS, `approval-${approved + 1}-gate.png`),
          });
          await dialog
            .locator(".monaco-button", { hasText: "Approve" })
            .first()
            .click();
        } else {
          await page
            .locator(".monaco-diff-editor")
            .first()
            .waitFor({ timeout: 10_000 });
          await page.screenshot({
            path: join(SHOTS, `approval-${approved + 1}-diff.png`),
          });
          await approveTitle.click();
        }
        approved++;
      }
      must(approved === 3, `approved ${approved} of 3 requests`);
    });

    await check(
      "The run succeeds in the Runs view and the timeline",
      page,
      async () => {
        await showBuilderOS(page);
        const done = await succeeds(
          page
            .locator(".pane-body .monaco-list-row", { hasText: "succeeded" })
            .first()
            .waitFor({ timeout: 90_000 }),
        );
        must(
          done,
          `no succeeded run in the Runs view; ${await runsSeen(page, ws)}`,
        );
        const frame = await webviewFrame(page, "#status.s-succeeded", 30_000);
        must((await frame.locator(".lane").count()) >= 8, "fewer than 8 lanes");
        await frame.locator(".lane-label", { hasText: "generate" }).click();
        await frame
          .locator("#detail h2", { hasText: "generate" })
          .waitFor({ timeout: 10_000 });
        await frame
          .locator("#detail", { hasText: "builder@1.2.0" })
          .waitFor({ timeout: 10_000 });
      },
    );

    await check("Provenance of the run", page, async () => {
      await palette(page, "BuilderOS: Show Provenance");
      // a click on the run's row: Enter takes whichever row has the focus while the list fills
      const run = page
        .locator(".quick-input-list .monaco-list-row", { hasText: "feature" })
        .first();
      await run.waitFor({ timeout: 10_000 });
      await run.click();
      const frame = await webviewFrame(page, "body.provenance-run", 20_000);
      await frame
        .locator("text=builder@1.2.0")
        .first()
        .waitFor({ timeout: 5_000 });
      await frame
        .locator("text=src/app/health.py")
        .first()
        .waitFor({ timeout: 5_000 });
      await page.screenshot({ path: join(SHOTS, "provenance.png") });
      // close it: a focused webview keeps the keyboard (and the next steps need the workbench's)
      await page
        .locator(".tab.active .action-label.codicon-close")
        .first()
        .click();
    });

    await check(
      "Approval plan lens lists the steps that will stop",
      page,
      async () => {
        await quickOpen(page, "ship/feature.yaml");
        await clickLens(page, "Approval plan", 20_000);
        const plan = page
          .locator(".quick-input-widget", {
            hasText: "Approval plan of feature",
          })
          .first();
        await plan.waitFor({ timeout: 15_000 });
        for (const stepId of ["generate", "pr"]) {
          await plan
            .locator(".monaco-list-row", { hasText: stepId })
            .first()
            .waitFor({ timeout: 5_000 });
        }
        await page.screenshot({ path: join(SHOTS, "approval-plan.png") });
        await page.keyboard.press("Escape");
      },
    );

    await check(
      "A file written by the run names its run and step on hover",
      page,
      async () => {
        await quickOpen(page, "src/app/health.py");
        const word = page
          .locator(".monaco-editor .view-line", { hasText: "def health" })
          .first();
        await word.waitFor({ timeout: 10_000 });
        await word.hover({ position: { x: 10, y: 5 } });
        await page
          .locator(".monaco-hover", { hasText: "step generate" })
          .first()
          .waitFor({ timeout: 15_000 });
      },
    );

    await check(
      "Deny asks for a reason and the decision reaches the daemon",
      page,
      async () => {
        await palette(page, "BuilderOS: Run Pipeline…");
        const input = page.locator(".quick-input-widget input");
        await page
          .locator(".quick-input-list .monaco-list-row", { hasText: "feature" })
          .first()
          .waitFor({ timeout: 10_000 });
        await typeInQuickInput(page, "feature");
        await page.keyboard.press("Enter");
        await page
          .locator(".quick-input-widget", { hasText: "goal" })
          .first()
          .waitFor({ timeout: 15_000 });
        await typeInQuickInput(page, "Try again");
        await page.keyboard.press("Enter");
        await page
          .locator(".quick-input-list .monaco-list-row", {
            hasText: "Scenario e2e-feature",
          })
          .first()
          .waitFor({ timeout: 15_000 });
        await typeInQuickInput(page, "e2e-feature");
        await page.keyboard.press("Enter");
        const review = page
          .locator(".notification-toast", { hasText: "approval needed" })
          .locator(".monaco-button", { hasText: "Review" })
          .first();
        await review.waitFor({ timeout: 60_000 });
        await review.click();
        const deny = page
          .locator(
            '.editor-actions [aria-label="Deny"], .editor-actions a[aria-label^="Deny"]',
          )
          .first();
        // the files exist from the first run, so this run asks only at its gate: Deny in the dialog
        const dialog = page.locator(".monaco-dialog-box");
        await Promise.race([
          deny.waitFor({ timeout: 20_000 }),
          dialog.waitFor({ timeout: 20_000 }),
        ]);
        if (await dialog.isVisible())
          await dialog
            .locator(".monaco-button", { hasText: "Deny" })
            .first()
            .click();
        else await deny.click();
        await page
          .locator(".quick-input-widget", { hasText: "Why?" })
          .first()
          .waitFor({ timeout: 10_000 });
        await page.screenshot({ path: join(SHOTS, "deny-reason.png") });
        await typeInQuickInput(page, "not this way");
        await page.keyboard.press("Enter");
        await showBuilderOS(page);
        await page
          .locator(".pane-body .monaco-list-row", {
            hasText: "No approvals waiting",
          })
          .first()
          .waitFor({ timeout: 20_000 });
        // the decision and its reason reached the daemon's store
        const denied = execFileSync(
          PYTHON,
          [
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select status, body from approvals where status='denied'\").fetchall())",
            join(ws, ".builderos", "builderos.db"),
          ],
          { encoding: "utf8" },
        );
        must(
          denied.includes("not this way"),
          `no denied approval with the reason: ${denied.trim()}`,
        );
      },
    );

    await check("Scenarios in the Test Explorer", page, async () => {
      await palette(page, "View: Show Testing");
      await page
        .locator(".test-explorer .monaco-list-row", { hasText: "e2e-feature" })
        .first()
        .waitFor({ timeout: 30_000 });
      await page
        .locator(".test-explorer .monaco-list-row", { hasText: "add-health" })
        .first()
        .waitFor({ timeout: 5_000 });
    });

    await check("Diff with previous version of a prompt", page, async () => {
      await quickOpen(page, "prompts/builder.yaml");
      await clickLens(page, "Diff with previous version", 20_000);
      await page
        .locator(".tab", { hasText: "builder: 1.1.0 ↔ 1.2.0" })
        .first()
        .waitFor({ timeout: 20_000 });
      await page
        .locator(".monaco-diff-editor")
        .first()
        .waitFor({ timeout: 10_000 });
    });

    await check("Compare the two runs", page, async () => {
      await palette(page, "BuilderOS: Compare Run with…");
      const rows = page.locator(".quick-input-list .monaco-list-row");
      await rows.first().waitFor({ timeout: 15_000 });
      await page.keyboard.press("Enter"); // the newest run
      await page
        .locator(".quick-input-widget", { hasText: "with…" })
        .first()
        .waitFor({ timeout: 15_000 });
      await rows.first().waitFor({ timeout: 15_000 });
      await page.keyboard.press("Enter"); // the other one
      await page
        .locator(".monaco-editor .view-lines", { hasText: "compared with" })
        .first()
        .waitFor({ timeout: 30_000 });
    });

    await check("▶ Run eval shows the Eval dashboard", page, async () => {
      await quickOpen(page, "evals/builder-basic.yaml");
      await clickLens(page, "▶ Run eval", 30_000);
      await page
        .locator(".tab", { hasText: "Eval dashboard" })
        .first()
        .waitFor({ timeout: 120_000 });
      const frame = await webviewFrame(page, "body.eval-dashboard", 30_000);
      await frame
        .locator("h2", { hasText: "builder-basic" })
        .first()
        .waitFor({ timeout: 10_000 });
      // the offline model has no scripted replies: every case fails
      await frame
        .locator(".badge", { hasText: "FAILED" })
        .first()
        .waitFor({ timeout: 5_000 });
      const rate = await frame
        .locator(".summary span.rate")
        .first()
        .innerText();
      must(rate.trim() === "0%", `pass rate ${rate}, not 0%`);
      await frame.locator("ul.failures li").first().waitFor({ timeout: 5_000 });
      await page.screenshot({ path: join(SHOTS, "eval-dashboard.png") });
    });
  } finally {
    await browser?.close().catch(() => undefined);
    server.stop();
    if (failed) console.log(logs.join("").split("\n").slice(-30).join("\n"));
    rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  }
  console.log(`screenshots: ${SHOTS}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
