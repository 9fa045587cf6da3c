"""vtool HNSW vs faiss-cpu HNSW vs hnswlib, one process, same data, M and efConstruction.

Per dataset: build time (1 and 2 threads; vtool builds file to file, the others in memory),
bytes per vector (vtool plain and with ef-coded adjacency, faiss's serialised index, hnswlib's
saved file), the recall@10 / QPS curve over ef 16..512 on 1 and 2 threads (libraries
interleaved per point, medians of --repeats), QPS at recall 0.90 and 0.95 (interpolated) with
ratios against the faster of faiss and hnswlib, and the slowdown of the compressed adjacency.
Writes scripts/bench/results/bench_graph.json.

    .venv/bin/python scripts/bench/bench_graph.py [--datasets minilm-wordnet-384,glove-50-l2] [--m 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (numpy first, then faiss with OPENBLAS_CORETYPE)

import numpy as np  # noqa: E402

from vtool.commands.build import add, train  # noqa: E402
from vtool.commands.compress import compress_ids  # noqa: E402
from vtool.index.index import load_index  # noqa: E402

faiss = common.import_faiss()
try:
    import hnswlib
except ImportError:  # the benchmark still compares with faiss
    hnswlib = None
EFS = (10, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def qps_at(curve: list[dict], target: float) -> float | None:
    """QPS at a recall, interpolated; when even the smallest ef (k) is above the target, the
    QPS of the fastest point at or above it (a lower bound: more recall for that speed)."""
    qps = common.qps_at_recall([(p["recall@10"], p["qps"]) for p in curve], target)
    if qps is None:
        above = [p["qps"] for p in curve if p["recall@10"] >= target]
        qps = max(above) if above else None
    return qps


def bench_dataset(name: str, m: int, efc: int, repeats: int, nq: int) -> dict:
    data = common.SHARED_DATA / name
    base_path = data / "base.npy"
    xb = np.load(base_path).astype(np.float32)
    xq = np.load(data / "queries.npy").astype(np.float32)[:nq]
    gt = np.load(data / "gt.npy")[:nq]
    n, d = xb.shape
    out: dict = {"n": n, "d": d, "queries": len(xq), "M": m, "ef_construction": efc}
    with tempfile.TemporaryDirectory() as tmp:
        model, plain, coded = f"{tmp}/m.vti", f"{tmp}/i.vti", f"{tmp}/c.vti"
        train(str(base_path), model, f"HNSW{m},Flat", seed=0, ef_construction=efc)
        build = {}
        for threads in (1, 2):
            build[f"vtool_{threads}t_s"] = timed(lambda: add(model, [str(base_path)], plain, threads=threads))[0]
            faiss.omp_set_num_threads(threads)
            fidx = faiss.IndexHNSWFlat(d, m)
            fidx.hnsw.efConstruction = efc
            build[f"faiss_{threads}t_s"] = timed(lambda: fidx.add(xb))[0]
            if hnswlib:
                hidx = hnswlib.Index(space="l2", dim=d)
                hidx.init_index(max_elements=n, ef_construction=efc, M=m, random_seed=100)
                hidx.set_num_threads(threads)
                build[f"hnswlib_{threads}t_s"] = timed(lambda: hidx.add_items(xb, np.arange(n)))[0]
        out["build"] = build
        comp = compress_ids(plain, coded, method="ef", adjacency="ef")
        out["adjacency"] = {k: v for k, v in comp.items() if k.startswith("adjacency") or k == "level0_edges"}
        faiss_bytes = len(faiss.serialize_index(fidx))
        sizes = {"vtool_plain": os.path.getsize(plain), "vtool_ef_adjacency": os.path.getsize(coded),
                 "faiss": faiss_bytes}
        if hnswlib:
            hidx.save_index(f"{tmp}/h.bin")
            sizes["hnswlib"] = os.path.getsize(f"{tmp}/h.bin")
        out["bytes_per_vector"] = {k: v / n for k, v in sizes.items()}
        out["bytes_per_vector_links_only"] = {k: (v - 4 * n * d) / n for k, v in sizes.items()}
        plain_index, coded_index = load_index(plain), load_index(coded)
        curves: dict = {}
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            if hnswlib:
                hidx.set_num_threads(threads)
            for ef in EFS:
                fidx.hnsw.efSearch = ef
                runs = {"vtool": lambda: plain_index.search(xq, 10, ef=ef, threads=threads)[1],
                        "vtool_ef_adjacency": lambda: coded_index.search(xq, 10, ef=ef, threads=threads)[1],
                        "faiss": lambda: fidx.search(xq, 10)[1]}
                if hnswlib:
                    hidx.set_ef(ef)
                    runs["hnswlib"] = lambda: hidx.knn_query(xq, 10)[0]
                times: dict = {k: [] for k in runs}
                results: dict = {}
                for _ in range(repeats):  # interleaved: each library once per round
                    for lib_name, fn in runs.items():
                        t, results[lib_name] = timed(fn)
                        times[lib_name].append(t)
                for lib_name in runs:
                    curves.setdefault(f"{lib_name}_{threads}t", []).append(
                        {"ef": ef, "recall@10": common.recall_at_k(np.asarray(results[lib_name]), gt, 10),
                         "qps": len(xq) / float(np.median(times[lib_name]))})
        out["curves"] = curves
        summary = []
        for threads in (1, 2):
            for target in (0.90, 0.95):
                row = {"threads": threads, "recall": target}
                for lib_name in ("vtool", "vtool_ef_adjacency", "faiss", "hnswlib"):
                    c = curves.get(f"{lib_name}_{threads}t")
                    row[lib_name] = qps_at(c, target) if c else None
                peers = [row[p] for p in ("faiss", "hnswlib") if row[p]]
                row["vtool_vs_best_peer"] = row["vtool"] / max(peers) if row["vtool"] and peers else None
                row["ef_adjacency_slowdown"] = row["vtool"] / row["vtool_ef_adjacency"] \
                    if row["vtool"] and row["vtool_ef_adjacency"] else None
                summary.append(row)
        out["qps_at_recall"] = summary
    return out


def bench_links(name: str, specs: list[str], nq: int, threads: int) -> dict:
    """Adjacency only (large sets): per graph spec, build time, bits per edge of ef / packed /
    roc against the set bound, and the search slowdown of ef and roc lists at ef 64
    (interleaved with the plain graph, medians of 5)."""
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        if name.startswith("synthetic"):
            base_path, _, xq, gt = common.synthetic_1m_128(tmp, nq)
        else:
            data = common.SHARED_DATA / name
            base_path, xq, gt = str(data / "base.npy"), np.load(data / "queries.npy")[:nq], np.load(data / "gt.npy")[:nq]
        for spec in specs:
            model, plain = f"{tmp}/m.vti", f"{tmp}/i.vti"
            train(base_path, model, f"{spec},Flat", seed=0)
            build_s = timed(lambda: add(model, [base_path], plain, threads=threads))[0]
            row: dict = {"build_s": build_s, "threads": threads}
            indexes = {"int32": load_index(plain)}
            for codec in ("ef", "packed", "roc"):
                comp = compress_ids(plain, f"{tmp}/{codec}.vti", method="ef", adjacency=codec)
                row[codec] = {k: v for k, v in comp.items() if k.startswith("adjacency_")}
                indexes[codec] = load_index(f"{tmp}/{codec}.vti")
            times: dict = {codec: [] for codec in ("int32", "ef", "roc")}
            for _ in range(5):
                for codec in times:
                    times[codec].append(timed(lambda: indexes[codec].search(xq, 10, ef=64))[0])
            row["recall@10_ef64"] = common.recall_at_k(indexes["int32"].search(xq, 10, ef=64)[1], gt, 10)
            for codec in ("ef", "roc"):
                row[f"{codec}_adjacency_slowdown_ef64"] = float(np.median(times[codec]) / np.median(times["int32"]))
            out[spec] = row
            a = row["ef"]
            print(f"{name} {spec}: build {build_s:.1f}s ({threads} threads); bits/edge ef {a['adjacency_bits_per_edge']:.2f} "
                  f"({a['adjacency_bits_with_degrees_per_edge']:.2f} with degrees), packed "
                  f"{row['packed']['adjacency_bits_per_edge']:.2f}, roc {row['roc']['adjacency_bits_per_edge']:.2f}, "
                  f"set bound {a['adjacency_set_bound_bits_per_edge']:.2f}; recall@10 at ef 64 "
                  f"{row['recall@10_ef64']:.4f}; search slowdown ef {row['ef_adjacency_slowdown_ef64']:.3f}, "
                  f"roc {row['roc_adjacency_slowdown_ef64']:.3f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="minilm-wordnet-384,glove-50-l2")
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--links-only", default=None, help="graph specs (e.g. HNSW16,HNSW32,NSG32): adjacency "
                    "bits and build time only, on --datasets (synthetic-1M-128 allowed); writes bench_graph_links.json")
    ap.add_argument("--threads", type=int, default=2, help="build threads with --links-only")
    args = ap.parse_args()
    if args.links_only:
        report = {"machine": common.machine()}
        for name in args.datasets.split(","):
            report[name] = bench_links(name, args.links_only.split(","), args.queries, args.threads)
        print(f"wrote {common.write_json('bench_graph_links', report)}")
        return
    report: dict = {"machine": common.machine(), "hnswlib": getattr(hnswlib, "__version__", None) if hnswlib else None}
    for name in args.datasets.split(","):
        r = bench_dataset(name, args.m, args.ef_construction, args.repeats, args.queries)
        report[name] = r
        b = r["build"]
        common.print_table(f"{name}: build HNSW{args.m}, efConstruction {args.ef_construction} (s)",
                           ["threads", "vtool", "faiss", "hnswlib", "vtool/faiss"],
                           [[t, b[f"vtool_{t}t_s"], b[f"faiss_{t}t_s"], b.get(f"hnswlib_{t}t_s"),
                             b[f"vtool_{t}t_s"] / b[f"faiss_{t}t_s"]] for t in (1, 2)])
        common.print_table(f"{name}: bytes per vector (links only: minus the float32 vectors)",
                           list(r["bytes_per_vector_links_only"]),
                           [list(r["bytes_per_vector_links_only"].values())])
        a = r["adjacency"]
        print(f"level-0 adjacency: ef {a['adjacency_bits_per_edge']:.2f} bits/edge "
              f"({a['adjacency_bits_with_degrees_per_edge']:.2f} with degrees), set bound "
              f"{a['adjacency_set_bound_bits_per_edge']:.2f}, int32 32")
        for key, curve in r["curves"].items():
            common.print_table(f"{name}: {key}", ["ef", "recall@10", "QPS"],
                               [[p["ef"], p["recall@10"], p["qps"]] for p in curve])
        common.print_table(f"{name}: QPS at recall@10", ["threads", "recall", "vtool", "vtool ef-adj", "faiss",
                                                        "hnswlib", "vtool/best", "ef-adj slowdown"],
                           [[s["threads"], s["recall"], s["vtool"], s["vtool_ef_adjacency"], s["faiss"],
                             s["hnswlib"], s["vtool_vs_best_peer"], s["ef_adjacency_slowdown"]]
                            for s in r["qps_at_recall"]])
    print(f"wrote {common.write_json('bench_graph', report)}")


if __name__ == "__main__":
    main()
