#!/usr/bin/env bash
# The demo: a fresh copy of the example workspace, checked by the same validator the editor uses;
# then the same workspace with two typical mistakes, to show the diagnostics a user gets.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
exec python "$ROOT/scripts/demo.py" "$@"
