// Messages from webviews are untrusted: only well-formed ones get through; the CSP is strict.

import { test } from "node:test";
import assert from "node:assert/strict";
import { contentSecurityPolicy, escapeHtml, nonce, parseWebviewMessage } from "../src/core/messages";

test("well-formed messages are accepted", () => {
  assert.deepEqual(parseWebviewMessage({ type: "ready" }), { type: "ready" });
  assert.deepEqual(parseWebviewMessage({ type: "selectStep", step: "generate" }), {
    type: "selectStep",
    step: "generate",
  });
  assert.deepEqual(parseWebviewMessage({ type: "openProvenance" }), { type: "openProvenance" });
  assert.deepEqual(parseWebviewMessage({ type: "openFile", path: "src/app/health.py" }), {
    type: "openFile",
    path: "src/app/health.py",
  });
  assert.deepEqual(parseWebviewMessage({ type: "painted", ms: 12.5 }), { type: "painted", ms: 12.5 });
});

test("anything else is dropped: unknown types, wrong fields, paths that escape", () => {
  for (const bad of [
    null,
    "ready",
    { type: "eval", code: "x" },
    { type: "selectStep" },
    { type: "selectStep", step: "<img onerror=1>" },
    { type: "openFile", path: "../etc/passwd" },
    { type: "openFile", path: "/etc/passwd" },
    { type: "openFile", path: "a/../../b" },
    { type: "painted", ms: "fast" },
    { type: "painted", ms: Infinity },
    { type: "scrollStats", frames: [1, "x"] },
  ]) {
    assert.equal(parseWebviewMessage(bad), undefined, JSON.stringify(bad));
  }
});

test("HTML is escaped, nonces are long and random, the CSP allows nothing remote", () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;");
  assert.equal(nonce().length, 32);
  assert.notEqual(nonce(), nonce());
  const csp = contentSecurityPolicy("vscode-resource:", "abc");
  assert.match(csp, /^default-src 'none'/);
  assert.match(csp, /script-src 'nonce-abc'/);
  assert.doesNotMatch(csp, /https?:|unsafe-inline|unsafe-eval|\*/);
});
