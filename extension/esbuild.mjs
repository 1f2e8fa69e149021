// Bundles the extension into dist/extension.js (vscode stays external), copies the JSON Schemas in,
// and with --tests bundles the unit tests into out/test/ for node's test runner.
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tests = process.argv.includes("--tests");

if (tests) {
  const entries = readdirSync(join(here, "test"))
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => join(here, "test", f));
  await build({
    entryPoints: entries,
    outdir: join(here, "out", "test"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["vscode"],
    logLevel: "warning",
  });
} else {
  mkdirSync(join(here, "schemas"), { recursive: true });
  for (const f of readdirSync(join(here, "..", "schemas"))) {
    if (f.endsWith(".schema.json")) cpSync(join(here, "..", "schemas", f), join(here, "schemas", f));
  }
  await build({
    entryPoints: [join(here, "src", "extension.ts")],
    outfile: join(here, "dist", "extension.js"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["vscode"],
    minify: process.argv.includes("--minify"),
    sourcemap: false,
    logLevel: "warning",
  });
  await build({
    entryPoints: [join(here, "src", "webview", "timeline.ts")],
    outfile: join(here, "dist", "webview", "timeline.js"),
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    logLevel: "warning",
  });
}
