"""Peak RSS and throughput of an IVF build from a synthetic input larger than the budget:
`vtool train` and `vtool add` with --memory-budget against the same commands without one
(the local path), on the same model and input; then the same search and gt both ways.

The input (default 16M x 100 float32, 6.4 GB, a mixture of 1,024 Gaussians) is generated in
chunks into an .fbin under --workdir unless it is there already. Every command runs as a
child of a small Python that reports the child's peak RSS (ru_maxrss of wait4), so the
benchmark's own memory is not counted. The outputs with and without the budget must be the
same bytes (train differs only when the budget shrinks its sample: then it is said).

    python scripts/bench/bench_memory_budget.py --workdir /tmp/vtool-budget [--rows 16000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, print_table, write_json  # noqa: E402

PEAK = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); "
        "print(os.waitstatus_to_exitcode(s), u.ru_maxrss)")
VTOOL = str(Path(sys.executable).parent / "vtool")


def generate(path: Path, n: int, d: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(1024, d)).astype(np.float32) * 4
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(np.array([n, d], "<u4").tobytes())
        for a in range(0, n, 1 << 18):
            b = min(n, a + (1 << 18))
            x = centers[rng.integers(0, 1024, b - a)] + rng.normal(size=(b - a, d)).astype(np.float32)
            f.write(x.tobytes())
    os.replace(tmp, path)


def run(*args) -> dict:
    """One vtool command in a child: seconds and peak RSS (MB)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK, VTOOL, *map(str, args), "-q"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    code, maxrss = out.stdout.split()
    if code != "0":
        raise SystemExit(f"vtool {' '.join(map(str, args))} failed:\n{out.stderr}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(int(maxrss) / 1024, 1)}


def same(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 24), fb.read(1 << 24)
            if x != y:
                return False
            if not x:
                return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/vtool-budget")
    ap.add_argument("--rows", type=int, default=16_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--spec", default="IVF1024,PQ25")
    ap.add_argument("--budget", default="1G")
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    base = work / f"base_{args.rows}x{args.dim}.fbin"
    if not base.exists():
        print(f"generating {base} ({args.rows * args.dim * 4 / 1e9:.1f} GB)", file=sys.stderr)
        generate(base, args.rows, args.dim)
    queries = work / "queries.npy"
    np.save(queries, np.fromfile(base, "<f4", count=args.queries * args.dim, offset=8).reshape(-1, args.dim) + 0.1)
    budget = ["--memory-budget", args.budget]
    rows = []
    report = {"machine": machine(), "rows": args.rows, "dim": args.dim, "input_gb": base.stat().st_size / 1e9,
              "spec": args.spec, "budget": args.budget, "steps": {}}

    def step(name, local_args, budget_args, local_out, budget_out, vectors=None):
        local = run(*local_args)
        held = run(*budget_args)
        identical = same(local_out, budget_out)
        report["steps"][name] = {"local": local, "budget": held, "same_output": identical}
        rate = (lambda r: round(vectors / r["seconds"])) if vectors else (lambda r: None)
        rows.append([name, local["peak_rss_mb"], held["peak_rss_mb"], local["seconds"], held["seconds"],
                     rate(local), rate(held), identical])
        print(rows[-1], file=sys.stderr, flush=True)

    step("train", ["train", base, "--index", args.spec, "-o", work / "m_local.vti"],
         ["train", base, "--index", args.spec, "-o", work / "m_budget.vti", *budget],
         work / "m_local.vti", work / "m_budget.vti")
    model = work / "m_local.vti"  # both adds from one model, so their outputs can be compared
    step("add", ["add", model, base, "-o", work / "i_local.vti"],
         ["add", model, base, "-o", work / "i_budget.vti", *budget], work / "i_local.vti", work / "i_budget.vti",
         vectors=args.rows)
    step("search", ["search", work / "i_local.vti", queries, "--nprobe", 16, "-o", work / "s_local.npz"],
         ["search", work / "i_local.vti", queries, "--nprobe", 16, "-o", work / "s_budget.npz", *budget],
         work / "s_local.npz", work / "s_budget.npz")
    step("gt", ["gt", base, queries, "-k", 10, "-o", work / "g_local.npz"],
         ["gt", base, queries, "-k", 10, "-o", work / "g_budget.npz", *budget],
         work / "g_local.npz", work / "g_budget.npz", vectors=args.rows)
    print_table(f"{args.rows} x {args.dim} float32 ({report['input_gb']:.1f} GB), {args.spec}, "
                f"--memory-budget {args.budget}",
                ["step", "peak RSS MB local", "peak RSS MB budget", "s local", "s budget", "vec/s local",
                 "vec/s budget", "same output"], rows)
    print(f"written {write_json('bench_memory_budget', report)}")


if __name__ == "__main__":
    main()
