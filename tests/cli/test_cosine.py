"""--metric cosine: inner product over vectors scaled to unit length on the way in, for every
command and the Python API; a zero vector is refused, named."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import vtool
from tests.conftest import assert_refused, clustered


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("spec", ["Flat", "IVF8,Flat", "IVF8,SQ8,RFlat", "HNSW8,Flat"])
def test_cosine_search_equals_inner_product_of_unit_vectors(tmp_path, cli, spec):
    rng = np.random.default_rng(1)
    x = clustered(1200, 16, seed=5) * rng.uniform(0.1, 50, size=(1200, 1)).astype(np.float32)  # norms vary
    q = clustered(25, 16, seed=6) * 7
    np.save(tmp_path / "b.npy", x)
    np.save(tmp_path / "q.npy", q)
    for args in (["train", tmp_path / "b.npy", "--index", spec, "--metric", "cosine", "-o", tmp_path / "m.vti"],
                 ["add", tmp_path / "m.vti", tmp_path / "b.npy", "-o", tmp_path / "i.vti"],
                 ["search", tmp_path / "i.vti", tmp_path / "q.npy", "-k", 10, "-o", tmp_path / "r.npz",
                  *(["--ef", 1200] if "HNSW" in spec else ["--nprobe", 8] if "IVF" in spec else [])],
                 ["gt", tmp_path / "b.npy", tmp_path / "q.npy", "-k", 10, "--metric", "cosine", "-o", tmp_path / "g.npz"]):
        r = cli(*args)
        assert r.code == 0, r
    sims = unit(q) @ unit(x).T
    want = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    got, gt = np.load(tmp_path / "r.npz"), np.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(gt["ids"], want)
    np.testing.assert_allclose(gt["distances"], np.take_along_axis(sims, want, 1), atol=1e-5)
    exact = spec in ("Flat", "IVF8,Flat", "HNSW8,Flat") or "RFlat" in spec
    if exact:
        assert (got["ids"] == want).mean() >= 0.99
        np.testing.assert_allclose(got["distances"], np.take_along_axis(sims, got["ids"], 1), atol=1e-5)
    assert json.loads(cli("info", tmp_path / "i.vti", "--json").out)["metric"] == "cosine"
    report = json.loads(cli("eval", tmp_path / "r.npz", "--base", tmp_path / "b.npy", "--queries",
                            tmp_path / "q.npy", "--metric", "cosine", "--json").out)
    assert report["k-recall@k"] >= (0.99 if exact else 0.8)


def test_cosine_in_the_python_api_and_a_zero_vector(tmp_path, cli):
    x = clustered(500, 8, seed=9)
    index = vtool.train(x, "IVF4,Flat", metric="cosine")
    index.add(x * 3)  # scale does not matter
    d, i = index.search(x[:5] * 0.5, 1, nprobe=4)
    assert (i[:, 0] == np.arange(5)).all() and np.allclose(d[:, 0], 1.0, atol=1e-5)
    with pytest.raises(vtool.VtoolError, match="row 1 has norm 0"):
        index.search(np.stack([x[0], np.zeros(8, np.float32)]), 1)
    x[7] = 0
    np.save(tmp_path / "z.npy", x)
    index.save(str(tmp_path / "m.vti"))
    assert_refused(cli("add", tmp_path / "m.vti", tmp_path / "z.npy", "-o", tmp_path / "o.vti"),
                   re.escape(f"{tmp_path / 'z.npy'}: row 7 has norm 0 (metric cosine needs non-zero vectors)"))
    assert_refused(cli("gt", tmp_path / "z.npy", tmp_path / "z.npy", "--metric", "cosine", "-o", tmp_path / "g.npz"),
                   "row 7 has norm 0")
    assert not (tmp_path / "o.vti").exists()
