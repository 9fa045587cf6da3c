#!/usr/bin/env bash
# Install vtool with its test extras into .venv, then run the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install.sh" test
cd "$root"
exec .venv/bin/python -m pytest "$@"
