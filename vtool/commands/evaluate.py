"""Search quality against ground truth: the library behind `vtool eval`.

Definitions (as big-ann-benchmarks, distance ties included): for query q with
ground-truth ids G and distances D (nearest first), the true set at depth j is
G[:j] extended by every further G[i] with |D[i] - D[j-1]| < 1e-6 (ties with the
j-th neighbour count as correct). Without distances there is no extension.
    k-recall@k   mean over queries of |true set at depth k  ∩  results[:k]| / k
    1-recall@k   fraction of queries whose true set at depth 1 meets results[:k]
    recall@1     1-recall@1
"""

from __future__ import annotations

import json
import os

import numpy as np

from vtool import log
from vtool.errors import VtoolError

TIE_EPS = 1e-6
RECALL_NAMES = ("k-recall@k", "1-recall@k", "recall@1")
RANGE_GATES = ("range_ap", "range_recall", "range_precision", "rsm")


def _true_sets(gt_ids: np.ndarray, gt_dist: np.ndarray | None, depth: int) -> list[set]:
    sets = []
    for q in range(gt_ids.shape[0]):
        end = depth
        if gt_dist is not None:
            anchor = gt_dist[q, depth - 1]
            while end < gt_ids.shape[1] and abs(gt_dist[q, end] - anchor) < TIE_EPS:
                end += 1
        sets.append(set(gt_ids[q, :end].tolist()))
    return sets


def recalls(ids: np.ndarray, gt_ids: np.ndarray, gt_dist: np.ndarray | None, k: int | None = None) -> dict:
    """k-recall@k, 1-recall@k and recall@1 of results `ids` (n x k) against ground truth."""
    if ids.shape[0] != gt_ids.shape[0]:
        raise VtoolError(f"results have {ids.shape[0]} queries, the ground truth has {gt_ids.shape[0]}")
    k = ids.shape[1] if k is None else k
    if not 1 <= k <= ids.shape[1]:
        raise VtoolError(f"k={k} must be between 1 and the results' k ({ids.shape[1]})")
    if k > gt_ids.shape[1]:
        raise VtoolError(f"the ground truth has {gt_ids.shape[1]} neighbours per query, fewer than k={k}")
    top = ids[:, :k]
    sets_k = _true_sets(gt_ids, gt_dist, k)
    sets_1 = _true_sets(gt_ids, gt_dist, 1)
    hits_k = [len(s.intersection(row.tolist())) for s, row in zip(sets_k, top)]
    found_1 = [bool(s.intersection(row.tolist())) for s, row in zip(sets_1, top)]
    first = [bool(s.intersection(row[:1].tolist())) for s, row in zip(sets_1, top)]
    return {"k": k, "queries": int(ids.shape[0]),
            "k-recall@k": float(np.sum(hits_k) / (k * len(top))) if len(top) else 0.0,
            "1-recall@k": float(np.mean(found_1)) if len(top) else 0.0,
            "recall@1": float(np.mean(first)) if len(top) else 0.0}


