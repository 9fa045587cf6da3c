#!/usr/bin/env bash
# Fuzz the id decoders, the graph adjacency decoder and the graph search under
# AddressSanitizer + UndefinedBehaviorSanitizer, at each SIMD level.
# Usage: scripts/fuzz_ids.sh [ITERATIONS=200000] [SEED=1]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
n="$root/native"
${CC:-gcc} -std=c11 -D_DEFAULT_SOURCE -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -I"$n" "$n/fuzz/fuzz_ids.c" "$n/packed.c" "$n/eliasfano.c" "$n/radix.c" "$n/select.c" "$n/roc.c" "$n/roc_lanes.c" "$n/rice.c" "$n/rankset.c" "$n/wavelet.c" "$n/code_ans.c" \
  "$n/adjacency.c" "$n/adjacency_set.c" "$n/hnsw.c" "$n/scan.c" "$n/collect.c" "$n/distance.c" "$n/codes.c" "$n/sq4.c" "$n/bf16.c" \
  "$n/lut.c" "$n/topk.c" "$n/argmin.c" "$n/dispatch.c" -o "$out/fuzz_ids" -lm -lpthread
# every SIMD level the CPU has (the ROC decoder and the wavelet selects have one a level)
for level in avx512 avx2 scalar; do
  VTOOL_SIMD=$level "$out/fuzz_ids" "${1:-200000}" "${2:-1}"
done
