"""vtool vs faiss-cpu, same run, same data and parameters: compressed encodings.

For each dataset (glove-50-l2, minilm-wordnet-384 and a synthetic 1M x 128 set by default)
and each spec (IVF-PQ 8-bit, OPQ + IVF-PQ, IVF-PQ 4-bit fast-scan with and without RFlat,
IVF-SQ8): train time, encode rate, and search QPS / recall@10 at nprobe 1..64 on 1 and 2
threads, with ratios vtool / faiss (>1: vtool faster) at the same nprobe and at equal
recall (interpolated on vtool's curve), the latter from each side's median and paired (vtool's
curve from the nprobe to the recall, times that nprobe's per-round ratio). Writes
scripts/bench/results/bench_codes.json.

--same-index: faiss searches vtool's own index, exported with vtool.interop (the same
centroids, codebooks, codes and lists), instead of one it trained: recall then differs only by
the scans' arithmetic, and the ratios measure search speed alone, where two trainings'
plateaus differ by the luck of their seeds (faiss's train and add are not timed).

--seeds N: both sides train on the one sample faiss is given (vtool then draws none of its own),
and also train and add with seeds 1 .. N-1 (vtool's --seed; faiss's coarse and PQ k-means
seeds, 1234 + s; faiss's OPQ starts from a fixed rotation), untimed, and search each nprobe
once for recall. The columns "mean R@10" average the N seeds' recalls, and
"ratio@mean recall" / "paired@mean recall" are the equal-recall ratios on those mean curves
with seed 0's speeds (speed does not depend on the seed; recall does): one training's
luck, which decides a cell where the two curves are flat, no longer does.

    .venv/bin/python scripts/bench/bench_codes.py [--datasets glove-50-l2,...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (numpy first, then faiss with OPENBLAS_CORETYPE)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from vtool.commands.build import add, train  # noqa: E402
from vtool.index.index import load_index  # noqa: E402
from vtool.interop.faiss_index import to_faiss  # noqa: E402

faiss = common.import_faiss()
NPROBES = (1, 2, 4, 8, 16, 32, 64)
SPECS = {
    "glove-50-l2": ["IVF256,PQ10", "OPQ10,IVF256,PQ10", "IVF256,PQ10x4fs", "IVF256,PQ10x4fs,RFlat",
                    "IVF256,PQ10x4fsnp", "IVF256,PQ10x4fsnp,RFlat", "IVF256,SQ8",
                    "IVF256,SQ4", "IVF256,SQbf16"],
    "minilm-wordnet-384": ["IVF128,PQ32", "OPQ32,IVF128,PQ32", "IVF128,PQ64x4fs", "IVF128,PQ64x4fs,RFlat",
                           "IVF128,PQ64x4fsnp", "IVF128,PQ64x4fsnp,RFlat", "IVF256,PQ96x4fs,RFlat",
                           "IVF256,PQ96x4fsnp,RFlat", "IVF256,PQ48",
                           "IVF128,SQ8", "IVF256,SQ4", "IVF256,SQbf16"],
    "spacy-fr-300-l2": ["IVF256,SQ4", "IVF256,SQbf16"],
    "synthetic-1M-128": ["IVF1024,PQ16", "OPQ16,IVF1024,PQ16", "IVF1024,PQ32x4fs", "IVF1024,PQ32x4fs,RFlat",
                         "IVF1024,PQ32x4fsnp", "IVF1024,PQ32x4fsnp,RFlat",
                         "IVF1024,SQ8", "IVF1024,SQ4", "IVF1024,SQbf16"],
}


def load(name: str, tmp: str, n_queries: int):
    """(base path, base, queries, ground-truth ids)."""
    if name.startswith("synthetic"):
        return common.synthetic_1m_128(tmp, n_queries)
    data = common.SHARED_DATA / name
    return (str(data / "base.npy"), np.load(data / "base.npy"), np.load(data / "queries.npy")[:n_queries],
            np.load(data / "gt.npy")[:n_queries])


def faiss_index(spec: str, d: int):
    """faiss's index for a vtool spec, the same algorithm: vtool's PQ<m>x4fs encodes residuals and
    x4fsnp does not, while faiss's factory PQ<m>x4fs does not (its by_residual is set to match)."""
    index = faiss.index_factory(d, spec.replace("x4fsnp", "x4fs"))
    if "x4fs" in spec:
        faiss.extract_index_ivf(index).by_residual = "x4fsnp" not in spec
    if spec.endswith("RFlat"):
        faiss.downcast_index(index).k_factor = 4  # as vtool's default --k-factor
    return index


