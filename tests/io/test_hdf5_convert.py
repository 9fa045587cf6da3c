"""ann-benchmarks HDF5 end to end (metric and ground truth from the file) and `vtool convert`
round trips, bit for bit between formats of one dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered

h5py = pytest.importorskip("h5py")


def test_an_ann_benchmarks_file_goes_through_the_pipeline(tmp_path, cli):
    x, q = clustered(2000, 24, seed=51) + 3, clustered(50, 24, seed=52) + 3
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sims = unit(q) @ unit(x).T
    neighbors = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    with h5py.File(tmp_path / "data.hdf5", "w") as f:
        f.create_dataset("train", data=x)
        f.create_dataset("test", data=q)
        f.create_dataset("neighbors", data=neighbors.astype(np.int32))
        f.create_dataset("distances", data=1 - np.take_along_axis(sims, neighbors, 1))
        f.attrs["distance"] = "angular"
    r = cli("train", tmp_path / "data.hdf5", "--index", "IVF8,Flat", "-o", tmp_path / "m.vti", "--json")
    assert r.code == 0 and json.loads(r.out)["metric"] == "cosine" and "from the file" in json.loads(r.out)["metric_note"]
    assert cli("add", tmp_path / "m.vti", tmp_path / "data.hdf5", "-o", tmp_path / "i.vti").code == 0
    assert json.loads(cli("info", tmp_path / "i.vti", "--json").out)["metric"] == "cosine"
    assert cli("search", tmp_path / "i.vti", tmp_path / "data.hdf5", "-k", 10, "--nprobe", 8,
               "-o", tmp_path / "r.npz").code == 0  # the queries: dataset test
    r = cli("eval", tmp_path / "r.npz", "--gt", tmp_path / "data.hdf5", "--json")
    assert r.code == 0 and json.loads(r.out)["k-recall@k"] >= 0.99
    r = cli("gt", tmp_path / "data.hdf5", tmp_path / "data.hdf5", "-k", 10, "-o", tmp_path / "g.npz", "--json")
    assert r.code == 0 and json.loads(r.out)["metric"] == "cosine"
    np.testing.assert_array_equal(np.load(tmp_path / "g.npz")["ids"], neighbors)
    r = cli("search", tmp_path / "i.vti", tmp_path / "data.hdf5", "--column", "nope", "-o", tmp_path / "x.npz")
    assert_refused(r, "no dataset 'nope'")


@pytest.mark.parametrize("dtype, chain", [
    (np.float32, ["npy", "fvecs", "fbin", "parquet", "hdf5", "npy"]),
    (np.uint8, ["bvecs", "u8bin", "npy", "parquet", "hdf5", "bvecs"]),
    (np.int8, ["i8bin", "npy", "hdf5", "parquet", "i8bin"]),
])
def test_convert_round_trips_bit_for_bit(tmp_path, cli, dtype, chain):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(777, 13)) * 50).astype(dtype) if dtype != np.float32 else rng.normal(size=(777, 13)).astype(dtype)
    np.save(tmp_path / "src.npy", x)
    assert cli("convert", tmp_path / "src.npy", "-o", tmp_path / f"0.{chain[0]}").code == 0
    for i, (a, b) in enumerate(zip(chain, chain[1:])):
        r = cli("convert", tmp_path / f"{i}.{a}", "-o", tmp_path / f"{i + 1}.{b}", "--batch-size", 100)
        assert r.code == 0, r
    assert (tmp_path / f"0.{chain[0]}").read_bytes() == (tmp_path / f"{len(chain) - 1}.{chain[-1]}").read_bytes()
    last = {"npy": lambda p: np.load(p)}.get(chain[-1])
    if last:
        np.testing.assert_array_equal(last(tmp_path / f"{len(chain) - 1}.{chain[-1]}"), x)


def test_convert_refuses_to_change_values_and_hdf5_needs_h5py(tmp_path, cli, monkeypatch):
    np.save(tmp_path / "f.npy", np.ones((4, 3), np.float32))
    assert_refused(cli("convert", tmp_path / "f.npy", "-o", tmp_path / "f.bvecs"), "holds uint8; the input is float32")
    assert not (tmp_path / "f.bvecs").exists()
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)
    assert_refused(cli("convert", tmp_path / "f.npy", "-o", tmp_path / "f.hdf5"),
                   r"HDF5 files need h5py: pip install 'vtool\[hdf5\]'")
