// Sets package.json's version (argument 1, semver), keeping the file's layout otherwise.
import { readFileSync, renameSync, writeFileSync } from "node:fs";

const version = process.argv[2] ?? "";
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
  console.error(`bump-version: ${JSON.stringify(version)} is not a semver version such as 0.2.0`);
  process.exit(2);
}
const text = readFileSync("package.json", "utf8");
const bumped = text.replace(/("version"\s*:\s*)"[^"]*"/, `$1${JSON.stringify(version)}`);
JSON.parse(bumped); // never write a broken package.json
writeFileSync("package.json.tmp", bumped);
renameSync("package.json.tmp", "package.json");
console.log(`bump-version: ${JSON.parse(bumped).name}@${version}`);