def seed_recalls(spec, path, train_path, base, sample, queries, gt, tmp, nprobes, seeds):
    """Recall@10 at each nprobe, (seeds - 1) x len(nprobes) a side, of both sides' indexes
    trained with seeds 1 .. seeds - 1 on the same sample (untimed)."""
    got = {"vtool": [], "faiss": []}
    for seed in range(1, seeds):
        train(train_path, f"{tmp}/m{seed}.vti", spec, seed=seed, max_train=len(sample))
        add(f"{tmp}/m{seed}.vti", [path], f"{tmp}/i{seed}.vti")
        index = load_index(f"{tmp}/i{seed}.vti")
        fidx = faiss_index(spec, base.shape[1])
        ivf = faiss.downcast_index(faiss.extract_index_ivf(fidx))
        ivf.cp.seed = 1234 + seed
        if hasattr(ivf, "pq"):
            ivf.pq.cp.seed = 1234 + seed
        fidx.train(sample)
        fidx.add(base)
        got["vtool"].append([common.recall_at_k(index.search(queries, 10, nprobe, 2)[1], gt, 10) for nprobe in nprobes])
        row = []
        for nprobe in nprobes:
            ivf.nprobe = nprobe
            row.append(common.recall_at_k(fidx.search(queries, 10)[1], gt, 10))
        got["faiss"].append(row)
        del index, fidx
        for f in (f"{tmp}/m{seed}.vti", f"{tmp}/i{seed}.vti"):
            Path(f).unlink()
    return got


