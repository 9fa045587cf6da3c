"""Finding the operating point a user needs: the library behind `vtool tune`.

The search parameter an index has — nprobe for IVF (also IVF_HNSW), ef for a graph, with
RFlat also the re-ranking k-factor, for a range search also the search radius (the
ground truth's radius times 1, 1.1, 1.25, 1.5: approximate distances miss results near the
radius) — is swept on part of the queries, coarse to fine: powers
of two until the target is met, then bisection between the last two powers. Every point is
measured on this machine (quality against the ground truth, QPS as the faster of two runs).
The Pareto front (no other point both better and faster) is reported, and the cheapest point
meeting the target is chosen: for a recall target the fastest point reaching it (within 5 %,
the one with the smallest parameters), for a QPS target the most accurate point reaching it.
The chosen point is then measured on the held-out queries, which took no part in the choice.
With write, it becomes the index's default search parameters (header field `search_defaults`).
"""

from __future__ import annotations

import os
import time

import numpy as np

from vtool import __version__, _native
from vtool.errors import VtoolError

K_FACTORS = (1, 2, 4, 8)  # RFlat shortlists swept
RADIUS_FACTORS = (1.0, 1.1, 1.25, 1.5)  # range search: search radii swept, as multiples of --radius
MEASURES = ("k-recall@k", "1-recall@k", "recall@1", "range-ap", "rsm")
MAX_EF = 4096
QPS_TIE = 0.05  # QPS this close to the fastest point's is a tie, broken by the least work


def knob(index, k: int) -> tuple[str, int, int] | None:
    """(parameter, smallest, largest) the index's structure searches with, or None (Flat)."""
    if index.structure.is_graph:
        return "ef", min(k, index.ntotal), min(MAX_EF, index.ntotal)
    if index.structure.has_centroids:
        return "nprobe", 1, index.nlist
    return None


def tune(index_path: str, queries_path: str, gt_path: str, target_recall: float | None = None,
         target_qps: float | None = None, measure: str = "k-recall@k", k: int = 10, radius: float | None = None,
         rsm_radius: float | None = None, threads: int | None = None, holdout_fraction: float = 0.5,
         max_seconds: float = 300.0, seed: int = 0, write: bool = False, gt_format: str | None = None,
         metric: str | None = None, fmt: str | None = None, column: str | None = None) -> dict:
    """Sweep, choose, hold out, and (write) store the choice; the report says whether the
    target was met (report["met"])."""
    from vtool.index.index import load_index
    from vtool.io.vectors import open_vectors

    if (target_recall is None) == (target_qps is None):
        raise VtoolError("give one target: --target-recall R or --target-qps Q")
    if measure not in MEASURES:
        raise VtoolError(f"unknown --measure {measure!r}; choose {', '.join(MEASURES)}")
    if target_recall is not None and not 0 < target_recall <= 1:
        raise VtoolError(f"--target-recall is a fraction in (0, 1], got {target_recall}")
    if target_qps is not None and not target_qps > 0:
        raise VtoolError(f"--target-qps must be positive, got {target_qps}")
    if not 0 <= holdout_fraction < 1:
        raise VtoolError(f"--holdout-fraction must be in [0, 1), got {holdout_fraction}")
    ranged = measure in ("range-ap", "rsm")
    if ranged and radius is None:
        raise VtoolError(f"--measure {measure} evaluates a range search: give --radius")
    if measure == "rsm" and rsm_radius is None:
        rsm_radius = radius
    if write and (not os.access(index_path, os.W_OK) or not os.stat(index_path).st_mode & 0o200):  # root too
        raise VtoolError(f"{index_path}: read-only; --write stores the chosen parameters in the index")
    threads = _native.default_threads() if threads is None else threads
    index = load_index(index_path)
    if index.ntotal == 0:
        raise VtoolError(f"{index_path}: the index holds no vectors")
    queries = open_vectors(queries_path, fmt, column, queries=True).read_all()
    truth = _Truth(gt_path, gt_format, ranged, len(queries), k, measure, metric or index.metric_name, rsm_radius)
    order = np.random.default_rng(seed).permutation(len(queries))
    n_hold = int(round(holdout_fraction * len(queries)))
    tune_rows, hold_rows = np.sort(order[n_hold:]), np.sort(order[:n_hold])
    if len(tune_rows) == 0:
        raise VtoolError("no queries left to tune on: lower --holdout-fraction")

    def run(params: dict, rows: np.ndarray) -> dict:
        q = queries[rows]
        best = float("inf")
        for _ in range(2):  # the faster of two runs: the first also warms the caches
            t0 = time.perf_counter()
            out = _search(index, q, k, radius, threads, params)
            best = min(best, time.perf_counter() - t0)
        return {**params, "quality": truth.quality(out, rows), "qps": len(rows) / best if best > 0 else None}

    t_start = time.perf_counter()
    points = _sweep(index, k, lambda p: run(p, tune_rows), target_recall, target_qps,
                    deadline=t_start + max_seconds, radius=radius, metric=index.metric)
    front = pareto(points)
    chosen = _choose(points, target_recall, target_qps)
    met = chosen is not None
    if chosen is None:  # the best reached: most accurate, or fastest for a QPS target
        chosen = max(points, key=lambda p: (p["quality"], p["qps"] or 0) if target_recall is not None
                     else (p["qps"] or 0, p["quality"]))
    params = {key: chosen[key] for key in ("nprobe", "ef", "k_factor", "search_radius") if key in chosen}
    report = {"index": index_path, "spec": str(index.spec), "measure": measure, "k": k, "radius": radius,
              "target_recall": target_recall, "target_qps": target_qps, "threads": threads,
              "tune_queries": len(tune_rows), "holdout_queries": len(hold_rows), "points": points, "front": front,
              "chosen": {**params, "quality": chosen["quality"], "qps": chosen["qps"]}, "met": met,
              "seconds": time.perf_counter() - t_start}
    if len(hold_rows):
        held = run(params, hold_rows)
        report["holdout"] = {"quality": held["quality"], "qps": held["qps"]}
    if write and met:
        stored = {key: value for key, value in params.items() if key != "search_radius"}  # a radius is always given
        store_defaults(index_path, {**stored, "measure": measure, "k": k, "target_recall": target_recall,
                                    "target_qps": target_qps, "tuned_quality": chosen["quality"],
                                    "holdout_quality": report.get("holdout", {}).get("quality"),
                                    "threads": threads, "simd": _native.simd_level(), "vtool_version": __version__})
        report["written"] = True
    return report


