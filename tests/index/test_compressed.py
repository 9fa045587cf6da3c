"""Indexes over compressed codes: recall against faiss-cpu, consistency of every encoding."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import clustered, shared_dataset
from vtool.commands.build import add, train
from vtool.index.index import load_index
from vtool.commands.encode import encode

SPECS = ["IVF16,PQ4", "IVF16,PQ4x6", "IVF16,PQ4np", "IVF16,PQ4x4fs", "IVF16,PQ4x4fs,RFlat", "IVF16,SQ8",
         "IVF16,SQfp16", "IVF16,RQ3x6", "PQ4", "PQ4x4fs", "SQ8", "RQ2x5", "OPQ4,IVF16,PQ4", "OPQ4_8,PQ4",
         "IVF16,SQ4", "SQ4", "IVF16,SQbf16", "SQbf16"]


def build(tmp_path, spec, base, metric="l2", **kw):
    np.save(tmp_path / "base.npy", base)
    train(str(tmp_path / "base.npy"), str(tmp_path / "m.vti"), spec, metric=metric, seed=1, **kw)
    add(str(tmp_path / "m.vti"), [str(tmp_path / "base.npy")], str(tmp_path / "i.vti"))
    return load_index(str(tmp_path / "i.vti"))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_every_encoding_finds_the_nearest_reconstructions(tmp_path, spec, metric):
    """Probing every list, a search returns the nearest vectors as the codes represent them
    (exactly for table-based encodings, nearly for 8-bit fast-scan tables; RFlat by the
    raw vectors)."""
    base, queries = clustered(3000, 16, seed=1), clustered(40, 16, seed=2)
    index = build(tmp_path, spec, base, metric)
    dist, ids = index.search(queries, 10, nprobe=16, k_factor=10)
    recon = np.empty_like(base)
    recon[index.ids] = index.reconstruct(np.arange(index.ntotal))
    target = base if index.spec.refine else recon
    exact = ((queries[:, None] - target[None]) ** 2).sum(-1) if metric == "l2" else -(queries @ target.T)
    kth = np.sort(exact, axis=1)[:, 9:10]
    got = np.take_along_axis(exact, ids, 1)
    scale = 1e-3 * (1 + np.abs(kth))
    found = np.mean(got <= kth + scale)  # share of results among the true 10 nearest (ties count)
    if index.spec.refine:  # the shortlist comes from 4-bit codes, the order from raw vectors
        assert found >= 0.85, found
    elif "x4fs" in spec:  # 8-bit tables: approximate distances (coarser without IVF residuals)
        assert found >= (0.8 if index.spec.nlist else 0.5), found
    else:
        assert found == 1.0, found
        if index.spec.vector_dim(index.d) == index.d:  # a projection to fewer dimensions drops |q_perp|^2
            np.testing.assert_allclose(dist if metric == "l2" else -dist, got, rtol=1e-3, atol=1e-2)
    assert (np.diff(dist, axis=1) >= -1e-6).all() if metric == "l2" else (np.diff(dist, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("spec", ["IVF16,PQ4", "IVF16,PQ4x4fs", "IVF16,SQ8", "IVF16,RQ3x6", "OPQ4,IVF16,PQ4"])
def test_adding_encoded_codes_equals_adding_vectors(tmp_path, spec):
    base = clustered(2000, 16, seed=3)
    index = build(tmp_path, spec, base)
    encode(str(tmp_path / "m.vti"), str(tmp_path / "base.npy"), str(tmp_path / "c.parquet"))
    add(str(tmp_path / "m.vti"), [str(tmp_path / "c.parquet")], str(tmp_path / "from_codes.vti"))
    other = load_index(str(tmp_path / "from_codes.vti"))
    for name in ("list_offsets", "codes", "ids"):
        np.testing.assert_array_equal(getattr(other, name), getattr(index, name))


def test_refine_returns_exact_distances(tmp_path):
    base, queries = clustered(3000, 16, seed=4), clustered(30, 16, seed=5)
    index = build(tmp_path, "IVF8,PQ4x4fs,RFlat", base)
    dist, ids = index.search(queries, 5, nprobe=8, k_factor=8)
    exact = ((queries[:, None] - base[ids]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-4)


def test_refine_from_a_vector_file_matches_rflat(tmp_path):
    base, queries = clustered(3000, 16, seed=6), clustered(30, 16, seed=7)
    rflat = build(tmp_path, "IVF8,PQ4x4fs,RFlat", base)
    want = rflat.search(queries, 5, nprobe=8)
    (tmp_path / "i.vti").rename(tmp_path / "rflat.vti")
    plain = build(tmp_path, "IVF8,PQ4x4fs", base)
    got = plain.search(queries, 5, nprobe=8, refine_vectors=np.load(tmp_path / "base.npy", mmap_mode="r"))
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)


def test_adding_to_a_fast_scan_index_keeps_every_code(tmp_path):
    base, queries = clustered(2000, 16, seed=8), clustered(20, 16, seed=9)
    np.save(tmp_path / "a.npy", base[:1100])
    np.save(tmp_path / "b.npy", base[1100:])
    np.save(tmp_path / "all.npy", base)
    train(str(tmp_path / "all.npy"), str(tmp_path / "m.vti"), "IVF8,PQ4x4fs")
    add(str(tmp_path / "m.vti"), [str(tmp_path / "all.npy")], str(tmp_path / "once.vti"))
    add(str(tmp_path / "m.vti"), [str(tmp_path / "a.npy")], str(tmp_path / "half.vti"))
    add(str(tmp_path / "half.vti"), [str(tmp_path / "b.npy")], str(tmp_path / "twice.vti"))
    once, twice = load_index(str(tmp_path / "once.vti")), load_index(str(tmp_path / "twice.vti"))
    np.testing.assert_array_equal(once.reconstruct(np.arange(2000))[np.argsort(once.ids)],
                                  twice.reconstruct(np.arange(2000))[np.argsort(twice.ids)])
    np.testing.assert_array_equal(once.search(queries, 5, 8)[1], twice.search(queries, 5, 8)[1])


GLOVE_SPECS = ["IVF256,PQ10", "IVF256,SQ8", "IVF256,SQfp16", "IVF256,PQ10x4fs"]


@pytest.mark.parametrize("spec", GLOVE_SPECS)
def test_glove_recall_within_002_of_faiss(tmp_path, spec):
    for nprobe, a, b in recalls_against_faiss(tmp_path, "glove-50-l2", spec, 2000):
        assert a >= b - 0.02, (spec, nprobe, a, b)


def recalls_against_faiss(tmp_path, name: str, spec: str, n_queries: int):
    """(nprobe, vtool recall@10, faiss recall@10) at nprobe 1/4/16, both trained on 65536 rows."""
    faiss = pytest.importorskip("faiss", reason="faiss-cpu is the recall oracle")
    data = shared_dataset(name)
    base = np.load(data / "base.npy")
    queries = np.load(data / "queries.npy")[:n_queries]
    gt = np.load(data / "gt.npy")[:n_queries, :10]
    train(str(data / "base.npy"), str(tmp_path / "m.vti"), spec, seed=0)
    add(str(tmp_path / "m.vti"), [str(data / "base.npy")], str(tmp_path / "i.vti"))
    ours = load_index(str(tmp_path / "i.vti"))
    theirs = faiss.index_factory(base.shape[1], spec)
    theirs.train(base[np.random.default_rng(0).choice(len(base), min(len(base), 65536), replace=False)])
    theirs.add(base)

    def recall(ids):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, gt)])

    for nprobe in (1, 4, 16):
        faiss.extract_index_ivf(theirs).nprobe = nprobe
        yield nprobe, recall(ours.search(queries, 10, nprobe)[1]), recall(theirs.search(queries, 10)[1])


@pytest.mark.parametrize("name", ["glove-50-l2", "minilm-wordnet-384", "spacy-fr-300-l2"])
@pytest.mark.parametrize("encoding", ["SQ4", "SQbf16"])
def test_sq4_and_bf16_recall_within_002_of_faiss(tmp_path, name, encoding):
    """IVF256 over the new scalar quantizers: recall@10 at nprobe 1/4/16 against faiss-cpu's
    own IVF256,SQ4 / SQbf16 (same training sample size)."""
    spec = f"IVF256,{encoding}"
    for nprobe, a, b in recalls_against_faiss(tmp_path, name, spec, 1000):
        assert a >= b - 0.02, (spec, nprobe, a, b)
