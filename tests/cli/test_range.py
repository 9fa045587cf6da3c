"""Range search from the command line: search --radius, gt --radius, the three layouts, and
eval's range measures (precision, recall, range AP as big-ann-benchmarks, RSM), --plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered, run_ok
from vtool.io.results import read_range_results, write_range_results


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("range")
    np.save(ws / "b.npy", clustered(3000, 12, seed=21))
    np.save(ws / "q.npy", clustered(60, 12, seed=22))

    for spec, name in (("Flat", "flat"), ("IVF8,Flat", "ivf"), ("IVF8,PQ4", "pq")):
        run_ok("train", ws / "b.npy", "--index", spec, "-o", ws / f"{name}.m.vti", "-q")
        run_ok("add", ws / f"{name}.m.vti", ws / "b.npy", "-o", ws / f"{name}.vti", "-q")
    d = np.sort(((np.load(ws / "q.npy")[:, None] - np.load(ws / "b.npy")[None]) ** 2).sum(-1), axis=1)
    ws_radius = float(np.median(d[:, 10]))  # about 10 results a query
    (ws / "radius").write_text(repr(ws_radius))
    run_ok("gt", ws / "b.npy", ws / "q.npy", "--radius", ws_radius, "-o", ws / "gt.rbin", "-q")
    return ws


def radius(ws) -> float:
    return float((ws / "radius").read_text())


def test_ivf_at_nprobe_nlist_returns_exactly_the_flat_range_results(ws, cli):
    r = radius(ws)
    assert cli("search", ws / "flat.vti", ws / "q.npy", "--radius", r, "-o", ws / "flat.rbin").code == 0
    assert cli("search", ws / "ivf.vti", ws / "q.npy", "--radius", r, "--nprobe", 8, "-o", ws / "ivf.rbin").code == 0
    flat, ivf, gt = (read_range_results(str(ws / f)) for f in ("flat.rbin", "ivf.rbin", "gt.rbin"))
    for a, b in zip(flat, ivf):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(flat[0], gt[0])
    np.testing.assert_array_equal(flat[1], gt[1])
    np.testing.assert_allclose(flat[2], gt[2], rtol=1e-5, atol=1e-5)
    assert 5 <= np.median(np.diff(gt[0])) <= 20  # about ten for a typical query


def test_the_three_layouts_hold_the_same_results(ws, cli):
    r = radius(ws)
    for fmt in ("rbin", "npz", "parquet"):
        assert cli("search", ws / "pq.vti", ws / "q.npy", "--radius", r, "--nprobe", 2, "-o", ws / f"pq.{fmt}").code == 0
    base = read_range_results(str(ws / "pq.rbin"))
    for fmt in ("npz", "parquet"):
        for a, b in zip(base, read_range_results(str(ws / f"pq.{fmt}"))):
            np.testing.assert_array_equal(a, b)
    lims = np.array([0, 0, 3, 3], np.int64)  # queries without results survive every layout
    for fmt in ("rbin", "npz", "parquet"):
        write_range_results(str(ws / f"e.{fmt}"), lims, np.array([4, 9, 2]), np.array([0.5, 1, 2], np.float32))
        got = read_range_results(str(ws / f"e.{fmt}"))
        np.testing.assert_array_equal(got[0], lims)


def independent_ap(gt, res) -> float:
    """The big-ann-benchmarks definition, written out query by query."""
    g_lims, g_ids, _ = gt
    r_lims, r_ids, r_d = res
    levels = np.linspace(-0.001, r_d.max(), 100)
    points = []
    for t in levels:
        n_res = n_ok = n_gt = 0
        for q in range(len(g_lims) - 1):
            truth = set(g_ids[g_lims[q]:g_lims[q + 1]].tolist())
            mine = [i for i, d in zip(r_ids[r_lims[q]:r_lims[q + 1]], r_d[r_lims[q]:r_lims[q + 1]]) if d < t]
            n_res, n_ok, n_gt = n_res + len(mine), n_ok + len(truth.intersection(mine)), n_gt + len(truth)
        points.append((n_ok / n_gt if n_gt else 1.0, n_ok / n_res if n_res else 1.0))
    return sum((r1 - r0) * (p1 + p0) / 2 for (r0, p0), (r1, p1) in zip(points, points[1:]))


def test_eval_range_measures_against_an_independent_computation(ws, cli):
    r = radius(ws)
    assert cli("search", ws / "pq.vti", ws / "q.npy", "--radius", r * 1.3, "--nprobe", 3, "-o", ws / "wide.rbin").code == 0
    out = cli("eval", ws / "wide.rbin", "--gt", ws / "gt.rbin", "--rsm-radius", r, "--json")
    assert out.code == 0, out
    report = json.loads(out.out)
    gt, res = read_range_results(str(ws / "gt.rbin")), read_range_results(str(ws / "wide.rbin"))
    assert report["range_ap"] == pytest.approx(independent_ap(gt, res), abs=1e-12)
    hits = sum(len(set(gt[1][gt[0][q]:gt[0][q + 1]]) & set(res[1][res[0][q]:res[0][q + 1]])) for q in range(60))
    assert report["range_precision"] == pytest.approx(hits / len(res[1]))
    assert report["range_recall"] == pytest.approx(hits / len(gt[1]))
    assert report["rsm"] == pytest.approx(hits / len(gt[1]))  # a step at the gt radius: the results found
    assert 0 < report["range_ap"] < 1 and len(report["pr_curve"]) == 100
    table = ws / "f.txt"
    table.write_text(f"0 1\n{r} 0.5\n{2 * r} 0\n")
    f = lambda d: np.interp(d, [0, r, 2 * r], [1, 0.5, 0])  # noqa: E731
    x, qv = np.load(ws / "b.npy").astype(np.float64), np.load(ws / "q.npy").astype(np.float64)
    for measured in (False, True):  # results outside the ground truth: infinitely far, or measured
        extra = ["--base", ws / "b.npy", "--queries", ws / "q.npy"] if measured else []
        report = json.loads(cli("eval", ws / "wide.rbin", "--gt", ws / "gt.rbin", "--rsm-table", table, *extra,
                                "--json").out)
        true = []
        for q in range(60):
            g = dict(zip(gt[1][gt[0][q]:gt[0][q + 1]].tolist(), gt[2][gt[0][q]:gt[0][q + 1]]))
            for i in res[1][res[0][q]:res[0][q + 1]].tolist():
                true.append(g[i] if i in g else ((x[i] - qv[q]) ** 2).sum() if measured else np.inf)
        assert report["rsm"] == pytest.approx(f(np.array(true)).sum() / f(gt[2].astype(np.float64)).sum(), rel=1e-6)


def test_max_results_keeps_the_nearest_and_says_how_many_queries_were_cut(ws, cli):
    r = cli("search", ws / "flat.vti", ws / "q.npy", "--radius", radius(ws), "--max-results", 3, "-o", ws / "m.npz")
    assert r.code == 0 and "queries had more than 3 results" in r.err
    full, cut = read_range_results(str(ws / "flat.rbin")), read_range_results(str(ws / "m.npz"))
    assert np.diff(cut[0]).max() == 3
    for q in range(60):
        n = cut[0][q + 1] - cut[0][q]
        np.testing.assert_array_equal(cut[1][cut[0][q]:cut[0][q + 1]], full[1][full[0][q]:full[0][q] + n])


def test_range_bad_input(ws, cli):
    for value, message in (("-1", "cannot be negative"), ("nan", "finite number")):
        assert_refused(cli("search", ws / "flat.vti", ws / "q.npy", "--radius", value, "-o", ws / "x.rbin"), message)
        assert_refused(cli("gt", ws / "b.npy", ws / "q.npy", "--radius", value, "-o", ws / "x.rbin"), "finite number")
    assert cli("search", ws / "flat.vti", ws / "q.npy", "-k", 5, "-o", ws / "knn.npz").code == 0
    assert cli("gt", ws / "b.npy", ws / "q.npy", "-k", 5, "-o", ws / "knn_gt.ibin").code == 0
    assert_refused(cli("eval", ws / "flat.rbin", "--gt", ws / "knn_gt.ibin"), "k-NN ground truth, but .* holds range")
    assert_refused(cli("eval", ws / "knn.npz", "--gt", ws / "gt.rbin"), "k-NN results, but .* is range ground truth")
    assert_refused(cli("eval", ws / "knn.npz", "--gt", ws / "knn_gt.ibin", "--rsm-radius", 1), "range search measure")
    assert_refused(cli("search", ws / "flat.vti", ws / "q.npy", "--max-results", 3, "-o", ws / "x.npz"), "give --radius")
    assert not (ws / "x.rbin").exists() and not (ws / "x.npz").exists()


def test_eval_plot_writes_a_png_or_says_what_to_install(ws, cli, monkeypatch):
    pytest.importorskip("matplotlib")
    r = cli("eval", ws / "flat.rbin", "--gt", ws / "gt.rbin", "--plot", ws / "pr.png")
    assert r.code == 0 and (ws / "pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_refused(cli("eval", ws / "flat.rbin", "--gt", ws / "gt.rbin", "--plot", ws / "no.png"),
                   r"--plot needs matplotlib: pip install 'vtool\[plot\]'")
    assert not (ws / "no.png").exists()


def test_range_gates(ws, cli):
    r = cli("eval", ws / "flat.rbin", "--gt", ws / "gt.rbin", "--fail-below", 0.999, "--json")
    assert r.code == 0 and json.loads(r.out)["gate"] == {"recall": "range_ap", "threshold": 0.999, "passed": True}
    assert cli("search", ws / "pq.vti", ws / "q.npy", "--radius", radius(ws), "--nprobe", 1, "-o", ws / "low.rbin").code == 0
    assert cli("eval", ws / "low.rbin", "--gt", ws / "gt.rbin", "--gate", "range_recall", "--fail-below", 0.99).code == 3
    assert_refused(cli("eval", ws / "low.rbin", "--gt", ws / "gt.rbin", "--gate", "rsm", "--fail-below", 0.5),
                   "--gate rsm needs the value of a result")
    assert_refused(cli("eval", ws / "low.rbin", "--gt", ws / "gt.rbin", "--gate", "1-recall@k", "--fail-below", 0.5),
                   "is a k-NN measure")
    assert_refused(cli("eval", ws / "knn.npz", "--gt", ws / "knn_gt.ibin", "--gate", "range_ap", "--fail-below", 0.5),
                   "range search measure")