def _search(index, queries, k, radius, threads, params):
    search = {key: params[key] for key in ("nprobe", "ef") if key in params}
    if radius is not None:
        lims, dist, ids = index.range_search(queries, params.get("search_radius", radius), threads=threads, **search)
        return lims, ids, dist
    return index.search(queries, k, threads=threads, k_factor=params.get("k_factor", 4), **search)


class _Truth:
    """The ground truth and the measure taken against it, for any subset of the queries."""

    def __init__(self, path, fmt, ranged, nq, k, measure, metric, rsm_radius):
        from vtool.io.results import read_range_results, read_results, results_kind

        kind = results_kind(path, fmt)
        if ranged != (kind == "range"):
            raise VtoolError(f"{path}: {'k-NN' if kind == 'knn' else 'range'} ground truth, but --measure {measure} "
                             f"needs {'range ground truth (vtool gt --radius)' if ranged else 'k-NN ground truth'}")
        self.ranged, self.k, self.measure, self.metric = ranged, k, measure, metric
        if ranged:
            self.lims, self.ids, self.dist = read_range_results(path, fmt)
            n = len(self.lims) - 1
        else:
            self.ids, self.dist = read_results(path, fmt=fmt)
            n = len(self.ids)
            if self.ids.shape[1] < k:
                raise VtoolError(f"{path}: {self.ids.shape[1]} neighbours per query, fewer than k={k}")
        if n != nq:
            raise VtoolError(f"{path}: ground truth for {n} queries, the query file has {nq}")
        if rsm_radius is not None:
            from vtool.commands.evaluate import rsm_function

            self.rsm = rsm_function(None, rsm_radius, "l2" if metric == "l2" else "ip")

    def quality(self, out, rows: np.ndarray) -> float:
        from vtool.commands.evaluate import range_metrics, recalls

        if not self.ranged:
            _, ids = out
            gt_dist = self.dist[rows] if self.dist is not None else None
            if gt_dist is not None and self.metric != "l2":
                gt_dist = -gt_dist
            return recalls(ids, self.ids[rows], gt_dist, self.k)[self.measure]
        counts = np.diff(self.lims)[rows]
        lims = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(counts, out=lims[1:])
        take = np.concatenate([np.arange(self.lims[r], self.lims[r + 1]) for r in rows]) if len(rows) else []
        gt = (lims, self.ids[take], self.dist[take])
        report = range_metrics(gt, out, "l2" if self.metric == "l2" else "ip",
                               self.rsm if self.measure == "rsm" else None)
        return report["range_ap" if self.measure == "range-ap" else "rsm"]


