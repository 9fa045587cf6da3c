"""The Python API: train, add, search, range_search, save and load in memory, with the same
results as the file commands."""

from __future__ import annotations

import numpy as np
import pytest

import vtool
from tests.conftest import clustered
from vtool.commands.build import add as add_files
from vtool.commands.build import train as train_file


@pytest.fixture
def data():
    return clustered(3000, 16, seed=11), clustered(40, 16, seed=12)


def test_train_add_search_save_load_round_trip(tmp_path, data):
    base, queries = data
    index = vtool.train(base, "IVF16,PQ4", seed=0)
    assert index.ntotal == 0 and index.is_trained
    index.add(base)
    dist, ids = index.search(queries, k=10, nprobe=4)
    assert ids.shape == (40, 10) and (ids >= 0).all()
    index.save(str(tmp_path / "i.vti"))
    again = vtool.load(str(tmp_path / "i.vti"))
    d2, i2 = again.search(queries, k=10, nprobe=4)
    np.testing.assert_array_equal(i2, ids)
    np.testing.assert_array_equal(d2, dist)


@pytest.mark.parametrize("spec", ["IVF16,PQ4", "OPQ4,IVF16,SQ8", "IVF16,PQ4x4fs,RFlat", "Flat", "IVF8,SQ4"])
def test_in_memory_index_equals_the_file_commands(tmp_path, data, spec):
    base, queries = data
    np.save(tmp_path / "b.npy", base)
    train_file(str(tmp_path / "b.npy"), str(tmp_path / "m.vti"), spec, seed=3)
    add_files(str(tmp_path / "m.vti"), [str(tmp_path / "b.npy")], str(tmp_path / "i.vti"))
    from_files = vtool.load(str(tmp_path / "i.vti"))
    index = vtool.train(base, spec, seed=3)
    assert index.fingerprint() == from_files.header["model_fingerprint"]
    index.add(base)
    for name, a in from_files.arrays().items():
        np.testing.assert_array_equal(index.arrays()[name], a, err_msg=name)
    np.testing.assert_array_equal(index.search(queries, 5, nprobe=8)[1], from_files.search(queries, 5, nprobe=8)[1])


def test_custom_ids_and_adding_twice(data):
    base, queries = data
    ids = np.arange(len(base), dtype=np.int64) * 7 + 1000
    once = vtool.train(base, "IVF8,SQ8", seed=0)
    once.add(base, ids=ids)
    twice = vtool.train(base, "IVF8,SQ8", seed=0)
    twice.add(base[:1000], ids=ids[:1000])
    twice.add(base[1000:], ids=ids[1000:])
    np.testing.assert_array_equal(once.search(queries, 5, nprobe=8)[1], twice.search(queries, 5, nprobe=8)[1])
    assert set(once.search(queries, 5, nprobe=8)[1].ravel()) <= set(ids)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_range_search_on_flat_is_every_vector_within_the_radius(data, metric):
    base, queries = data
    flat = vtool.train(base, "Flat", metric=metric)
    flat.add(base)
    exact = ((queries[:, None] - base[None]) ** 2).sum(-1) if metric == "l2" else queries @ base.T
    radius = float(np.quantile(exact, 0.02 if metric == "l2" else 0.98))
    lims, dist, ids = flat.range_search(queries, radius)
    for q in range(len(queries)):
        got = ids[lims[q]:lims[q + 1]]
        want = np.flatnonzero(exact[q] <= radius) if metric == "l2" else np.flatnonzero(exact[q] >= radius)
        border = np.abs(exact[q] - radius) <= 1e-4 * (1 + abs(radius))
        assert set(got) ^ set(want) <= set(np.flatnonzero(border))
        np.testing.assert_allclose(dist[lims[q]:lims[q + 1]], exact[q, got], rtol=1e-5, atol=1e-4)
        d = dist[lims[q]:lims[q + 1]]
        assert np.all(np.diff(d) >= 0) if metric == "l2" else np.all(np.diff(d) <= 0)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("encoding", ["Flat", "PQ4np"])
def test_range_search_probing_every_list_equals_the_one_list_index(data, metric, encoding):
    base, queries = data
    one = vtool.train(base, encoding, metric=metric, seed=0)
    ivf = vtool.train(base, f"IVF8,{encoding}", metric=metric, seed=0)
    ivf.encoding.load(one.encoding.arrays())  # the same codes in both (PQ without residual)
    one.add(base)
    ivf.add(base)
    radius = float(np.quantile(one.search(queries, 50)[0], 0.5))
    lims, dist, ids = one.range_search(queries, radius)
    lims2, dist2, ids2 = ivf.range_search(queries, radius, nprobe=8)
    np.testing.assert_array_equal(lims2, lims)
    assert lims[-1] > len(queries)
    for q in range(len(queries)):
        assert sorted(ids2[lims[q]:lims[q + 1]]) == sorted(ids[lims[q]:lims[q + 1]])
    np.testing.assert_allclose(dist2, dist, rtol=1e-5, atol=1e-4)


def test_range_search_with_rflat_uses_exact_distances_and_compressed_ids_change_nothing(tmp_path, data):
    base, queries = data
    index = vtool.train(base, "IVF8,PQ4x4fs,RFlat", seed=0)
    index.add(base)
    radius = float(np.quantile(((queries[:, None] - base[None]) ** 2).sum(-1), 0.01))
    lims, dist, ids = index.range_search(queries, radius, nprobe=8)
    exact = ((queries[np.repeat(np.arange(len(queries)), np.diff(lims))] - base[ids]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-4)
    assert (dist <= radius).all()
    index.save(str(tmp_path / "i.vti"))
    from vtool.commands.compress import compress_ids

    compress_ids(str(tmp_path / "i.vti"), str(tmp_path / "c.vti"), method="ef")
    small = vtool.load(str(tmp_path / "c.vti"))
    l2, d2, i2 = small.range_search(queries, radius, nprobe=8)
    np.testing.assert_array_equal(l2, lims)
    for q in range(len(queries)):  # same set; rows of equal distance may come in another order
        assert sorted(i2[l2[q]:l2[q + 1]]) == sorted(ids[lims[q]:lims[q + 1]])
    np.testing.assert_allclose(d2, dist, rtol=1e-6)


@pytest.mark.parametrize("call,message", [
    (lambda ix, x: ix.add(x[:, :8]), "dimension"),
    (lambda ix, x: ix.add(x[:2], ids=np.array([-1, 3])), "negative id"),
    (lambda ix, x: ix.add(x[:2], ids=np.array([5, 5])), "duplicate id 5"),
    (lambda ix, x: ix.search(x[:2, :4], 1), "dimension"),
    (lambda ix, x: ix.range_search(x[:2], float("nan")), "radius"),
    (lambda ix, x: ix.range_search(x[:2], -1.0), "radius"),
])
def test_bad_calls_raise_one_clear_error(data, call, message):
    base, _ = data
    index = vtool.train(base, "IVF8,SQ8", seed=0)
    index.add(base[:100])
    with pytest.raises(vtool.VtoolError, match=message):
        call(index, base)


def test_add_to_an_untrained_index_is_refused(data):
    base, _ = data
    index = vtool.Index(vtool.index.spec.parse_spec("IVF8,PQ4"), 16, "l2")
    with pytest.raises(vtool.VtoolError, match="not trained"):
        index.add(base)