def range_metrics(gt: tuple, res: tuple, metric: str = "l2", rsm_value=None, thresholds: int = 100,
                  distance_of=None) -> dict:
    """Range search quality of results res = (lims, ids, distances) against ground truth gt
    (the same layout), as big-ann-benchmarks computes it:
      precision, recall   over all queries at once ("overall"): sum |R & G| / sum |R|, / sum |G|
      range AP            the area under the precision-recall curve traced by keeping only the
                          results nearer than each of 100 thresholds, from just below 0 to the
                          largest returned distance (trapezoids; for ip / cosine on minus the
                          similarity, from just below its smallest value)
      RSM                 sum of f(distance) over the returned results / the same sum over the
                          ground truth, f the value of a result at its true distance
                          (rsm_value): the ground truth's when it holds the id; else
                          distance_of(query, ids) when given (eval --base --queries measure
                          it), else the result counts as infinitely far (f beyond the table's
                          last point; 0 for a step)
    The curve is in "pr_curve"."""
    (g_lims, g_ids, g_dist), (r_lims, r_ids, r_dist) = gt, res
    if len(g_lims) != len(r_lims):
        raise VtoolError(f"results have {len(r_lims) - 1} queries, the ground truth has {len(g_lims) - 1}")
    nq = len(g_lims) - 1
    sign = 1.0 if metric == "l2" else -1.0  # rank keys: smaller is nearer
    n_gt = np.diff(g_lims)
    key = sign * r_dist.astype(np.float64)
    hit = np.zeros(len(r_ids), bool)  # (query, id) found in the ground truth...
    true_dist = np.full(len(r_ids), np.inf if metric == "l2" else -np.inf)  # ...and its exact distance
    for q in range(nq):
        g, r = slice(g_lims[q], g_lims[q + 1]), slice(r_lims[q], r_lims[q + 1])
        if g.stop > g.start and r.stop > r.start:
            g_order = np.argsort(g_ids[g], kind="stable")
            g_sorted = g_ids[g][g_order]
            at = np.minimum(np.searchsorted(g_sorted, r_ids[r]), len(g_sorted) - 1)
            found = g_sorted[at] == r_ids[r]
            hit[r] = found
            true_dist[r][found] = g_dist[g][g_order][at[found]]
    top = float(key.max()) if len(key) else 0.0
    start = -0.001 if metric == "l2" else (float(key.min()) - 0.001 if len(key) else -0.001)
    levels = np.linspace(start, max(top, start), thresholds)
    # the results nearer than each level, over all queries: how many, how many correct
    kept = np.zeros(thresholds)
    correct = np.zeros(thresholds)
    for i, t in enumerate(levels):
        below = key < t
        kept[i], correct[i] = below.sum(), (below & hit).sum()
    total_gt = float(n_gt.sum())
    precision = np.where(kept > 0, correct / np.maximum(kept, 1), 1.0)
    recall = correct / total_gt if total_gt else np.where(kept > 0, 0.0, 1.0)
    ap = float(np.sum((recall[1:] - recall[:-1]) * (precision[1:] + precision[:-1]) / 2))
    n_res, n_hit = len(r_ids), int(hit.sum())
    out = {"queries": nq, "results": n_res, "ground_truth_results": int(total_gt),
           "range_precision": n_hit / n_res if n_res else 1.0,
           "range_recall": n_hit / total_gt if total_gt else (1.0 if n_res == 0 else 0.0),
           "range_ap": ap,
           "pr_curve": [{"threshold": float(sign * t), "precision": float(p), "recall": float(r)}
                        for t, p, r in zip(levels, precision, recall)]}
    if rsm_value is not None:
        if distance_of is not None and not hit.all():
            miss = np.flatnonzero(~hit)
            true_dist[miss] = distance_of(np.searchsorted(r_lims, miss, side="right") - 1, r_ids[miss])
        denominator = float(np.sum(rsm_value(g_dist.astype(np.float64))))
        out["rsm"] = float(np.sum(rsm_value(true_dist))) / denominator if denominator else None
    return out