def bench_spec(spec, path, base, queries, gt, tmp, repeats, nlist, nprobes=NPROBES, same_index=False, seeds=1):
    n, d = base.shape
    sample_n = min(n, max(256 * nlist, 65536))
    sample = base[np.sort(np.random.default_rng(0).choice(n, sample_n, replace=False))]
    out = {"spec": spec}
    train_path = path
    if seeds > 1:  # every training of both sides on one sample: the seeds vary, the data does not
        train_path = f"{tmp}/sample.npy"
        np.save(train_path, sample)
    t0 = time.perf_counter()
    train(train_path, f"{tmp}/m.vti", spec, seed=0, max_train=sample_n)
    out["train_s"] = {"vtool": time.perf_counter() - t0}
    fidx = faiss_index(spec, d)
    t0 = time.perf_counter()
    if not same_index:
        fidx.train(sample)
    out["train_s"]["faiss"] = time.perf_counter() - t0 if not same_index else None
    model = load_index(f"{tmp}/m.vti")
    chunk = base[:min(n, 100_000)]
    tv, _ = common.median_time(lambda: model.encode(chunk), repeats)
    tf = None if same_index else common.median_time(lambda: fidx.sa_encode(chunk), repeats)[0]
    out["encode_vectors_per_s"] = {"vtool": len(chunk) / tv, "faiss": len(chunk) / tf if tf else None,
                                   "ratio": tf / tv if tf else None}
    t0 = time.perf_counter()
    add(f"{tmp}/m.vti", [path], f"{tmp}/i.vti")
    out["add_s"] = {"vtool_file_to_file": time.perf_counter() - t0}
    index = load_index(f"{tmp}/i.vti")
    t0 = time.perf_counter()
    if same_index:
        fidx = to_faiss(index)
    else:
        fidx.add(base)
    out["add_s"]["faiss_in_memory"] = None if same_index else time.perf_counter() - t0
    out["same_index"] = same_index
    ivf = faiss.extract_index_ivf(fidx)
    more = None
    if seeds > 1 and not same_index:
        more = out["seed_recalls"] = seed_recalls(spec, path, train_path, base, sample, queries, gt, tmp, nprobes,
                                                  seeds)
    out["search"] = []
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        rows, curve_v, curve_f = [], [], []
        with threadpool_limits(threads):
            for nprobe in nprobes:
                ivf.nprobe = nprobe
                (tv, (_, iv), rounds_v, cold_v), (tf, (_, i_f), rounds_f, cold_f) = common.interleaved_times(
                    [lambda: index.search(queries, 10, nprobe, threads), lambda: fidx.search(queries, 10)], repeats)
                rv, rf = common.recall_at_k(iv, gt, 10), common.recall_at_k(i_f, gt, 10)
                curve_v.append((rv, len(queries) / tv))
                curve_f.append((rf, len(queries) / tf))
                rows.append([nprobe, rv, len(queries) / tv, rf, len(queries) / tf,
                             common.paired_ratio(rounds_f, rounds_v), common.paired_ratio(cold_f, cold_v)])
        keys = ["nprobe", "vtool_recall", "vtool_qps", "faiss_recall", "faiss_qps", "qps_ratio_same_nprobe",
                "qps_ratio_cold_same_nprobe", "qps_ratio_equal_recall", "qps_ratio_equal_recall_paired"]
        columns = ["nprobe", "vtool R@10", "vtool QPS", "faiss R@10", "faiss QPS", "ratio", "cold ratio",
                   "ratio@eq.recall", "paired@eq.recall"]
        curves = [(curve_v, curve_f)]
        if more:  # the same speeds on each side's curve of recalls averaged over the seeds
            mean_v = np.mean([[r for r, _ in curve_v]] + more["vtool"], axis=0)
            mean_f = np.mean([[r for r, _ in curve_f]] + more["faiss"], axis=0)
            curves.append(([(r, q) for r, (_, q) in zip(mean_v, curve_v)], [(r, q) for r, (_, q) in zip(mean_f, curve_f)]))
            for row, rv, rf in zip(rows, mean_v, mean_f):
                row += [rv, rf]
            keys += ["vtool_mean_recall", "faiss_mean_recall", "qps_ratio_mean_recall", "qps_ratio_mean_recall_paired"]
            columns += [f"vtool mean R@10 ({seeds})", "faiss mean", "ratio@mean recall", "paired@mean recall"]
        for i, row in enumerate(rows):
            ratios = []
            for cv, cf in curves:
                # medians of each side, and paired: vtool's own curve from this nprobe to the
                # recall, times the same nprobe's paired ratio (the sides' medians drift apart
                # on this VM: a cell paired at 1.18 showed 0.84 by medians)
                (rf, qf), (_, qv) = cf[i], cv[i]
                at = common.qps_at_recall(cv, rf)
                ratios.append([at / qf, at / qv * row[5]] if at else ["n/a", "n/a"])
            row[7:7] = ratios[0]
            row += ratios[1] if more else []
            out["search"].append(dict(zip(keys, row), threads=threads))
        common.print_table(f"{spec}: search, {len(queries)} queries, k=10, {threads} thread(s)", columns, rows)
    if not same_index:
        common.print_table(f"{spec}: train / encode", ["", "vtool", "faiss", "faiss/vtool"],
                           [["train s", out["train_s"]["vtool"], out["train_s"]["faiss"],
                             out["train_s"]["faiss"] / out["train_s"]["vtool"]],
                            ["encode vec/s", out["encode_vectors_per_s"]["vtool"],
                             out["encode_vectors_per_s"]["faiss"], out["encode_vectors_per_s"]["ratio"]]])
    faiss.omp_set_num_threads(2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="glove-50-l2,minilm-wordnet-384,synthetic-1M-128")
    ap.add_argument("--specs", default=None, help="comma-separated subset of each dataset's specs (by index: 0,2, or encoding: SQ4,SQbf16)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--name", default="bench_codes", help="JSON file name under scripts/bench/results/")
    ap.add_argument("--nprobes", default=",".join(map(str, NPROBES)), help="the nprobe values searched (1,2,4: a re-check of the short searches)")
    ap.add_argument("--same-index", action="store_true", help="faiss searches vtool's index, exported (speed alone)")
    ap.add_argument("--seeds", type=int, default=1, help="also train both sides with seeds 1 .. N-1: equal recall on mean curves")
    args = ap.parse_args()
    results = {"machine": common.machine(), "repeats": args.repeats, "datasets": {}}
    nprobes = tuple(int(v) for v in args.nprobes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            path, base, queries, gt = load(name, tmp, args.queries)
            print(f"\n=== {name}: {base.shape[0]} x {base.shape[1]}, {len(queries)} queries ===")
            specs = SPECS[name]
            if args.specs:  # by position, or by encoding name (SQ4 picks every spec ending in ,SQ4)
                specs = [s for i, s in enumerate(specs) for want in args.specs.split(",")
                         if want == str(i) or s.endswith("," + want)]
            results["datasets"][name] = []
            for spec in specs:
                nlist = int(spec.split("IVF")[1].split(",")[0])
                results["datasets"][name].append(bench_spec(spec, path, base, queries, gt, tmp, args.repeats, nlist,
                                                            nprobes, args.same_index, args.seeds))
    print("\nBLAS:", *(f"{b['prefix']} {b['version']} {b['architecture']}" for b in results["machine"]["blas"]
                       if b["internal_api"] == "openblas"), sep="\n  ")
    print(f"JSON: {common.write_json(args.name, results)}")


if __name__ == "__main__":
    main()
