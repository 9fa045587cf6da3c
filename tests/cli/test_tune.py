"""vtool tune: the sweep, the front, the choice and its held-out check, --write and the
defaults search then uses, range measures, and the bad inputs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered, run_ok, shared_dataset


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("tune")
    np.save(ws / "b.npy", clustered(4000, 16, seed=31, centers=40))
    np.save(ws / "q.npy", clustered(200, 16, seed=32, centers=40))

    for spec, name in (("IVF32,Flat", "ivf"), ("HNSW8,Flat", "hnsw"), ("IVF32,PQ4,RFlat", "rflat")):
        run_ok("train", ws / "b.npy", "--index", spec, "-o", ws / f"{name}.m.vti", "-q")
        run_ok("add", ws / f"{name}.m.vti", ws / "b.npy", "-o", ws / f"{name}.vti", "-q")
    run_ok("gt", ws / "b.npy", ws / "q.npy", "-k", 10, "-o", ws / "gt.ibin", "-q")
    return ws


def tune(cli, *args):
    r = cli("tune", *args, "--json")
    return r, (json.loads(r.out) if r.out else None)


def test_tune_picks_the_fastest_point_reaching_the_target_and_writes_it(ws, cli):
    r, report = tune(cli, ws / "ivf.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-recall", 0.9)
    assert r.code == 0 and report["met"]
    chosen = report["chosen"]
    assert chosen["quality"] >= 0.9
    reaching = [p for p in report["points"] if p["quality"] >= 0.9]
    tied = [p for p in reaching if p["qps"] >= 0.95 * max(p["qps"] for p in reaching)]
    assert chosen["nprobe"] == min(p["nprobe"] for p in tied)  # the fastest; within 5 %, the least work
    least = min(p["nprobe"] for p in reaching)
    below = [p["quality"] for p in report["points"] if p["nprobe"] == least - 1]
    assert least == 1 or (below and max(below) < 0.9)  # bisected down to the smallest nprobe reaching it
    assert report["tune_queries"] == report["holdout_queries"] == 100 and "quality" in report["holdout"]
    qualities = [p["quality"] for p in report["front"]]
    assert qualities == sorted(qualities)

    before = (ws / "ivf.vti").read_bytes()
    r, report = tune(cli, ws / "ivf.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-recall", 0.9, "--write")
    assert r.code == 0 and report["written"]
    assert (ws / "ivf.vti").read_bytes() != before
    r = cli("search", ws / "ivf.vti", ws / "q.npy", "-o", ws / "r.npz", "--json")
    searched = json.loads(r.out)
    assert searched["nprobe"] == report["chosen"]["nprobe"] and "vtool tune" in searched["parameters"]
    r = cli("search", ws / "ivf.vti", ws / "q.npy", "--nprobe", 1, "-o", ws / "r.npz", "--json")
    assert json.loads(r.out)["nprobe"] == 1  # a flag wins
    assert cli("info", ws / "ivf.vti").code == 0  # the rewritten file verifies


def test_tune_sweeps_ef_on_a_graph_and_the_k_factor_with_rflat(ws, cli):
    r, report = tune(cli, ws / "hnsw.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-recall", 0.95)
    assert r.code == 0 and "ef" in report["chosen"] and report["chosen"]["ef"] >= 10
    r, report = tune(cli, ws / "rflat.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-recall", 0.9)
    assert r.code == 0 and {p["k_factor"] for p in report["points"]} == {1, 2, 4, 8}


def test_an_unreachable_target_exits_3_with_the_best_point(ws, cli):
    r, report = tune(cli, ws / "ivf.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-recall", 1.0,
                     "--max-seconds", 0)  # stops after the first point
    assert r.code == 3 and not report["met"] and report["chosen"]["quality"] < 1.0
    r, report = tune(cli, ws / "ivf.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-qps", 1e12)
    assert r.code == 3 and not report["met"]


def test_tune_a_range_search(ws, cli):
    b, q = np.load(ws / "b.npy"), np.load(ws / "q.npy")
    radius = float(np.median(np.sort(((q[:, None] - b[None]) ** 2).sum(-1), axis=1)[:, 10]))  # ~10 results
    assert cli("gt", ws / "b.npy", ws / "q.npy", "--radius", radius, "-o", ws / "rgt.rbin").code == 0
    r, report = tune(cli, ws / "ivf.vti", ws / "q.npy", "--gt", ws / "rgt.rbin", "--measure", "range-ap",
                     "--radius", radius, "--target-recall", 0.9)
    assert r.code == 0 and report["chosen"]["quality"] >= 0.9 and report["chosen"]["nprobe"] > 1
    radii = {p["search_radius"] for p in report["points"]}
    assert radii == {radius * f for f in (1.0, 1.1, 1.25, 1.5)}
    r, report = tune(cli, ws / "ivf.vti", ws / "q.npy", "--gt", ws / "rgt.rbin", "--measure", "rsm",
                     "--radius", radius, "--target-recall", 0.8)
    assert r.code == 0 and report["met"]


def test_tune_plot(ws, cli):
    pytest.importorskip("matplotlib")
    r = cli("tune", ws / "ivf.vti", ws / "q.npy", "--gt", ws / "gt.ibin", "--target-recall", 0.8, "--plot",
            ws / "front.png")
    assert r.code == 0 and (ws / "front.png").read_bytes()[:4] == b"\x89PNG"


def test_tune_bad_input(ws, cli):
    ivf, q, gt = ws / "ivf.vti", ws / "q.npy", ws / "gt.ibin"
    assert_refused(cli("tune", ivf, q, "--gt", gt), "give one target")
    assert_refused(cli("tune", ivf, q, "--gt", gt, "--target-recall", 0.9, "--target-qps", 10), "give one target")
    assert_refused(cli("tune", ivf, q, "--gt", gt, "--target-recall", 0.9, "--measure", "range-ap"), "give --radius")
    assert_refused(cli("tune", ivf, q, "--gt", gt, "--target-recall", 0.9, "--measure", "range-ap", "--radius", 1),
                   "k-NN ground truth, but --measure range-ap needs range ground truth")
    assert_refused(cli("tune", ivf, q, "--gt", gt, "--target-recall", 0.9, "--holdout-fraction", 1), "holdout")
    os.chmod(ivf, 0o444)
    try:
        before = ivf.read_bytes()
        assert_refused(cli("tune", ivf, q, "--gt", gt, "--target-recall", 0.9, "--write"), "read-only")
        assert ivf.read_bytes() == before
    finally:
        os.chmod(ivf, 0o644)


@pytest.mark.parametrize("name", ["minilm-wordnet-384", "glove-50-l2"])
def test_tuned_recall_holds_on_held_out_queries_of_the_shared_sets(tmp_path, cli, name):
    """The issue's check: --target-recall 0.9 picks a point whose held-out recall is >= 0.89."""
    data = shared_dataset(name)
    q = np.load(data / "queries.npy")[:2000]
    np.save(tmp_path / "q.npy", q)
    np.save(tmp_path / "gt.npy", np.load(data / "gt.npy")[:2000, :10])
    assert cli("train", data / "base.npy", "--index", "IVF256,Flat", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", data / "base.npy", "-o", tmp_path / "i.vti").code == 0
    r, report = tune(cli, tmp_path / "i.vti", tmp_path / "q.npy", "--gt", tmp_path / "gt.npy", "--target-recall", 0.9)
    assert r.code == 0 and report["met"]
    assert report["holdout"]["quality"] >= 0.89, report["holdout"]


def test_the_choice_does_not_follow_timing_noise():
    from vtool.commands.tune import _choose

    points = [{"nprobe": 2, "quality": 0.85, "qps": 900.0}, {"nprobe": 4, "quality": 0.95, "qps": 1000.0},
              {"nprobe": 3, "quality": 0.92, "qps": 980.0}, {"nprobe": 8, "quality": 0.99, "qps": 500.0}]
    assert _choose(points, 0.9, None)["nprobe"] == 3  # 2 % slower than nprobe 4: a tie, less work
    points[2]["qps"] = 900.0
    assert _choose(points, 0.9, None)["nprobe"] == 4  # 10 % slower: nprobe 4 is faster
    assert _choose(points, 0.999, None) is None
    assert _choose(points, None, 950.0)["nprobe"] == 4  # the most accurate reaching the QPS
