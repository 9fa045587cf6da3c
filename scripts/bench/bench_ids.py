"""Lossless id compression: bits per id of every codec against the information bounds,
encode / decode throughput, and search time compressed / uncompressed (nprobe 16, k 10, 1 and
2 threads; the uncompressed baseline is the int64 rewrite, through the same writer).

On glove-50-l2 (200k) and a synthetic 1M x 32 set (fixed seed), IVF256 to IVF4096.
Prints tables and writes scripts/bench/results/bench_ids.json.

    .venv/bin/python scripts/bench/bench_ids.py [--nlists 256,1024,4096] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import numpy as np  # noqa: E402

from vtool.commands.build import add, train  # noqa: E402
from vtool.commands.compress import compress_ids  # noqa: E402
from vtool.index.index import load_index  # noqa: E402

METHODS = ("packed", "ef", "roc", "wt")


def dataset(name: str, tmp: str):
    if name == "glove-50-l2":
        data = common.SHARED_DATA / name
        return str(data / "base.npy"), np.load(data / "queries.npy")[:2000]
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(2000, 32)).astype(np.float32) * 3
    base = (centers[rng.integers(len(centers), size=1_000_000)] + rng.normal(size=(1_000_000, 32))).astype(np.float32)
    path = f"{tmp}/synthetic.npy"
    np.save(path, base)
    return path, base[rng.choice(len(base), 2000, replace=False)] + 0.1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="glove-50-l2,synthetic-1M-32")
    ap.add_argument("--nlists", default="256,512,1024,2048,4096")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--name", default="bench_ids", help="results file name (scripts/bench/results/NAME.json)")
    args = ap.parse_args()
    out = {"machine": common.machine(), "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            path, queries = dataset(name, tmp)
            rows = []
            for nlist in (int(v) for v in args.nlists.split(",")):
                train(path, f"{tmp}/m.vti", f"IVF{nlist},Flat", seed=0, max_train=min(256 * nlist, 131072))
                add(f"{tmp}/m.vti", [path], f"{tmp}/i.vti")
                # the baseline goes through the same writer as the compressed files (add's own
                # output searched 7 % slower than its rewrite in one run, flattering every codec)
                compress_ids(f"{tmp}/i.vti", f"{tmp}/int64.vti", method="int64")
                plain = load_index(f"{tmp}/int64.vti")

                def search_time(path, threads):  # freshly opened: no decoded list cached from a previous run
                    t0 = time.perf_counter()
                    load_index(path, verify=False).search(queries, 10, 16, threads=threads)
                    return time.perf_counter() - t0

                entry = {"dataset": name, "nlist": nlist, "n": plain.ntotal}
                for method in METHODS:
                    rep = compress_ids(f"{tmp}/i.vti", f"{tmp}/{method}.vti", method=method, verify=True)
                    entry[method] = {"bits_per_id": rep["bits_per_id"], "encode_ids_per_s": rep["encode_ids_per_second"],
                                     "decode_ids_per_s": rep["decode_ids_per_second"]}
                    entry.update({k: rep[k] for k in ("log2_binomial_bits_per_id", "entropy_bits_per_id",
                                                       "zstd_bits_per_id")})
                common.same_page_cache([f"{tmp}/{m}.vti" for m in ("int64", *METHODS)])
                # each codec's search next to a plain one, the pair's order turned every round: the
                # slowdown is the median of the pairs' ratios (this VM drifts by 20 % between
                # minutes, and within a round of five searches: against the round's first, a
                # plain search fourth ran 0.94x on one thread, 1.07x on two)
                for threads, key in ((1, "search_slowdown"), (2, "search_slowdown_2_threads")):
                    ratios = {m: [] for m in METHODS}
                    for r in range(args.repeats):
                        for method in METHODS:
                            times = {}
                            for which in ("int64", method)[::1 if r % 2 == 0 else -1]:
                                times[which] = search_time(f"{tmp}/{which}.vti", threads)
                            ratios[method].append(times[method] / times["int64"])
                    for method in METHODS:
                        entry[method][key] = statistics.median(ratios[method])
                out["results"].append(entry)
                rows.append([nlist, 64, entry["packed"]["bits_per_id"], entry["ef"]["bits_per_id"],
                             entry["roc"]["bits_per_id"], entry["wt"]["bits_per_id"], entry["zstd_bits_per_id"],
                             entry["log2_binomial_bits_per_id"], entry["entropy_bits_per_id"],
                             entry["roc"]["bits_per_id"] - entry["log2_binomial_bits_per_id"],
                             entry["wt"]["bits_per_id"] / entry["entropy_bits_per_id"],
                             *(entry[m][key] for m in ("ef", "wt", "roc")
                               for key in ("search_slowdown", "search_slowdown_2_threads"))])
            common.print_table(f"{name}: bits per id (search slowdown at nprobe 16, k 10, 1 | 2 threads: "
                               "compressed / plain)",
                               ["IVF", "int64", "packed", "ef", "roc", "wt", "zstd-19", "sum log2C/N", "H(sizes)",
                                "roc-bound", "wt/H", "ef slow", "ef 2t", "wt slow", "wt 2t", "roc slow", "roc 2t"],
                               rows)
            common.print_table(f"{name}: throughput (ids/s)",
                               ["IVF", "ef enc", "ef dec", "wt enc", "wt dec", "roc enc", "roc dec"],
                               [[e["nlist"], e["ef"]["encode_ids_per_s"], e["ef"]["decode_ids_per_s"],
                                 e["wt"]["encode_ids_per_s"], e["wt"]["decode_ids_per_s"],
                                 e["roc"]["encode_ids_per_s"], e["roc"]["decode_ids_per_s"]]
                                for e in out["results"] if e["dataset"] == name])
    print(f"JSON: {common.write_json(args.name, out)}")


if __name__ == "__main__":
    main()
