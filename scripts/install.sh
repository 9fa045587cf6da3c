#!/usr/bin/env bash
# Create .venv (if missing) and install vtool into it, compiling native/ with cffi.
# Usage: scripts/install.sh [EXTRAS]   e.g. scripts/install.sh test
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
# Editable, so the compiled extension sits beside the sources the tests import.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import vtool._native_lib" \
  || { echo "install.sh: the native extension did not build" >&2; exit 1; }
