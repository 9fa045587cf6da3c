#!/usr/bin/env bash
# Install vtool, then run the whole pipeline on the bundled GloVe sample and print a table:
# exact Flat search, IVF128,Flat at several nprobe, and an IVF128,PQ10 index (encode -> add)
# with its ids compressed two ways (compress-ids: Elias-Fano, random access; ROC, nearer the
# bound, whole lists decoded), with recall, QPS, bytes per vector and id bits.
# (ANS code compression is left out: on 10-byte codes it saves under 1% and costs QPS.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install.sh"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
data=scripts/demo_data/glove-50-20k
out=out/demo
rm -rf "$out"  # a fresh run each time (outputs of an older vtool would not be rebuilt by make)
mkdir -p "$out"

echo "== train -> add -> gt -> search -> eval (scripts/pipeline.mk) on $data" >&2
make --no-print-directory -s -f scripts/pipeline.mk DATA="$data" OUT="$out" SPEC=IVF128,Flat NPROBE=16 MIN_RECALL=0.9

vtool train "$data/base.npy" --index Flat -o "$out/flat.model.vti" --quiet
vtool add "$out/flat.model.vti" "$data/base.npy" -o "$out/flat.vti" --quiet
run() {  # name index nprobe
  vtool search "$2" "$data/queries.npy" -k 10 ${3:+--nprobe $3} -o "$out/$1.npz" --timing "$out/$1.timing.json" --quiet
  vtool eval "$out/$1.npz" --gt "$out/gt.ibin" --timing "$out/$1.timing.json" --index "$2" --json > "$out/$1.eval.json"
}
run flat "$out/flat.vti" ""
for p in 1 4 16 64; do run "ivf_np$p" "$out/index.vti" "$p"; done

vtool train "$data/base.npy" --index IVF128,PQ10 -o "$out/pq.model.vti" --quiet
vtool encode "$out/pq.model.vti" "$data/base.npy" -o "$out/pq.codes.npy" --quiet
vtool add "$out/pq.model.vti" "$out/pq.codes.npy" -o "$out/pq.vti" --quiet
vtool compress-ids "$out/pq.vti" -o "$out/pq.ef.vti" --method ef --verify --quiet >&2
vtool compress-ids "$out/pq.vti" -o "$out/pq.roc.vti" --method roc --verify --quiet >&2
run pq "$out/pq.vti" 16
run pq_ef "$out/pq.ef.vti" 16
run pq_roc "$out/pq.roc.vti" 16

.venv/bin/python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = ([("Flat", "-", "flat")] + [("IVF128,Flat", str(p), f"ivf_np{p}") for p in (1, 4, 16, 64)]
        + [("IVF128,PQ10", "16", "pq"), ("  + ef ids", "16", "pq_ef"), ("  + roc ids", "16", "pq_roc")])
print(f"\n{'index':<24} {'nprobe':>6} {'recall@1':>9} {'1-R@10':>8} {'10-R@10':>8} {'QPS':>9} {'bytes/vec':>10} {'id bits':>8}")
for spec, nprobe, name in rows:
    r = json.loads((out / f"{name}.eval.json").read_text())
    print(f"{spec:<24} {nprobe:>6} {r['recall@1']:>9.4f} {r['1-recall@k']:>8.4f} {r['k-recall@k']:>8.4f} "
          f"{r['qps']:>9.0f} {r['bytes_per_vector']:>10.1f} {r['id_bits_per_vector']:>8.2f}")
print(f"\n{json.loads((out / 'ivf_np1.timing.json').read_text())['queries']} queries, 20000 GloVe-50 vectors; "
      f"outputs in {out}/")
PY
