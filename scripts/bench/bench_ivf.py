"""vtool vs faiss-cpu, same run, same data and parameters: IVF-Flat and exact k-NN on glove-50-l2.

Measures k-means time, add rate, search QPS and recall@10 at nprobe 1..64 on 1 and 2
threads, and exact k-NN throughput; prints tables with ratios (vtool / faiss, >1 means
vtool is faster) and writes scripts/bench/results/bench_ivf.json. Medians of --repeats.

    .venv/bin/python scripts/bench/bench_ivf.py [--nlist 256] [--repeats 5] [--parts knn]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (numpy first, then faiss with OPENBLAS_CORETYPE)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from vtool.exact import knn  # noqa: E402
from vtool.commands.build import add, train  # noqa: E402
from vtool.index.index import load_index  # noqa: E402
from vtool.quant.kmeans import kmeans  # noqa: E402

faiss = common.import_faiss()
NPROBES = (1, 2, 4, 8, 16, 32, 64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="glove-50-l2")
    ap.add_argument("--nlist", type=int, default=256)
    ap.add_argument("--niter", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--knn-queries", type=int, default=2000)
    ap.add_argument("--name", default="bench_ivf", help="JSON file name under scripts/bench/results/")
    ap.add_argument("--parts", default="kmeans,add,search,knn", help="which comparisons to run (comma-separated)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if parts - {"kmeans", "add", "search", "knn"}:
        ap.error(f"unknown parts: {sorted(parts - {'kmeans', 'add', 'search', 'knn'})}")
    data = common.SHARED_DATA / args.dataset
    base_path = data / "base.npy"
    xb = np.load(base_path)
    xq = np.load(data / "queries.npy")
    gt = np.load(data / "gt.npy")
    n, d = xb.shape
    out: dict = {"machine": common.machine(), "dataset": args.dataset, "n": n, "d": d, "nlist": args.nlist,
                 "niter": args.niter, "repeats": args.repeats}
    rng = np.random.default_rng(0)
    sample = xb[np.sort(rng.choice(n, min(n, 256 * args.nlist), replace=False))]

    if "kmeans" in parts:
        bench_kmeans(args, sample, d, out)
    if parts & {"add", "search"}:
        bench_add_and_search(args, parts, base_path, xb, xq, gt, sample, out)
    if "knn" in parts:
        bench_knn(args, xb, xq, gt, out)
    faiss.omp_set_num_threads(2)
    print("\nBLAS:", *(f"{b['prefix']} {b['version']} {b['architecture']} x{b['num_threads']}"
                       for b in out["machine"]["blas"] if b["internal_api"] == "openblas"), sep="\n  ")
    print(f"vtool SIMD: {out['machine']['vtool_simd']}; faiss OPENBLAS_CORETYPE="
          f"{out['machine']['openblas_coretype_for_faiss']}")
    print(f"JSON: {common.write_json(args.name, out)}")


def bench_kmeans(args, sample: np.ndarray, d: int, out: dict) -> None:
    """Same sample, same k and iterations, both with all (2) BLAS threads."""
    t_v, _ = common.median_time(lambda: kmeans(sample, args.nlist, niter=args.niter, seed=1), args.repeats)

    def faiss_kmeans():
        km = faiss.Kmeans(d, args.nlist, niter=args.niter, seed=1, max_points_per_centroid=256)
        km.train(sample)
        return km

    t_f, _ = common.median_time(faiss_kmeans, args.repeats)
    out["kmeans"] = {"vtool_s": t_v, "faiss_s": t_f, "speedup": t_f / t_v}
    common.print_table(f"k-means: {len(sample)} x {d}, k={args.nlist}, {args.niter} iterations (median s)",
                       ["vtool", "faiss", "faiss/vtool"], [[t_v, t_f, t_f / t_v]])


def bench_add_and_search(args, parts: set, base_path, xb, xq, gt, sample, out: dict) -> None:
    n, d = xb.shape
    with tempfile.TemporaryDirectory() as tmp:
        model, index_path = f"{tmp}/model.vti", f"{tmp}/index.vti"
        train(str(base_path), model, f"IVF{args.nlist},Flat", seed=0, niter=args.niter)
        fq = faiss.IndexFlatL2(d)
        fidx = faiss.IndexIVFFlat(fq, d, args.nlist)
        fidx.train(sample)

        def faiss_add():
            fidx.reset()
            fidx.add(xb)

        if "add" in parts:
            t_add_v, _ = common.median_time(lambda: add(model, [str(base_path)], index_path), args.repeats)
            t_add_f, _ = common.median_time(faiss_add, args.repeats)
            out["add"] = {"vtool_vectors_per_s": n / t_add_v, "faiss_vectors_per_s": n / t_add_f,
                          "ratio": t_add_f / t_add_v,
                          "note": "vtool: npy file -> checksummed .vti on disk; faiss: in memory"}
            common.print_table(f"add {n} vectors (vectors/s, median)", ["vtool", "faiss", "vtool/faiss"],
                               [[n / t_add_v, n / t_add_f, t_add_f / t_add_v]])
        else:
            add(model, [str(base_path)], index_path)
            faiss_add()
        if "search" not in parts:
            return
        index = load_index(index_path)
        out["search"] = []
        for threads in (1, 2):
            rows, curve_v, curve_f = [], [], []
            faiss.omp_set_num_threads(threads)
            with threadpool_limits(threads):
                for nprobe in NPROBES:
                    fidx.nprobe = nprobe
                    (tv, (dv, iv), rounds_v, _), (tf, (df, i_f), rounds_f, _) = common.interleaved_times(
                        [lambda: index.search(xq, 10, nprobe, threads), lambda: fidx.search(xq, 10)], args.repeats)
                    rv, rf = common.recall_at_k(iv, gt, 10), common.recall_at_k(i_f, gt, 10)
                    qv, qf = len(xq) / tv, len(xq) / tf
                    curve_v.append((rv, qv))
                    curve_f.append((rf, qf))
                    rows.append([nprobe, rv, qv, rf, qf, common.paired_ratio(rounds_f, rounds_v)])
            for row, (rf, qf) in zip(rows, curve_f):
                at = common.qps_at_recall(curve_v, rf)
                row.append(at / qf if at else "n/a")
                out["search"].append(dict(zip(["nprobe", "vtool_recall", "vtool_qps", "faiss_recall", "faiss_qps",
                                                "qps_ratio_same_nprobe", "qps_ratio_equal_recall"], row),
                                          threads=threads))
            common.print_table(f"IVF{args.nlist},Flat search, {len(xq)} queries, k=10, {threads} thread(s)",
                               ["nprobe", "vtool R@10", "vtool QPS", "faiss R@10", "faiss QPS", "ratio",
                                "ratio@equal recall"], rows)


def bench_knn(args, xb, xq, gt, out: dict) -> None:
    n, d = xb.shape
    q = xq[:args.knn_queries]
    flops = 2.0 * len(q) * n * d  # the product alone
    out["exact_knn"] = []
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        with threadpool_limits(threads):
            rate = common.sgemm_gflops(d)
            (t_v, (dv, iv), rounds_v, _), (t_f, (df, i_f), rounds_f, _) = common.interleaved_times(
                [lambda: knn(q, xb, 100, threads=threads), lambda: faiss.knn(q, xb, 100)], args.repeats)
        agree = float(np.mean(iv[:, :10] == i_f[:, :10]))
        row = {"threads": threads, "queries": len(q), "k": 100, "vtool_qps": len(q) / t_v,
               "faiss_qps": len(q) / t_f, "ratio": common.paired_ratio(rounds_f, rounds_v), "sgemm_gflops": rate,
               "vtool_fraction_of_sgemm": flops / t_v / 1e9 / rate, "faiss_fraction_of_sgemm": flops / t_f / 1e9 / rate,
               "top10_id_agreement": agree, "vtool_recall@10_vs_gt": common.recall_at_k(iv, gt, 10)}
        out["exact_knn"].append(row)
        common.print_table(f"exact k-NN, {len(q)} queries x {n}, k=100, {threads} thread(s) (queries/s; "
                           f"sgemm {rate:.1f} GFLOP/s, fraction of it)",
                           ["vtool", "faiss", "vtool/faiss", "vtool frac", "faiss frac", "top-10 agreement"],
                           [[len(q) / t_v, len(q) / t_f, row["ratio"], row["vtool_fraction_of_sgemm"],
                             row["faiss_fraction_of_sgemm"], agree]])


if __name__ == "__main__":
    main()
