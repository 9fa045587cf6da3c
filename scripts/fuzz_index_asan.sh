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
sed -i 's/extra_compile_args=\["-O3",/extra_link_args=["-fsanitize=address,undefined"], extra_compile_args=["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",/' "$tree/native/build_native.py"
grep -q fsanitize "$tree/native/build_native.py" || { echo "fuzz_index_asan.sh: could not add the sanitizer flags" >&2; exit 1; }
(cd "$tree" && "$py" -c "import sys; sys.path.insert(0, 'native'); import build_native; build_native.ffibuilder.compile(tmpdir='.')") > /dev/null 2>&1
export ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
PYTHONPATH="$tree" "$py" -W ignore "$tree/scripts/fuzz_index.py" --cases "${1:-20000}" --seed "${2:-1}"
