#!/usr/bin/env bash
# The VS Code extension, from nothing: system packages, npm ci, code-server (cached in .cache/e2e/),
# build, tsc --strict, eslint, prettier, unit tests, the .vsix, then the end-to-end test in a real
# VS Code (code-server + Debian's Chromium, headless). Ends with "N passed, M failed".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="$ROOT/.cache/e2e"
CODE_SERVER_VERSION=4.100.3
RIPGREP_PKG_VERSION=1.15.11   # the @vscode/ripgrep that code-server 4.100.3 resolves
passed=0
failed=0
step() { echo "== $1"; }
ok() { passed=$((passed + 1)); echo "ok   $1"; }
ko() { failed=$((failed + 1)); echo "FAIL $1"; }
run_check() { local name="$1"; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }

step "system packages"
need=()
command -v node >/dev/null || need+=(nodejs npm)
command -v rg >/dev/null || need+=(ripgrep)
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "python (.venv with builderos)"
if [ ! -x "$ROOT/.venv/bin/python" ] || ! "$ROOT/.venv/bin/python" -c "import builderos" 2>/dev/null; then
  # shellcheck disable=SC1091
  source "$ROOT/scripts/bootstrap.sh"
fi

step "npm ci (extension)"
(cd extension && npm ci --no-audit --no-fund --loglevel=error)

step "code-server $CODE_SERVER_VERSION (cached in .cache/e2e)"
if ! "$CACHE/node_modules/.bin/code-server" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION"; then
  rg_cache="/tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
  mkdir -p "$rg_cache" "$CACHE"
  tmp="$(mktemp -d)"
  cp "$(command -v rg)" "$tmp/rg"
  tar -czf "$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$tmp" rg
  rm -rf "$tmp" "$CACHE/node_modules" "$CACHE/package-lock.json"
  # npm 11 runs dependency install scripts only when package.json allows them.
  cat > "$CACHE/package.json" <<'JSON'
{"name": "builderos-e2e-cache", "private": true, "allowScripts": {"code-server": true, "argon2": true}}
JSON
  (cd "$CACHE" && npm_config_yes=true npm_config_unsafe_perm=true \
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION")
  "$CACHE/node_modules/.bin/code-server" --version >/dev/null
fi

cd extension
step "build"
run_check "build (esbuild)" npm run --silent build
step "tsc --strict"
run_check "tsc --strict" npx --no-install tsc -p . --noEmit --strict
step "eslint"
run_check "eslint" npx --no-install eslint src test
step "prettier --check"
run_check "prettier --check" npx --no-install prettier --check --log-level warn "src/**/*.ts" "test/**/*.ts" \
  "media/**/*.css" esbuild.mjs eslint.config.mjs "../tests/e2e/**/*.mjs" ../scripts/bench_extension.mjs
step "unit tests"
unit_log="$(mktemp)"
if npm run --silent test >"$unit_log" 2>&1; then ok "unit tests"; else ko "unit tests"; cat "$unit_log"; fi
grep -E "^# (pass|fail)" "$unit_log" || true
unit_pass=$(awk '/^# pass/ {print $3}' "$unit_log")
unit_fail=$(awk '/^# fail/ {print $3}' "$unit_log")
step "the BuilderOS wheel the .vsix carries (what 'Install BuilderOS' pip-installs)"
rm -rf python && mkdir -p python
# pure Python (no C fast check): one wheel that installs on every platform and Python the editor runs
run_check "pip wheel builderos" env BUILDEROS_PURE_PYTHON=1 "$ROOT/.venv/bin/python" -m pip wheel --no-deps --quiet \
  --disable-pip-version-check -w python "$ROOT"
step "package (.vsix)"
run_check "vsce package" npx --no-install vsce package --no-dependencies --allow-missing-repository \
  --skip-license -o builderos.vsix
cd "$ROOT"
step "the packaged wheel installs into a fresh venv and validates the example workspace"
wheel_check() {
  local venv
  venv="$(mktemp -d)/venv"
  "$ROOT/.venv/bin/python" - extension/builderos.vsix "$venv.whl-dir" <<'PY' || return 1
import sys, zipfile, pathlib
names = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("extension/python/builderos-")]
assert names, "the .vsix carries no BuilderOS wheel"
out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True)
for n in names:
    (out / pathlib.Path(n).name).write_bytes(zipfile.ZipFile(sys.argv[1]).read(n))
PY
  local rc=0
  python3 -m venv "$venv" || rc=1
  if [ $rc -eq 0 ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$venv.whl-dir"/builderos-*.whl \
      2>&1 | { grep -v "^WARNING: Location" || true; }
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  fi
  if [ $rc -eq 0 ]; then
    (cd tests/fixtures/workspaces/shop && "$venv/bin/python" -m builderos validate >/dev/null) || rc=1
  fi
  rm -rf "$(dirname "$venv")"
  return $rc
}
run_check "wheel from the .vsix installs and runs" wheel_check

step "end to end in code-server"
e2e_log="$(mktemp)"
if timeout 600 node tests/e2e/extension.e2e.mjs 2>&1 | tee "$e2e_log"; then :; fi
e2e_pass=$(tail -n 5 "$e2e_log" | awk '/ passed, / {print $1}' | tail -n 1)
e2e_fail=$(tail -n 5 "$e2e_log" | awk '/ passed, / {print $3}' | tail -n 1)
if [ -z "$e2e_pass" ]; then e2e_pass=0; e2e_fail=1; fi

total_pass=$((passed + ${unit_pass:-0} + e2e_pass))
total_fail=$((failed + ${unit_fail:-0} + e2e_fail))
echo "checks: $passed/$((passed + failed)); unit tests: ${unit_pass:-0} passed; e2e: $e2e_pass passed"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
