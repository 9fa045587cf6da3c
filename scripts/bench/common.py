"""Shared by the benchmark scripts: BLAS set-up for a fair faiss, medians, tables, JSON.

faiss-cpu's wheel bundles an old OpenBLAS that may not recognise this CPU; every script
imports numpy first (its OpenBLAS picks its own kernels), then sets OPENBLAS_CORETYPE for
the faiss side before importing faiss, and records the kernels both sides use. With
VTOOL_SIMD=avx2 both sides' BLAS run their AVX2 (Haswell) kernels, as on an AVX2 machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path



def _play_avx2_blas() -> None:
    """VTOOL_SIMD=avx2 plays an AVX2 machine: BLAS too, or the BLAS parts (faiss's coarse
    quantizer, k-NN, k-means) keep AVX-512 while the fused kernels drop to AVX2. Both
    OpenBLAS libraries are told Haswell (their AVX2 kernels) before numpy loads, only where
    the CPU has AVX2 and the user set no core type."""
    if os.environ.get("VTOOL_SIMD", "").lower() != "avx2" or "OPENBLAS_CORETYPE" in os.environ:
        return
    with contextlib.suppress(OSError):
        flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "").split()
        if "avx2" in flags and "fma" in flags:
            os.environ["OPENBLAS_CORETYPE"] = "Haswell"


_play_avx2_blas()
import numpy as np  # noqa: E402,F401  (loads numpy's OpenBLAS before faiss's OPENBLAS_CORETYPE is set)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def import_faiss(coretype: str | None = None):
    """Import faiss with its OpenBLAS told the real core type (default: what numpy's detected)."""
    from threadpoolctl import threadpool_info

    numpy_arch = next((i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"), None)
    chosen = coretype or os.environ.get("VTOOL_BENCH_CORETYPE") or numpy_arch
    if chosen:  # never a fixed guess: undetected, faiss's OpenBLAS detects for itself
        os.environ["OPENBLAS_CORETYPE"] = chosen
    import faiss

    match_simd_level(faiss)
    return faiss


def match_simd_level(faiss) -> None:
    """With VTOOL_SIMD=avx2 (an AVX2 machine played on an AVX-512 one) faiss runs its AVX2
    kernels too: its wheel dispatches at run time, to AVX512_SPR on a Sapphire Rapids."""
    wanted = {"avx2": "SIMDLevel_AVX2", "scalar": "SIMDLevel_NONE"}.get(os.environ.get("VTOOL_SIMD", "").lower())
    config = getattr(faiss, "SIMDConfig", None)
    if wanted and config is not None and hasattr(faiss, wanted):
        config.set_level(getattr(faiss, wanted))


def faiss_simd_level(faiss) -> str | None:
    config = getattr(faiss, "SIMDConfig", None)
    return config.get_level_name() if config is not None else None


def blas_report() -> list[dict]:
    from threadpoolctl import threadpool_info

    return [{k: info.get(k) for k in ("internal_api", "prefix", "version", "architecture", "num_threads")}
            for info in threadpool_info()]


def machine() -> dict:
    from vtool import _native, __version__

    cpu = ""
    with contextlib.suppress(OSError, StopIteration):  # /proc/cpuinfo is Linux-only
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    return {"cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
            "vtool": __version__, "vtool_simd": _native.simd_level(),
            "openblas_coretype_for_faiss": os.environ.get("OPENBLAS_CORETYPE"), "blas": blas_report(),
            "faiss_simd": faiss_simd_level(sys.modules["faiss"]) if "faiss" in sys.modules else None}


def median_time(fn, repeats: int = 5) -> tuple[float, object]:
    """Median wall time of fn() over repeats (the machine is shared and noisy), and its last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


SETTLE_S = 0.25  # OpenBLAS's idle workers spin ~0.1 s (2^28 cycles) after a call, libgomp's ~1 ms
WARMUP_S = 0.2   # calls of one side before its timed call: a steady state (see interleaved_times)


SHORT_CALL_SECONDS = 0.2  # timed seconds a side after which a cell stops adding rounds
MAX_ROUNDS_FACTOR = 3     # rounds a cell of short calls may take: this many times `repeats`


def interleaved_times(fns, repeats: int = 5) -> list[tuple[float, object, list[float], list[float]]]:
    """Median wall time, last result, every round's time and every round's cold time of each
    fn, the fns taking turns in every round (so a drift of the shared machine reaches every
    side alike: compare sides by the median of their per-round ratios, paired_ratio).

    Each round, each side: a pause (the other side's threads stop spinning), one call timed
    cold (what a one-off batch sees), calls of the same fn for WARMUP_S, then the timed call:
    sustained throughput, each library in its own steady state, not in the other's leftovers.
    Measured here (GloVe fast-scan, two threads, 7-12 ms searches): a vtool search right after
    a faiss search took 1.07-1.19x its time, as faiss's BLAS threads still spun on the second
    core; after a pause vtool needed ~0.1 s of calls to reach its steady time (12.1 -> 8.1 ms)
    while faiss, whose OpenMP threads spin between calls, needed one (13.2 -> 11 ms); one
    untimed call therefore measured faiss warm and vtool cold.

    Short calls get more rounds (up to MAX_ROUNDS_FACTOR x repeats, until every side has
    SHORT_CALL_SECONDS seconds timed): a 7 ms two-thread search moves by 30 % from one call to
    the next on this VM, and five rounds gave a cell 0.73 that 41 rounds put at 1.07."""
    times = [[] for _ in fns]
    cold = [[] for _ in fns]
    results = [None] * len(fns)
    rounds = 0
    while rounds < repeats or (rounds < MAX_ROUNDS_FACTOR * repeats and
                               min(sum(t) for t in times) < SHORT_CALL_SECONDS):
        for i, fn in enumerate(fns):
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fn()
            cold[i].append(time.perf_counter() - t0)
            while time.perf_counter() - t0 < WARMUP_S:
                fn()
            t0 = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - t0)
        rounds += 1
    return [(statistics.median(t), r, t, c) for t, r, c in zip(times, results, cold)]


def same_page_cache(paths) -> None:
    """Drop the files from the page cache and read each back in sequence, so that files timed
    against each other sit there alike: how a file was written (maps, write sizes, a file
    days old) decides its page-cache folios, and with them a fresh map's faults. Searching
    the synthetic 1M IVF4096 files with the id lookup switched off, as left by earlier runs,
    gave 1.13x (wt) and 1.12x (roc) against int64, 1.01x (ef); read back alike, 0.99-1.01x."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # only clean pages leave the cache
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while os.read(fd, 1 << 24):  # every page read back, in order
                continue
        finally:
            os.close(fd)


def paired_ratio(slow: list[float], fast: list[float]) -> float:
    """Median over rounds of slow / fast: this VM moved a search's time by 20 % between
    minutes, but two runs in one round (half a second apart) moved together."""
    return statistics.median(a / b for a, b in zip(slow, fast))


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    widths = [max(len(str(h)), *(len(_fmt(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(_fmt(v).rjust(w) for v, w in zip(r, widths)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def recall_at_k(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(ids, gt)]))


def qps_at_recall(curve: list[tuple[float, float]], target: float) -> float | None:
    """QPS at a recall, interpolated (log-linear) on the curve's Pareto frontier (a point
    another one beats in both recall and QPS never counts: where recall stops rising with
    nprobe, the slower point is not what a user would run). Below the frontier's lowest
    recall, its fastest point (it reaches the target, and nothing on the curve is faster);
    None above its highest recall."""
    frontier, best = [], -1.0
    for r, q in sorted(curve, key=lambda p: (-p[0], -p[1])):  # highest recall first
        if q > best:
            frontier.append((r, q))
            best = q
    pts = frontier[::-1]
    if target <= pts[0][0]:
        return pts[0][1]
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1:
            if r1 == r0:
                return max(q0, q1)
            t = (target - r0) / (r1 - r0)
            return float(np.exp(np.log(q0) + t * (np.log(q1) - np.log(q0))))
    return None


def synthetic_1m_128(tmp: str, n_queries: int):
    """A 1M x 128 set of 4,096 Gaussian blobs (fixed seed), saved in tmp: (path, base, queries,
    exact top-10 ids)."""
    from vtool.exact import knn

    rng = np.random.default_rng(2026)
    centers = rng.normal(size=(4096, 128)).astype(np.float32) * 3
    base = centers[rng.integers(len(centers), size=1_000_000)] + rng.normal(size=(1_000_000, 128)).astype(np.float32)
    queries = centers[rng.integers(len(centers), size=n_queries)] + rng.normal(size=(n_queries, 128)).astype(np.float32)
    base, queries = base.astype(np.float32), queries.astype(np.float32)
    path = f"{tmp}/synthetic-1M-128.npy"
    np.save(path, base)
    return path, base, queries, knn(queries, base, 10)[1]


def sgemm_gflops(d: int, size: int = 4096, repeats: int = 5) -> float:
    """The machine's float32 matrix-product rate (numpy's BLAS, threads as currently limited),
    at the shapes exact k-NN uses: (size x d) times (d x size)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, d), dtype=np.float32)
    b = rng.standard_normal((size, d), dtype=np.float32)
    t, _ = median_time(lambda: a @ b.T, repeats)
    return 2.0 * size * size * d / t / 1e9