def search_radius(radius: float, factor: float, metric: str) -> float:
    """A search radius factor times looser than radius: a larger squared distance, or a
    smaller similarity by the same fraction of its size."""
    return radius * factor if metric == "l2" else radius - (factor - 1) * abs(radius)


def _sweep(index, k, measure, target_recall, target_qps, deadline, radius=None, metric="l2") -> list[dict]:
    """Coarse to fine over the index's parameter (and the k-factor with RFlat, the search
    radius with a range measure)."""
    spec = knob(index, k)
    if radius is not None:
        variants = [{"search_radius": search_radius(radius, f, metric)} for f in RADIUS_FACTORS]
    elif index.refiner is not None:
        variants = [{"k_factor": kf} for kf in K_FACTORS]
    else:
        variants = [{}]
    points: list[dict] = []

    def at(value):
        out = []
        for variant in variants:
            if time.perf_counter() > deadline and points:
                break
            params = ({spec[0]: value} if spec else {}) | variant
            point = measure(params)
            points.append(point)
            out.append(point)
        return out

    if spec is None:
        at(None)
        return points
    name, lo, hi = spec
    values, v = [], lo
    while True:
        values.append(v)
        if v >= hi:
            break
        v = min(hi, v * 2)
    passed_at = None
    for i, v in enumerate(values):  # coarse: powers of two until the target is met, and one more
        got = at(v)
        if not got or time.perf_counter() > deadline:
            break
        if _choose(got, target_recall, target_qps) is not None and target_recall is not None:
            passed_at = i
            break
        if target_qps is not None and all((p["qps"] or 0) < target_qps for p in got):
            break  # slower from here on
    if passed_at:  # fine: bisect between the last failing power and the first passing one
        a, b = values[passed_at - 1], values[passed_at]
        while b - a > 1 and time.perf_counter() < deadline:
            mid = (a + b) // 2
            if _choose(at(mid), target_recall, target_qps) is not None:
                b = mid
            else:
                a = mid
    return points


def _choose(points: list[dict], target_recall, target_qps) -> dict | None:
    """The cheapest point meeting the target: fastest reaching the recall, or most accurate
    reaching the QPS; None when no point does. Points within QPS_TIE of the fastest count as
    equally fast (the faster of two runs of a small sample still moves that much), and of
    those the one doing the least work wins, so the choice does not follow timing noise."""
    if target_recall is not None:
        good = [p for p in points if p["quality"] >= target_recall]
        if not good:
            return None
        fastest = max(p["qps"] or 0 for p in good)
        tied = [p for p in good if (p["qps"] or 0) >= (1 - QPS_TIE) * fastest]
        return min(tied, key=lambda p: tuple(p.get(key) or 0 for key in ("nprobe", "ef", "k_factor")))
    good = [p for p in points if (p["qps"] or 0) >= target_qps]
    return max(good, key=lambda p: (p["quality"], p["qps"] or 0)) if good else None


def pareto(points: list[dict]) -> list[dict]:
    """The points no other point beats on both quality and QPS, by rising quality."""
    front = []
    for p in sorted(points, key=lambda p: (-(p["qps"] or 0), -p["quality"])):
        if not front or p["quality"] > front[-1]["quality"]:
            front.append(p)
    return sorted(front, key=lambda p: p["quality"])


def store_defaults(index_path: str, defaults: dict) -> None:
    """Rewrite the index with `search_defaults` in its header (atomically, checksummed)."""
    from vtool.index.container import VtiFile, write_vti

    f = VtiFile(index_path)
    f.verify()
    arrays = {name: f.array(name) for name in f.sections}
    header = {key: value for key, value in f.header.items() if key != "sections"} | {"search_defaults": defaults}
    write_vti(index_path, header, arrays)


def search_defaults(header: dict) -> dict:
    """The parameters `vtool tune --write` stored, checked (an odd field is ignored, not used)."""
    stored = header.get("search_defaults")
    if not isinstance(stored, dict):
        return {}
    out = {}
    for key in ("nprobe", "ef", "k_factor"):
        value = stored.get(key)
        if type(value) is int and 1 <= value <= 1 << 30:
            out[key] = value
    return out


def plot_points(report: dict, path: str) -> None:
    """tune --plot: every measured point, the front as a line, the choice marked."""
    from vtool.commands.plot import plot_curve

    front = report["front"]
    chosen = report["chosen"]
    plot_curve(path, [p["quality"] for p in front], [p["qps"] for p in front], report["measure"],
               "queries per second", f"{report['spec']}: Pareto front", marked=(chosen["quality"], chosen["qps"]))
