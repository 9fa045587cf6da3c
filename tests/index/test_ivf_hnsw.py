"""IVF with an HNSW coarse quantizer: the lists a graph finds, the results an IVF gives."""

from __future__ import annotations

import numpy as np
import pytest

import vtool
from tests.conftest import assert_refused, clustered, rewrite_index
from tests.index.test_graph import exact_topk, recall
from vtool.index.container import VtiFile


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_probing_every_list_gives_the_exact_neighbours(metric):
    x = clustered(3000, 16, seed=31)
    q = clustered(40, 16, seed=32)
    index = vtool.train(x, "IVF64_HNSW8,Flat", metric=metric)
    index.add(x)
    _, ids = index.search(q, 10, nprobe=64)
    np.testing.assert_array_equal(ids, exact_topk(q, x, 10, metric))


def test_recall_follows_the_brute_force_quantizer():
    rng = np.random.default_rng(33)
    x = rng.normal(size=(6000, 24)).astype(np.float32)
    q = rng.normal(size=(100, 24)).astype(np.float32)
    truth = exact_topk(q, x, 10)
    graph = vtool.train(x, "IVF128_HNSW16,SQ8")
    graph.add(x)
    brute = vtool.train(x, "IVF128,SQ8")
    brute.add(x)
    np.testing.assert_array_equal(graph.centroids, brute.centroids)  # the same k-means
    assert np.mean(graph.structure.assign(x[:2000]) == brute.structure.assign(x[:2000])) > 0.95
    for nprobe in (4, 16):
        got = recall(graph.search(q, 10, nprobe=nprobe)[1], truth)
        want = recall(brute.search(q, 10, nprobe=nprobe)[1], truth)
        assert got >= want - 0.03, (nprobe, got, want)


def test_files_round_trip_and_ef_reaches_the_quantizer(tmp_path, cli):
    x = clustered(2000, 16, seed=34)
    np.save(tmp_path / "x.npy", x)
    assert cli("train", tmp_path / "x.npy", "--index", "IVF32_HNSW4,PQ4", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / "i.vti").code == 0
    index = vtool.load(str(tmp_path / "i.vti"))
    assert str(index.spec) == "IVF32_HNSW4,PQ4"
    mem = vtool.train(x, "IVF32_HNSW4,PQ4")
    mem.add(x)
    f = VtiFile(str(tmp_path / "i.vti"))
    for name, a in mem.arrays().items():
        np.testing.assert_array_equal(f.array(name), a, err_msg=name)
    for ef in ("1", "200"):
        r = cli("search", tmp_path / "i.vti", tmp_path / "x.npy", "--nprobe", 4, "--ef", ef, "-o", tmp_path / "r.npz")
        assert r.code == 0, r


def test_bad_quantizer_specs_and_graphs_are_refused(tmp_path, cli):
    x = clustered(600, 8, seed=35)
    np.save(tmp_path / "x.npy", x)
    assert_refused(cli("train", tmp_path / "x.npy", "--index", "IVF8_HNSW1,Flat", "-o", tmp_path / "m.vti"),
                   "M must be between 2 and 256")
    cli("train", tmp_path / "x.npy", "--index", "IVF8_HNSW4,Flat", "-o", tmp_path / "m.vti")
    cli("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / "i.vti")

    def outside(a):
        a[0, 0] = 8
        return a

    rewrite_index(tmp_path / "i.vti", tmp_path / "bad.vti", quantizer_hnsw_level0=outside)
    r = cli("search", tmp_path / "bad.vti", tmp_path / "x.npy", "-o", tmp_path / "r.npz")
    assert_refused(r, "level-0 neighbour outside the graph")
