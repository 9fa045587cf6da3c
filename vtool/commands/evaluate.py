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
             results_format: str | None = None, gt_format: str | None = None, strict: bool = False) -> dict:
    """The report of `vtool eval`: recalls of results against ground truth (given, or computed
    from base and queries), QPS from a timing record, index size, reconstruction error, and
    the recall gate (report["gate"]["passed"])."""
    from vtool.commands import groundtruth
    from vtool.io.results import read_results

    if gate not in RECALL_NAMES:
        raise VtoolError(f"unknown --gate {gate!r}; choose {', '.join(RECALL_NAMES)}")
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
