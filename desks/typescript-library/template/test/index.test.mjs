import assert from "node:assert/strict";
import { test } from "node:test";

import { chunk, SEPARATOR, slugify } from "../lib/index.js";

test("slugify joins lower-case words", () => {
  assert.equal(slugify("Hello, World!"), ["hello", "world"].join(SEPARATOR));
});

test("slugify drops accents", () => {
  assert.equal(slugify("Crème brûlée"), ["creme", "brulee"].join(SEPARATOR));
});

test("chunk cuts a list", () => {
  assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
});

test("chunk refuses a bad size", () => {
  assert.throws(() => chunk([1], 0), RangeError);
});
