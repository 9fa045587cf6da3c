"""fsspec URLs as inputs (memory:// here): vector files read in ranges where they lie (npy, bin,
vecs, parquet row groups, HDF5), other inputs downloaded to a temp copy; file:// is a local
path; outputs stay local; a missing file, or fsspec itself, is one line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered
from tests.io.writers import write_parquet
from vtool.io import inputs
from vtool.io.vectors import open_vectors

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memfs(tmp_path):
    fs = fsspec.filesystem("memory")
    root = f"/vt-{tmp_path.name}"
    yield lambda name, data: fs.pipe(f"{root}/{name}", data) or f"memory://{root}/{name}"
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _files(tmp_path, x):
    n, d = x.shape
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "x.fbin").write_bytes(np.array([n, d], "<u4").tobytes() + x.tobytes())
    rows = np.empty(n, np.dtype([("d", "<i4"), ("v", "<f4", (d,))]))
    rows["d"], rows["v"] = d, x
    (tmp_path / "x.fvecs").write_bytes(rows.tobytes())
    write_parquet(tmp_path / "x.parquet", x)  # in 3 row groups
    try:
        import h5py
    except ImportError:
        return ["npy", "fbin", "fvecs", "parquet"]
    with h5py.File(tmp_path / "x.hdf5", "w") as f:
        f.create_dataset("train", data=x)
    return ["npy", "fbin", "fvecs", "parquet", "hdf5"]


def test_vector_files_read_in_ranges_like_local_files(memfs, tmp_path):
    x = clustered(1000, 12, seed=3)
    for suffix in _files(tmp_path, x):
        url = memfs(f"x.{suffix}", (tmp_path / f"x.{suffix}").read_bytes())
        vf = open_vectors(url)
        assert (vf.n, vf.d) == x.shape and vf.path == url
        got = np.concatenate([b for _, b, _ in vf.batches(256)])
        np.testing.assert_array_equal(got, x)
        np.testing.assert_array_equal(np.concatenate([b for _, b, _ in vf.rows_between(300, 700).batches(128)]),
                                      x[300:700])
        if vf.has_random_access:
            rows = np.array([[5, 6, 999], [0, 500, 501]])
            np.testing.assert_array_equal(vf.random_access()[rows], x[rows])
        assert url not in inputs._copies  # read where it lies, not downloaded
    bad = memfs("bad.fbin", np.array([1000, 12], "<u4").tobytes() + x[:10].tobytes())
    with pytest.raises(Exception, match="truncated: header says 1000 x 12"):
        open_vectors(bad)


def test_a_pipeline_from_urls(memfs, tmp_path, cli):
    x, q = clustered(3000, 16, seed=1), clustered(40, 16, seed=2)
    np.save(tmp_path / "b.npy", x)
    np.save(tmp_path / "q.npy", q)
    base = memfs("b.npy", (tmp_path / "b.npy").read_bytes())
    queries = memfs("q.npy", (tmp_path / "q.npy").read_bytes())
    assert cli("gt", tmp_path / "b.npy", tmp_path / "q.npy", "-k", 10, "-o", tmp_path / "gt.ibin").code == 0
    gt = memfs("gt.ibin", (tmp_path / "gt.ibin").read_bytes())
    for args in (["train", base, "--index", "IVF8,Flat", "-o", tmp_path / "m.vti"],
                 ["add", tmp_path / "m.vti", base, "-o", tmp_path / "i.vti"],
                 ["search", tmp_path / "i.vti", queries, "-k", 10, "--nprobe", 8, "-o", tmp_path / "r.npz"],
                 ["gt", base, queries, "-k", 10, "-o", tmp_path / "gt2.ibin"]):
        assert cli(*args).code == 0, args
    assert (tmp_path / "gt2.ibin").read_bytes() == (tmp_path / "gt.ibin").read_bytes()
    r = cli("eval", tmp_path / "r.npz", "--gt", gt, "--json")  # ground truth: downloaded
    assert r.code == 0 and json.loads(r.out)["k-recall@k"] == 1.0
    local = tmp_path / "local.vti"
    assert cli("add", tmp_path / "m.vti", f"file://{tmp_path / 'b.npy'}", "-o", local).code == 0
    assert local.read_bytes() == (tmp_path / "i.vti").read_bytes()  # the same provenance too


def test_remote_problems_are_one_line(memfs, tmp_path, cli, monkeypatch):
    url = memfs("x.npy", b"")
    assert_refused(cli("train", "memory:///nowhere/x.npy", "--index", "Flat", "-o", tmp_path / "m.vti"),
                   "memory:///nowhere/x.npy: no such file")
    assert_refused(cli("train", url, "--index", "Flat", "-o", "memory:///out/m.vti"),
                   "outputs are local files")
    monkeypatch.setitem(sys.modules, "fsspec", None)
    assert_refused(cli("train", url, "--index", "Flat", "-o", tmp_path / "m.vti"),
                   r"remote inputs need fsspec: pip install 'vtool\[remote\]'")
