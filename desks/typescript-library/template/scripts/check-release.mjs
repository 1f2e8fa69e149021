// Checks a release without a network or npm: the version has a CHANGELOG entry, and every name that
// src/index.ts exports is exported by lib/index.js and declared in lib/index.d.ts.
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const changelog = readFileSync("CHANGELOG.md", "utf8");
const problems = [];
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(pkg.version)) {
  problems.push(`package.json version ${pkg.version} is not semver`);
}
if (!changelog.includes(`## ${pkg.version}`)) {
  problems.push(`CHANGELOG.md has no "## ${pkg.version}" entry`);
}
const exported = (text) =>
  [...text.matchAll(/export\s+(?:declare\s+)?(?:const|function|class)\s+([A-Za-z_$][\w$]*)/g)].map((m) => m[1]);
const source = exported(readFileSync("src/index.ts", "utf8"));
const lib = new Set(exported(readFileSync("lib/index.js", "utf8")));
const types = new Set(exported(readFileSync("lib/index.d.ts", "utf8")));
for (const name of source) {
  if (!lib.has(name)) problems.push(`lib/index.js does not export ${name}`);
  if (!types.has(name)) problems.push(`lib/index.d.ts does not declare ${name}`);
}
if (problems.length) {
  for (const p of problems) console.error(`check-release: ${p}`);
  process.exit(1);
}
console.log(`check-release: ${pkg.name}@${pkg.version} ok (${source.length} exports)`);
