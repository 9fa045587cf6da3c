#!/usr/bin/env bash
# The structured index fuzzer (scripts/fuzz_index.py) over a build of the C core with
# AddressSanitizer + UBSan: every native decoder and scan a crafted file reaches runs checked.
# Usage: scripts/fuzz_index_asan.sh [CASES=20000] [SEED=1]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
cp -r "$root/vtool" "$root/native" "$root/scripts" "$tree/"
rm -f "$tree"/vtool/_native_lib*.so
(cd "$tree" && "$py" - <<'PY'
import sys
sys.path.insert(0, "native")
import build_native
build_native.ffibuilder.set_source(
    "vtool._native_lib", '#include "vtool.h"', sources=[f"native/{s}" for s in build_native.SOURCES],
    include_dirs=["native"], extra_link_args=["-fsanitize=address,undefined"],
    extra_compile_args=["-O1", "-g", "-std=c11", "-fno-strict-aliasing", "-ffp-contract=off",
                        "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"])
build_native.ffibuilder.compile(tmpdir=".", verbose=False)
PY
) > /dev/null
export ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
PYTHONPATH="$tree" "$py" -W ignore "$tree/scripts/fuzz_index.py" --cases "${1:-20000}" --seed "${2:-1}"
