"""NSG graph indexes: connected, exact at large ef, close to HNSW's recall, deterministic,
compressible, and refused where they cannot go."""

from __future__ import annotations

import numpy as np
import pytest

import vtool
from tests.conftest import assert_refused, clustered
from tests.index.test_graph import exact_topk, recall
from vtool.index.container import VtiFile
from vtool.index.nsg import reachable


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_every_node_is_reachable_and_ef_n_is_exact(metric):
    x = clustered(800, 12, seed=21)
    q = clustered(40, 12, seed=22)
    index = vtool.train(x, "NSG16,Flat", metric=metric)
    index.add(x)
    g = index.structure
    seen = np.zeros(len(x), bool)
    reachable(np.asarray(g.level0), np.array([g.entry]), seen)
    assert seen.all()
    assert (g.level0 < len(x)).all() and ((g.level0 >= 0).sum(axis=1) <= 16).all()
    _, ids = index.search(q, 10, ef=800)
    np.testing.assert_array_equal(ids, exact_topk(q, x, 10, metric))


def test_recall_is_close_to_hnsw_at_equal_ef():
    """Queries from the data's distribution (an NSG enters at one node near the mean: queries
    far from every vector, as `clustered` with another seed makes, do much worse than on HNSW)."""
    rng = np.random.default_rng(23)
    x = rng.normal(size=(4000, 24)).astype(np.float32)
    q = rng.normal(size=(100, 24)).astype(np.float32)
    truth = exact_topk(q, x, 10)
    nsg = vtool.train(x, "NSG32,Flat")
    nsg.add(x, threads=2)
    hnsw = vtool.train(x, "HNSW16,Flat")
    hnsw.add(x, threads=2)
    for ef in (32, 128):
        assert recall(nsg.search(q, 10, ef=ef)[1], truth) >= recall(hnsw.search(q, 10, ef=ef)[1], truth) - 0.03


def test_nsg_bytes_do_not_depend_on_threads_and_compress_losslessly(tmp_path, cli):
    x = clustered(2000, 16, seed=25)
    np.save(tmp_path / "x.npy", x)
    assert cli("train", tmp_path / "x.npy", "--index", "NSG12,SQ8", "-o", tmp_path / "m.vti").code == 0
    for threads in (1, 2):
        assert cli("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / f"i{threads}.vti",
                   "--threads", threads).code == 0
    assert (tmp_path / "i1.vti").read_bytes() == (tmp_path / "i2.vti").read_bytes()
    assert cli("compress-ids", tmp_path / "i1.vti", "-o", tmp_path / "c.vti").code == 0
    assert VtiFile(str(tmp_path / "c.vti")).header["nsg_adjacency"] == "ef"
    for name in ("i1", "c"):
        assert cli("search", tmp_path / f"{name}.vti", tmp_path / "x.npy", "--ef", 20,
                   "-o", tmp_path / f"r_{name}.npz").code == 0
    a, b = np.load(tmp_path / "r_i1.npz"), np.load(tmp_path / "r_c.npz")
    np.testing.assert_array_equal(a["ids"], b["ids"])
    np.testing.assert_array_equal(a["distances"], b["distances"])


def test_adding_to_an_nsg_index_is_refused(tmp_path, cli):
    x = clustered(300, 8, seed=26)
    np.save(tmp_path / "x.npy", x)
    cli("train", tmp_path / "x.npy", "--index", "NSG8,Flat", "-o", tmp_path / "m.vti")
    assert cli("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / "i.vti").code == 0
    r = cli("add", tmp_path / "i.vti", tmp_path / "x.npy", "-o", tmp_path / "j.vti")
    assert_refused(r, "built once over all its vectors")
    assert not (tmp_path / "j.vti").exists()


@pytest.mark.parametrize("spec, message", [("NSG1,Flat", "R must be between 2 and 256"),
                                           ("NSG257,Flat", "R must be between 2 and 256"),
                                           ("NSG16,PQ4x4fs", "reads codes by row")])
def test_bad_nsg_specs_are_refused(tmp_path, cli, spec, message):
    np.save(tmp_path / "x.npy", clustered(300, 8, seed=27))
    assert_refused(cli("train", tmp_path / "x.npy", "--index", spec, "-o", tmp_path / "m.vti"), message)
    r = cli("train", tmp_path / "x.npy", "--index", "NSG8,Flat", "--ef-construction", 40, "-o", tmp_path / "m.vti")
    assert_refused(r, "for HNSW")
