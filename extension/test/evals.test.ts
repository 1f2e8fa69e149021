// The Eval dashboard's page: badges, percentages, cases and their failures, every string escaped.

import { test } from "node:test";
import assert from "node:assert/strict";
import { evalDashboardBody, percent, type EvalResult } from "../src/core/evals";

const suite = (over: Partial<EvalResult> = {}): EvalResult => ({
  suite: "builder-basic",
  file: "evals/builder-basic.yaml",
  passRate: 1,
  required: 0.9,
  passed: true,
  evalRunId: "01JEVALRUN0000000000000000",
  prompt: "builder@1.2.0",
  model: "scripted",
  requests: 6,
  suggestedBump: null,
  cases: [
    { name: "writes a test", passRate: 1, flaky: false, failures: [] },
    { name: "answers in the declared shape", passRate: 1, flaky: false, failures: [] },
  ],
  ...over,
});

const count = (text: string, part: string) => text.split(part).length - 1;

test("rates are percentages with at most one decimal", () => {
  assert.equal(percent(0), "0%");
  assert.equal(percent(0.9), "90%");
  assert.equal(percent(1), "100%");
  assert.equal(percent(0.6667), "66.7%");
  assert.equal(percent(Number.NaN), "—");
});

test("a passing suite: PASSED, its rate against the required one, its figures", () => {
  const html = evalDashboardBody([suite()]);
  assert.match(html, /<h1>Eval dashboard<\/h1>/);
  assert.match(html, /<h2>builder-basic<\/h2>/);
  assert.equal(count(html, ">PASSED<"), 1);
  assert.equal(count(html, ">FAILED<"), 0);
  assert.match(html, /100%<\/span> \(required 90%\)/);
  for (const part of ["evals/builder-basic.yaml", "builder@1.2.0", "scripted", "01JEVALRUN0000000000000000"])
    assert.ok(html.includes(part), part);
  assert.match(html, /<th>Requests<\/th><td>6<\/td>/);
  assert.match(html, /<th>Suggested prompt bump<\/th><td>none<\/td>/);
  assert.ok(!html.includes('class="failures"'));
  assert.ok(!html.includes("No eval suites"));
});

test("a failing suite: FAILED, its cases' rates, flaky marker, failures listed, the suggested bump", () => {
  const html = evalDashboardBody([
    suite({
      passRate: 0.5,
      passed: false,
      suggestedBump: { level: "major", reason: "failing now, passed with builder@1.1.0: writes a test" },
      cases: [
        {
          name: "writes a test",
          passRate: 0,
          flaky: false,
          failures: ["output does not contain 'test_'", "len(output.files) >= 2 is false"],
        },
        { name: "answers in the declared shape", passRate: 0.6667, flaky: true, failures: ["no match"] },
      ],
    }),
  ]);
  assert.equal(count(html, ">FAILED<"), 1);
  assert.equal(count(html, ">PASSED<"), 0);
  assert.match(html, /50%<\/span> \(required 90%\)/);
  assert.match(html, /<td class="rate">0%<\/td>/);
  assert.match(html, /<td class="rate">66.7%<\/td>/);
  assert.equal(count(html, ">flaky<"), 1);
  assert.match(html, /answers in the declared shape <span class="flaky"/);
  assert.match(
    html,
    /<ul class="failures"><li>output does not contain &#39;test_&#39;<\/li><li>len\(output.files\) &#62;= 2 is false<\/li><\/ul>/,
  );
  assert.match(html, /<ul class="failures"><li>no match<\/li><\/ul>/);
  assert.match(html, /<b>major<\/b> \(failing now, passed with builder@1.1.0: writes a test\)/);
});

test("several suites: one section each and an overview", () => {
  const html = evalDashboardBody([suite(), suite({ suite: "reviewer", passed: false, passRate: 0 })]);
  assert.equal(count(html, '<section class="suite'), 2);
  assert.match(html, /1 passed, 1 failed/);
  assert.match(html, /<h2>reviewer<\/h2>/);
});

test("no suites: says where suites live", () => {
  const html = evalDashboardBody([]);
  assert.match(html, /No eval suites in this workspace \(evals\/\*\.yaml\)/);
  assert.ok(!html.includes("<section"));
});

test("every string is escaped", () => {
  const evil = "<script>alert(1)</script>";
  const html = evalDashboardBody(
    [
      suite({
        suite: evil,
        file: `evals/${evil}.yaml`,
        prompt: evil,
        model: evil,
        evalRunId: evil,
        passed: false,
        suggestedBump: { level: evil, reason: evil },
        cases: [{ name: evil, passRate: 0, flaky: true, failures: [evil, `"quoted" & 'single'`] }],
      }),
    ],
    { title: evil },
  );
  assert.ok(!html.includes("<script"), "an unescaped <script>");
  assert.ok(html.includes("&#60;script&#62;alert(1)&#60;/script&#62;"));
  assert.match(html, /<h2>&#60;script&#62;alert\(1\)&#60;\/script&#62;<\/h2>/);
  assert.match(html, /<li>&#60;script&#62;alert\(1\)&#60;\/script&#62;<\/li>/);
  assert.ok(html.includes("<li>&#34;quoted&#34; &#38; &#39;single&#39;</li>"));
});