def _exact_distances_from(base_path: str, queries_path: str, metric: str):
    """distance_of(query rows, base ids) in float64, the ids being base row numbers."""
    from vtool.io.vectors import open_vectors

    cosine = metric == "cosine"
    base = open_vectors(base_path, normalize=cosine)
    queries = open_vectors(queries_path, normalize=cosine, queries=True).read_all().astype(np.float64)

    def distance_of(q: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if len(ids) and (ids.min() < 0 or ids.max() >= base.n):
            raise VtoolError(f"{base_path}: has {base.n} rows; the results name id {int(ids.max())} (RSM measures "
                             "results by row number)")
        rows, at = np.unique(ids, return_inverse=True)
        v = base.read_rows(rows).astype(np.float64)[at]
        return np.einsum("ij,ij->i", queries[q] - v, queries[q] - v) if metric == "l2" \
            else np.einsum("ij,ij->i", queries[q], v)
    return distance_of


def rsm_function(table: str | None, radius: float | None, metric: str):
    """f, the value of a result at its true distance: a step at radius (1 within it), or the
    piecewise-linear curve through a table's (distance, value) points, constant beyond its ends."""
    if (table is None) == (radius is None):
        raise VtoolError("RSM needs one of --rsm-table FILE or --rsm-radius R")
    if radius is not None:
        if not np.isfinite(radius):
            raise VtoolError(f"--rsm-radius must be a finite number, got {radius}")
        return (lambda d: (d <= radius).astype(np.float64)) if metric == "l2" \
            else (lambda d: (d >= radius).astype(np.float64))
    try:
        points = np.loadtxt(table, delimiter=None if not str(table).endswith(".csv") else ",", ndmin=2)
    except (OSError, ValueError) as e:
        raise VtoolError(f"{table}: not a table of (distance, value) rows ({str(e).splitlines()[0]})") from None
    if points.shape[1] != 2 or len(points) < 1 or not np.isfinite(points).all():
        raise VtoolError(f"{table}: expected rows of two numbers, distance and value")
    if (np.diff(points[:, 0]) <= 0).any():
        raise VtoolError(f"{table}: distances must increase from row to row")
    if ((points[:, 1] < 0) | (points[:, 1] > 1)).any():
        raise VtoolError(f"{table}: values are probabilities, between 0 and 1")
    xs, ys = points[:, 0], points[:, 1]
    return lambda d: np.interp(d, xs, ys)


def ids_disagree(ids: np.ndarray, gt_ids: np.ndarray) -> str | None:
    """Why results and ground truth cannot be compared, when their ids are from different
    spaces (an index with custom ids against ground truth in row numbers): no id in common,
    or id ranges that do not overlap. None when they look comparable."""
    found, truth = ids[ids >= 0], gt_ids[gt_ids >= 0]
    if not found.size or not truth.size:
        return None
    if found.max() < truth.min() or truth.max() < found.min():
        return (f"the results' ids ({found.min()}..{found.max()}) and the ground truth's ({truth.min()}..{truth.max()}) "
                "do not overlap: are they the same ids? (an index with custom ids needs ground truth from "
                "vtool gt --id-column)")
    if not np.intersect1d(found, truth).size:
        return ("the results and the ground truth share no id: are they the same ids? (an index with custom ids "
                "needs ground truth from vtool gt --id-column)")
    return None


def index_size(index_path: str) -> dict:
    from vtool.codecs.ids import id_sections
    from vtool.index.container import VtiFile

    f = VtiFile(index_path)
    n = int(f.header.get("ntotal", 0))
    total = os.path.getsize(index_path)
    sizes = f.section_sizes()
    id_bytes = sum(sizes.get(name, 0) for name in id_sections(f.header))
    return {"index_bytes": total, "bytes_per_vector": total / n if n else None,
            "id_codec": f.header.get("id_codec", "int64"),
            "id_bits_per_vector": 8 * id_bytes / n if n else None}


def reconstruction_mse(base_path: str, index_path: str | None = None, codes_path: str | None = None,
                       model_path: str | None = None, batch_size: int = 65536) -> dict:
    """Mean squared reconstruction error, sum over dimensions, averaged over vectors.

    The reconstructions come from an index (every stored row) or from a code file and its
    model; each is compared with the base row its id names (ids must be row numbers)."""
    from vtool.commands.build import check_codes_match, code_lists
    from vtool.index.index import load_index
    from vtool.io.codes import open_codes
    from vtool.io.vectors import open_vectors

    base = open_vectors(base_path)
    if index_path:
        index = load_index(index_path)

        def batches():
            for a in range(0, index.ntotal, batch_size):
                rows = np.arange(a, min(a + batch_size, index.ntotal))
                yield index.ids[rows], index.reconstruct(rows)
    elif codes_path and model_path:
        index = load_index(model_path)
        cf = open_codes(codes_path)
        check_codes_match(index, cf, codes_path)

        def batches():
            for ids, lists, codes in cf.batches(batch_size):
                yield ids, index.decode(code_lists(index, lists, codes_path), codes)
    else:
        raise VtoolError("reconstruction error needs --index, or --codes with --model")
    if index.d != base.d:
        raise VtoolError(f"{base_path}: vectors have dimension {base.d}, the index has {index.d}")
    base.normalize = index.cosine  # a cosine index holds (and gives back) unit-length vectors
    total, count = 0.0, 0
    for ids, recon in batches():
        if len(ids) and (ids.min() < 0 or ids.max() >= base.n):
            raise VtoolError(f"{base_path}: has {base.n} rows; the ids are not its row numbers "
                             f"(id {int(ids.max())})")
        order = np.argsort(ids, kind="stable")
        original = base.read_rows(ids[order])
        diff = original.astype(np.float64) - recon[order]
        total += float(np.sum(diff * diff))
        count += len(ids)
    return {"mse": total / count if count else None, "mse_vectors": count}


def evaluate(results: str | None = None, gt: str | None = None, gt_distances: str | None = None,
             base: str | None = None, queries: str | None = None, metric: str = "l2", k: int | None = None,
             timing: str | None = None, index: str | None = None, mse: bool = False, codes: str | None = None,
             model: str | None = None, fail_below: float | None = None, gate: str = "k-recall@k",
             results_format: str | None = None, gt_format: str | None = None, strict: bool = False,
             rsm_table: str | None = None, rsm_radius: float | None = None) -> dict:
    """The report of `vtool eval`: recalls of results against ground truth (given, or computed
    from base and queries), QPS from a timing record, index size, reconstruction error, and
    the recall gate (report["gate"]["passed"])."""
    from vtool.commands import groundtruth
    from vtool.io.results import read_results

    if gate not in RECALL_NAMES + RANGE_GATES:
        raise VtoolError(f"unknown --gate {gate!r}; choose {', '.join(RECALL_NAMES + RANGE_GATES)}")
    if mse and base is None:
        raise VtoolError("--mse compares reconstructions with the original vectors: give --base")
    if results is None:
        if not mse:
            raise VtoolError("give search results to evaluate, or --mse with --base and --index "
                             "(or --codes and --model)")
        report = reconstruction_mse(base, index, codes, model)
        if index:
            report.update(index_size(index))
        return report
    from vtool.io.results import read_range_results, results_kind

    kinds = (results_kind(results, results_format), results_kind(gt, gt_format) if gt is not None else None)
    if "range" in kinds:
        if kinds[1] is None:
            raise VtoolError("range results are evaluated against range ground truth: give --gt (vtool gt --radius)")
        if kinds == ("range", "knn"):
            raise VtoolError(f"{gt}: k-NN ground truth, but {results} holds range results: a range evaluation needs "
                             "range ground truth (vtool gt --radius)")
        if kinds == ("knn", "range"):
            raise VtoolError(f"{results}: k-NN results, but {gt} is range ground truth: evaluate the results of "
                             "vtool search --radius against it")
        rsm = rsm_function(rsm_table, rsm_radius, metric) if (rsm_table or rsm_radius is not None) else None
        measure = _exact_distances_from(base, queries, metric) if rsm is not None and base and queries else None
        report = range_metrics(read_range_results(gt, gt_format), read_range_results(results, results_format),
                               "l2" if metric == "l2" else "ip", rsm, distance_of=measure)
        if timing:
            report.update(read_timing(timing))
        if index:
            report.update(index_size(index))
        if fail_below is not None:
            measure = "range_ap" if gate == "k-recall@k" else gate
            if measure == "rsm" and "rsm" not in report:
                raise VtoolError("--gate rsm needs the value of a result: --rsm-radius or --rsm-table")
            if measure not in report:
                raise VtoolError(f"--gate {gate} is a k-NN measure; a range evaluation gates on "
                                 f"{', '.join(RANGE_GATES)}")
            report["gate"] = {"recall": measure, "threshold": fail_below, "passed": (report[measure] or 0) >= fail_below}
        return report
    if rsm_table or rsm_radius is not None:
        raise VtoolError("RSM is a range search measure: evaluate results of vtool search --radius")
    if gate in RANGE_GATES:
        raise VtoolError(f"--gate {gate} is a range search measure; k-NN results gate on {', '.join(RECALL_NAMES)}")
    ids, _ = read_results(results, fmt=results_format)
    if gt is not None:
        gt_ids, gt_dist = read_results(gt, gt_distances, fmt=gt_format)
    elif base is not None and queries is not None:
        gt_dist, gt_ids, _ = groundtruth.ground_truth(base, queries, k=ids.shape[1], metric=metric)
        if metric in ("ip", "cosine"):
            gt_dist = -gt_dist
    else:
        raise VtoolError("give the ground truth with --gt, or --base and --queries to compute it")
    report = recalls(ids, gt_ids, gt_dist, k)
    problem = ids_disagree(ids, gt_ids)
    if problem:
        if strict:
            raise VtoolError(f"{problem} (--strict)")
        log.warning(problem)
        report["warnings"] = [problem]
    if timing:
        report.update(read_timing(timing))
    if index:
        report.update(index_size(index))
    if mse:
        report.update(reconstruction_mse(base, index, codes, model))
    if fail_below is not None:
        report["gate"] = {"recall": gate, "threshold": fail_below, "passed": report[gate] >= fail_below}
    return report


def read_timing(path: str) -> dict:
    """QPS and seconds from the timing record of `vtool search --timing`."""
    try:
        with open(path) as f:
            t = json.load(f)
        return {"qps": t["qps"], "search_seconds": t["seconds"], "threads": t.get("threads")}
    except (OSError, ValueError, KeyError) as e:
        raise VtoolError(f"{path}: not a timing record from vtool search ({e})") from None


def report_table(report: dict):
    """The report as a rich table (what `vtool eval` prints without --json)."""
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if "k" in report:
        k = report["k"]
        table.add_row("queries", str(report["queries"]))
        table.add_row(f"{k}-recall@{k}", f"{report['k-recall@k']:.4f}")
        table.add_row(f"1-recall@{k}", f"{report['1-recall@k']:.4f}")
        table.add_row("recall@1", f"{report['recall@1']:.4f}")
    if "range_ap" in report:
        table.add_row("queries", str(report["queries"]))
        table.add_row("results / ground truth", f"{report['results']} / {report['ground_truth_results']}")
        for name in ("range_precision", "range_recall", "range_ap", "rsm"):
            if report.get(name) is not None:
                table.add_row(name.replace("_", " "), f"{report[name]:.4f}")
    if report.get("mse") is not None:
        table.add_row(f"reconstruction MSE ({report['mse_vectors']} vectors)", f"{report['mse']:.6g}")
    if "qps" in report:
        table.add_row("QPS", f"{report['qps']:.0f}")
    if report.get("bytes_per_vector"):
        table.add_row("index bytes/vector", f"{report['bytes_per_vector']:.1f}")
        table.add_row("id bits/vector", f"{report['id_bits_per_vector']:.1f}")
    if "gate" in report:
        g = report["gate"]
        table.add_row(f"gate {g['recall']} >= {g['threshold']}", "pass" if g["passed"] else "FAIL")
    return table


def plot_report(report: dict, path: str) -> None:
    """eval --plot: the range precision-recall curve, or the k-NN run as one recall / QPS point."""
    from vtool.commands.plot import plot_curve

    if "pr_curve" in report:
        curve = report["pr_curve"]
        plot_curve(path, [p["recall"] for p in curve], [p["precision"] for p in curve], "recall", "precision",
                   f"range search: AP {report['range_ap']:.3f}")
    else:
        if report.get("qps") is None:
            raise VtoolError("--plot of k-NN results draws recall against QPS: give --timing (vtool search --timing)")
        plot_curve(path, [report["k-recall@k"]], [report["qps"]], "k-recall@k", "queries per second",
                   "k-NN search (vtool tune --plot draws the whole curve)")
