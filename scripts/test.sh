#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, types, schemas, the extension (in a real
# VS Code) and every Python test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh

echo "== ruff"
ruff check server tests scripts
ruff format --check server tests scripts
echo "== mypy --strict (server)"
mypy
echo "== schemas up to date"
python scripts/gen_schemas.py --check
echo "== the VS Code extension (tsc, eslint, prettier, unit tests, .vsix, end to end in code-server)"
bash scripts/test_extension.sh
echo "== pytest"
python -m pytest -p no:cacheprovider "$@"
