// A real VS Code (code-server from npm) with the packaged extension, driven by Debian's Chromium through
// playwright-core: the pieces shared by the end-to-end test and the benchmark.
import { spawn, execFileSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  writeFileSync,
  existsSync,
} from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
);
const require = createRequire(join(ROOT, "extension", "package.json"));
const { chromium } = require("playwright-core");

export const CODE_SERVER = join(
  ROOT,
  ".cache",
  "e2e",
  "node_modules",
  ".bin",
  "code-server",
);
export const VSIX = join(ROOT, "extension", "builderos.vsix");
export const PYTHON = join(ROOT, ".venv", "bin", "python");

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
    srv.on("error", rej);
  });
}

/** A copy of the example workspace, with extra files, `builderos.python` set, and a git repository. */
export function makeWorkspace(extra = {}, settings = {}) {
  const base = mkdtempSync(join(tmpdir(), "builderos-e2e-"));
  const ws = join(base, "shop");
  cpSync(join(ROOT, "tests", "fixtures", "workspaces", "shop"), ws, {
    recursive: true,
  });
  for (const [rel, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(ws, rel)), { recursive: true });
    writeFileSync(join(ws, rel), text);
  }
  mkdirSync(join(ws, ".vscode"), { recursive: true });
  writeFileSync(
    join(ws, ".vscode", "settings.json"),
    JSON.stringify({ "builderos.python": PYTHON, ...settings }, null, 2),
  );
  writeFileSync(
    join(ws, ".gitignore"),
    ".builderos/\n__pycache__/\n.pytest_cache/\n.vscode/\n",
  );
  const git = (...args) =>
    execFileSync(
      "git",
      ["-c", "user.name=E2E", "-c", "user.email=e2e@localhost", ...args],
      { cwd: ws, stdio: "pipe" },
    );
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-qm", "the shop, before BuilderOS");
  return { base, ws };
}

/** Installs the .vsix into a fresh profile and starts code-server on a free port; resolves once it answers. */
export async function startCodeServer(base, ws, log = () => undefined) {
  const userData = join(base, "user-data");
  const extDir = join(base, "extensions");
  mkdirSync(join(userData, "User"), { recursive: true });
  writeFileSync(
    join(userData, "User", "settings.json"),
    JSON.stringify({
      "security.workspace.trust.enabled": false,
      "workbench.startupEditor": "none",
      "telemetry.telemetryLevel": "off",
      "workbench.tips.enabled": false,
      "extensions.ignoreRecommendations": true,
      "git.enabled": false,
      "editor.codeLens": true,
    }),
  );
  execFileSync(
    CODE_SERVER,
    [
      "--user-data-dir",
      userData,
      "--extensions-dir",
      extDir,
      "--install-extension",
      VSIX,
    ],
    {
      stdio: "pipe",
      timeout: 120_000,
    },
  );
  const port = await freePort();
  const child = spawn(
    CODE_SERVER,
    [
      "--auth",
      "none",
      "--bind-addr",
      `127.0.0.1:${port}`,
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--user-data-dir",
      userData,
      "--extensions-dir",
      extDir,
      ws,
    ],
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  child.stdout.on("data", (d) => log(String(d)));
  child.stderr.on("data", (d) => log(String(d)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`code-server exited with ${child.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error("code-server did not answer within 60 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = () => {
    try {
      process.kill(-child.pid, "SIGTERM"); // its own process group: code-server and its children only
    } catch {
      // already gone
    }
  };
  return { port, child, stop, userData, extDir };
}

export async function openBrowser(port, ws) {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = await browser.newPage({
    viewport: { width: 1500, height: 950 },
  });
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`);
  await page.waitForSelector(".monaco-workbench", { timeout: 60_000 });
  return { browser, page };
}

/** Runs a command from the palette, as a person would. */
export async function palette(page, title) {
  // The title bar's search box, not F1: a key pressed while a webview has the focus stays in the webview.
  await page.keyboard.press("Escape"); // a quick input left open by a failed step
  await page.locator(".command-center .command-center-center").first().click();
  await typeInQuickInput(page, `>${title}`);
  const row = page
    .locator(".quick-input-list .monaco-list-row")
    .filter({ has: page.locator(".label-name", { hasText: exactly(title) }) })
    .first();
  await row.waitFor({ timeout: 10_000 });
  await row.click();
}

/** A pattern matching `text` and nothing else (Playwright's hasText matches substrings). */
export function exactly(text) {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

/** Sets the quick input's text, again if the widget reset it while opening (bounded). */
export async function typeInQuickInput(page, text) {
  const input = page.locator(".quick-input-widget input:visible").first();
  await input.waitFor({ state: "visible", timeout: 10_000 });
  for (let i = 0; i < 20; i++) {
    await input.fill(text);
    if ((await input.inputValue()) === text) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`the quick input did not take "${text}"`);
}

/** The frame of a webview whose document has `selector` (webviews are nested iframes). */
export async function webviewFrame(page, selector, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      try {
        if (await frame.$(selector)) return frame;
      } catch {
        // a frame that went away
      }
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`no webview with ${selector} within ${timeout} ms`);
}

export function ensureTools() {
  for (const [what, path] of [
    ["code-server", CODE_SERVER],
    ["the .vsix", VSIX],
    ["the repo's Python", PYTHON],
    ["chromium", "/usr/bin/chromium"],
  ]) {
    if (!existsSync(path))
      throw new Error(
        `${what} is missing at ${path} (run scripts/test_extension.sh)`,
      );
  }
}
