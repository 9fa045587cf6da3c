"""This checkout's vtool against another install of vtool (a baseline), through the CLI only,
so that any two versions can be compared whatever their internals: search QPS at the same
parameters on the same data, interleaved (baseline, this, baseline, ...), medians.

    # a baseline from an earlier commit, installed in its own venv:
    git clone -q . /tmp/vtool-base && (cd /tmp/vtool-base && git checkout REV &&
        python3 -m venv .venv && .venv/bin/pip install -q -e .)
    .venv/bin/python scripts/bench/bench_regress.py --baseline /tmp/vtool-base/.venv/bin/vtool

Each version trains and adds its own index (same spec, seed and data), so a change of file
format does not get in the way. Writes scripts/bench/results/bench_regress.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import numpy as np  # noqa: E402

SPECS = ["IVF256,Flat", "IVF256,PQ10", "OPQ10,IVF256,PQ10", "IVF256,PQ10x4fs", "IVF256,PQ10x4fs,RFlat",
         "IVF256,SQ8", "IVF256,SQfp16", "IVF256,RQ5x8", "PQ10"]
ID_METHODS = ["ef", "roc", "wt"]  # on IVF256,PQ10
NPROBES = (1, 4, 16, 64)


def run(exe: str, *args: str) -> dict:
    out = subprocess.run([exe, *args, "--json", "-q"], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else {}


def build(exe: str, spec: str, base: str, tmp: Path, tag: str) -> Path:
    model, index = tmp / f"{tag}-{spec}.model.vti", tmp / f"{tag}-{spec}.vti"
    run(exe, "train", base, "--index", spec, "-o", str(model), "--seed", "0", "--max-train", "20000")
    run(exe, "add", str(model), base, "-o", str(index))
    return index


def search_seconds(exe: str, index: Path, queries: str, nprobe: int | None, threads: int, out: Path) -> float:
    args = ["search", str(index), queries, "-o", str(out), "-k", "10", "--threads", str(threads)]
    if nprobe is not None:
        args += ["--nprobe", str(nprobe)]
    return run(exe, *args)["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="the other version's vtool executable")
    p.add_argument("--current", default=str(Path(sys.executable).parent / "vtool"))
    p.add_argument("--dataset", default="glove-50-l2")
    p.add_argument("--queries", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--specs", default=",".join(SPECS), help="';'-separated specs")
    args = p.parse_args()
    data = common.SHARED_DATA / args.dataset
    tmp = Path(tempfile.mkdtemp(prefix="vtool-regress-"))
    try:
        qpath = tmp / "queries.npy"
        np.save(qpath, np.load(data / "queries.npy")[:args.queries])
        base = str(data / "base.npy")
        versions = {"baseline": args.baseline, "current": args.current}
        specs = args.specs.split(";") if ";" in args.specs else SPECS
        cases = []  # (label, {version: index path})
        for spec in specs:
            cases.append((spec, {v: build(exe, spec, base, tmp, v) for v, exe in versions.items()}))
        for method in ID_METHODS:
            built = {}
            for v, exe in versions.items():
                src = next(c for c in cases if c[0] == "IVF256,PQ10")[1][v]
                built[v] = tmp / f"{v}-ids-{method}.vti"
                run(exe, "compress-ids", str(src), "-o", str(built[v]), "--method", method)
            cases.append((f"IVF256,PQ10 ids={method}", built))
        rows, records = [], []
        for label, indexes in cases:
            for nprobe in (NPROBES if "IVF" in label else (None,)):
                times: dict[str, list[float]] = {v: [] for v in versions}
                for _ in range(args.repeats):
                    for v, exe in versions.items():
                        times[v].append(search_seconds(exe, indexes[v], str(qpath), nprobe, args.threads,
                                                       tmp / "r.npz"))
                med = {v: statistics.median(t) for v, t in times.items()}
                qps = {v: args.queries / med[v] for v in versions}
                ratio = qps["current"] / qps["baseline"]
                rows.append([label, nprobe, round(qps["baseline"]), round(qps["current"]), ratio])
                records.append({"case": label, "nprobe": nprobe, "qps_baseline": qps["baseline"],
                                "qps_current": qps["current"], "ratio": ratio})
        common.print_table(f"{args.dataset}, {args.queries} queries, k=10, {args.threads} thread(s): "
                           "QPS current / baseline", ["case", "nprobe", "baseline", "current", "ratio"], rows)
        common.write_json("bench_regress", {"machine": common.machine(), "dataset": args.dataset,
                                            "threads": args.threads, "results": records})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
