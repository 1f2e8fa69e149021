#!/usr/bin/env bash
# Creates .venv (if needed) and installs BuilderOS with its development tools into it.
# Sourced by scripts/test.sh and scripts/demo.sh so both work on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# The audit chain's C fast check (server/builderos/store/_chainfast.c) builds with gcc and OpenSSL's
# headers; the package works without it, but the test command checks that it is built.
if [ -z "${BUILDEROS_PURE_PYTHON:-}" ] && { ! command -v gcc >/dev/null || [ ! -f /usr/include/openssl/sha.h ]; } \
  && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libssl-dev >/dev/null || true
fi
STAMP="$VENV/.builderos-installed"
ACCEL_SRC="$ROOT/server/builderos/store/_chainfast.c"
accel_stale() {
  [ -z "${BUILDEROS_PURE_PYTHON:-}" ] || return 1
  [ "$ACCEL_SRC" -nt "$STAMP" ] || [ "$ROOT/setup.py" -nt "$STAMP" ] \
    || ! compgen -G "$ROOT/server/builderos/store/_chainfast*.so" >/dev/null
}
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || accel_stale; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import builderos, pygls, pytest_lsp" && touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# Bytecode for the package itself, as pip writes it for an installed wheel: an editable install only
# gets it when Python may write it on import (not with PYTHONDONTWRITEBYTECODE set, as on CI), and
# without it every daemon start compiles ~60 modules again (~100 ms on the way to first diagnostics).
"$VENV/bin/python" -m compileall -q "$ROOT/server/builderos" >/dev/null || true
