"""Search correctness: Flat is exact, IVF with every list probed equals Flat, recall matches faiss."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import clustered, shared_dataset
from tests.io.writers import write_parquet
from vtool import _native
from vtool.errors import VtoolError
from vtool.commands.build import add, train
from vtool.index.index import load_index
from vtool.exact import knn


def build(tmp_path, base, spec, metric="l2", name="i", **add_kwargs):
    np.save(tmp_path / f"{name}_base.npy", base)
    train(str(tmp_path / f"{name}_base.npy"), str(tmp_path / f"{name}.model.vti"), spec, metric=metric, seed=1)
    add(str(tmp_path / f"{name}.model.vti"), [str(tmp_path / f"{name}_base.npy")], str(tmp_path / f"{name}.vti"),
        **add_kwargs)
    return load_index(str(tmp_path / f"{name}.vti"))


def brute_force(queries, base, k, metric):
    d = _native.pairwise(queries, base, metric)
    d = d if metric == "l2" else -d
    order = np.lexsort((np.broadcast_to(np.arange(len(base)), d.shape), d), axis=1)[:, :k]
    return np.take_along_axis(d, order, 1), order


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_flat_search_is_exact(tmp_path, metric):
    base, queries = clustered(2000, 24, seed=1), clustered(40, 24, seed=2)
    index = build(tmp_path, base, "Flat", metric)
    dist, ids = index.search(queries, 10)
    want_d, want_i = brute_force(queries, base, 10, metric)
    np.testing.assert_array_equal(ids, want_i)
    np.testing.assert_allclose(dist, want_d if metric == "l2" else -want_d, rtol=1e-6)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivf_probing_every_list_returns_exactly_the_flat_results(tmp_path, metric):
    base, queries = clustered(3000, 16, seed=3), clustered(60, 16, seed=4)
    flat = build(tmp_path, base, "Flat", metric, name="flat")
    ivf = build(tmp_path, base, "IVF32,Flat", metric, name="ivf")
    fd, fi = flat.search(queries, 20)
    vd, vi = ivf.search(queries, 20, nprobe=32)
    np.testing.assert_array_equal(vi, fi)
    np.testing.assert_array_equal(vd, fd)


@pytest.mark.parametrize("spec", ["IVF16,Flat", "IVF16,PQ8x4fs", "IVF16,PQ8x4fs,RFlat", "OPQ8,IVF16,PQ8",
                                  "IVF16_HNSW4,SQ8", "HNSW8,Flat"])
def test_results_are_identical_across_thread_counts(tmp_path, spec):
    """600 queries: batches the native threads claim (IVF; OPQ rotating rows on threads too),
    several chunks a thread (graphs, re-ranking); k-NN and range results the same."""
    base, queries = clustered(3000, 16, seed=5), clustered(600, 16, seed=6)
    ivf = build(tmp_path, base, spec)
    knob = {"ef": 16} if spec.startswith("HNSW") else {"nprobe": 4}
    d1, i1 = ivf.search(queries, 10, threads=1, **knob)
    radius = float(np.median(d1[:, 5]))
    lims1, rd1, ri1 = ivf.range_search(queries, radius, threads=1, **knob)
    for threads in (2, 3):
        d2, i2 = ivf.search(queries, 10, threads=threads, **knob)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(d1, d2)
        lims2, rd2, ri2 = ivf.range_search(queries, radius, threads=threads, **knob)
        np.testing.assert_array_equal(lims1, lims2)
        np.testing.assert_array_equal(ri1, ri2)
        np.testing.assert_array_equal(rd1, rd2)


def test_unfilled_results_are_minus_one_and_inf(tmp_path):
    base = clustered(500, 8, seed=7)
    ivf = build(tmp_path, base, "IVF50,Flat")
    dist, ids = ivf.search(base[:5], 100, nprobe=1)  # one list holds fewer than 100 vectors
    assert (ids == -1).any()
    assert np.isinf(dist[ids == -1]).all()
    assert (ids[:, 0] == np.arange(5)).all()


def test_user_ids_from_parquet_are_returned(tmp_path):
    base = clustered(300, 8, seed=8)
    user_ids = np.arange(300) * 7 + 10**12
    write_parquet(tmp_path / "b.parquet", base, ids=user_ids)
    train(str(tmp_path / "b.parquet"), str(tmp_path / "m.vti"), "IVF4,Flat")
    add(str(tmp_path / "m.vti"), [str(tmp_path / "b.parquet")], str(tmp_path / "i.vti"), id_column="id")
    _, ids = load_index(str(tmp_path / "i.vti")).search(base[:10], 1, nprobe=4)
    np.testing.assert_array_equal(ids[:, 0], user_ids[:10])


def test_batch_size_does_not_change_the_index_bytes(tmp_path):
    base = clustered(1000, 8, seed=9)
    np.save(tmp_path / "b.npy", base)
    train(str(tmp_path / "b.npy"), str(tmp_path / "m.vti"), "IVF8,Flat", seed=3)
    add(str(tmp_path / "m.vti"), [str(tmp_path / "b.npy")], str(tmp_path / "a.vti"), batch_size=7)
    add(str(tmp_path / "m.vti"), [str(tmp_path / "b.npy")], str(tmp_path / "b.vti"), batch_size=100000)
    assert (tmp_path / "a.vti").read_bytes() == (tmp_path / "b.vti").read_bytes()


def test_same_seed_gives_identical_model_bytes(tmp_path):
    base = clustered(2000, 8, seed=10)
    np.save(tmp_path / "b.npy", base)
    for name in ("a", "b"):
        train(str(tmp_path / "b.npy"), str(tmp_path / f"{name}.vti"), "IVF16,Flat", seed=42, max_train=800)
    assert (tmp_path / "a.vti").read_bytes() == (tmp_path / "b.vti").read_bytes()
    train(str(tmp_path / "b.npy"), str(tmp_path / "c.vti"), "IVF16,Flat", seed=43, max_train=800)
    assert (tmp_path / "a.vti").read_bytes() != (tmp_path / "c.vti").read_bytes()


def test_training_sample_is_random_not_the_first_rows(tmp_path):
    noise = np.random.default_rng(0).normal(size=(2000, 4)) * 0.01
    base = (np.concatenate([np.zeros((1000, 4)), np.full((1000, 4), 100.0)]) + noise).astype(np.float32)
    np.save(tmp_path / "b.npy", base)
    train(str(tmp_path / "b.npy"), str(tmp_path / "m.vti"), "IVF2,Flat", max_train=100)
    c = np.sort(load_index(str(tmp_path / "m.vti")).centroids[:, 0])
    np.testing.assert_allclose(c, [0.0, 100.0], atol=0.01)


def test_adding_to_an_index_equals_adding_everything_at_once(tmp_path):
    base, queries = clustered(2000, 8, seed=11), clustered(30, 8, seed=12)
    np.save(tmp_path / "all.npy", base)
    np.save(tmp_path / "p1.npy", base[:1200])
    np.save(tmp_path / "p2.npy", base[1200:])
    train(str(tmp_path / "all.npy"), str(tmp_path / "m.vti"), "IVF8,Flat")
    add(str(tmp_path / "m.vti"), [str(tmp_path / "all.npy")], str(tmp_path / "once.vti"))
    add(str(tmp_path / "m.vti"), [str(tmp_path / "p1.npy"), str(tmp_path / "p2.npy")], str(tmp_path / "multi.vti"))
    add(str(tmp_path / "m.vti"), [str(tmp_path / "p1.npy")], str(tmp_path / "half.vti"))
    add(str(tmp_path / "half.vti"), [str(tmp_path / "p2.npy")], str(tmp_path / "twice.vti"))
    once, multi = load_index(str(tmp_path / "once.vti")), load_index(str(tmp_path / "multi.vti"))
    for section in ("list_offsets", "codes", "ids"):  # headers differ only in provenance (file names)
        np.testing.assert_array_equal(getattr(once, section), getattr(multi, section))
    want = load_index(str(tmp_path / "once.vti")).search(queries, 10, nprobe=3)
    got = load_index(str(tmp_path / "twice.vti")).search(queries, 10, nprobe=3)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_duplicate_and_negative_ids_are_refused(tmp_path):
    base = clustered(50, 4, seed=13)
    write_parquet(tmp_path / "dup.parquet", base, ids=[1, 2, 3] + list(range(3, 50)))
    write_parquet(tmp_path / "neg.parquet", base, ids=[-5] + list(range(1, 50)))
    train(str(tmp_path / "dup.parquet"), str(tmp_path / "m.vti"), "IVF2,Flat")
    with pytest.raises(VtoolError, match="duplicate id 3"):
        add(str(tmp_path / "m.vti"), [str(tmp_path / "dup.parquet")], str(tmp_path / "i.vti"), id_column="id")
    with pytest.raises(VtoolError, match="negative id -5"):
        add(str(tmp_path / "m.vti"), [str(tmp_path / "neg.parquet")], str(tmp_path / "i.vti"), id_column="id")
    assert not (tmp_path / "i.vti").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.parquet", "m.vti", "neg.parquet"]


def test_exact_knn_blocks_match_brute_force_on_ties():
    rng = np.random.default_rng(14)
    base = rng.integers(0, 3, size=(9000, 6)).astype(np.float32)  # many exact ties
    queries = rng.integers(0, 3, size=(20, 6)).astype(np.float32)
    dist, ids = knn(queries, base, 15)
    want_d, want_i = brute_force(queries, base, 15, "l2")
    np.testing.assert_array_equal(dist, want_d)
    np.testing.assert_array_equal(ids, want_i)


def faiss_or_skip():
    return pytest.importorskip("faiss", reason="faiss-cpu is the recall oracle")


def test_glove_ivf256_recall_is_not_below_faiss(tmp_path):
    faiss = faiss_or_skip()
    data = shared_dataset("glove-50-l2")
    base = np.load(data / "base.npy")
    queries = np.load(data / "queries.npy")[:2000]
    gt = np.load(data / "gt.npy")[:2000, :10]
    train(str(data / "base.npy"), str(tmp_path / "m.vti"), "IVF256,Flat", seed=0)
    add(str(tmp_path / "m.vti"), [str(data / "base.npy")], str(tmp_path / "i.vti"))
    index = load_index(str(tmp_path / "i.vti"))
    fi = faiss.IndexIVFFlat(faiss.IndexFlatL2(50), 50, 256)
    fi.train(base[np.random.default_rng(0).choice(len(base), 256 * 256, replace=False)])
    fi.add(base)

    def recall(ids):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, gt)])

    for nprobe in (1, 4, 16):
        fi.nprobe = nprobe
        ours = recall(index.search(queries, 10, nprobe)[1])
        theirs = recall(fi.search(queries, 10)[1])
        assert ours >= theirs - 0.02, (nprobe, ours, theirs)


def test_mnist_bytes_in_sq8_direct_search_exactly(cli, tmp_path):
    """MNIST's uint8 pixels kept as bytes (d bytes a vector, not 4·d): the ground truth's ids
    and its exact integer distances come back, from a .u8bin read batch by batch."""
    path = shared_dataset("mnist-test-784-u8")
    base, q = np.load(path / "base.npy"), np.load(path / "queries.npy")[:100]
    (tmp_path / "b.u8bin").write_bytes(np.array(base.shape, "<u4").tobytes() + base.tobytes())
    np.save(tmp_path / "q.npy", q)
    for args in (["train", tmp_path / "b.u8bin", "--index", "SQ8_direct", "-o", tmp_path / "m.vti"],
                 ["add", tmp_path / "m.vti", tmp_path / "b.u8bin", "-o", tmp_path / "i.vti"],
                 ["search", tmp_path / "i.vti", tmp_path / "q.npy", "-k", 10, "-o", tmp_path / "r.npz"]):
        assert cli(*args).code == 0, args
    r = np.load(tmp_path / "r.npz")
    want = ((q[:, None].astype(np.int64) - base[r["ids"]].astype(np.int64)) ** 2).sum(-1)
    np.testing.assert_array_equal(r["distances"].astype(np.int64), want)
    np.testing.assert_array_equal(r["distances"], np.load(path / "gt_dist.npy")[:100, :10])
    assert load_index(str(tmp_path / "i.vti")).store.codes.nbytes == base.nbytes
