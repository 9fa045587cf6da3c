#!/usr/bin/env bash
# Install vtool with its test extras into .venv, then run the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install.sh" test
# qemu-user emulates a CPU without AVX-512, on which the AVX2 kernels' tests run again
# (tests/native/test_levels_without_avx512.py; skipped without it): installed where we may
if ! command -v qemu-x86_64 >/dev/null && [ "$(uname -m)" = x86_64 ] && [ "$(id -u)" = 0 ] \
   && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q qemu-user >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q qemu-user >/dev/null 2>&1; } \
    || echo "test.sh: qemu-user could not be installed; the AVX2-only CPU check will be skipped" >&2
fi
cd "$root"
exec .venv/bin/python -m pytest "$@"
